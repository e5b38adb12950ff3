"""Sign-up, sign-in, sign-out and API tokens."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy.orm import Session

from ..db import ApiToken, User
from ..deps import JSON, TokenId, current_user, get_db
from ..schemas import Credentials, MeOut, NewCredentials, TokenCreate, TokenCreated, TokenOut
from ..security import (SESSION_COOKIE, _DUMMY_HASH, check_password, hash_password, new_api_token,
                        password_problem)

router = APIRouter(prefix="/api", tags=["users"])


def _sign_in(request: Request, response: Response, user: User) -> MeOut:
    signer = request.app.state.signer
    cookie = signer.dumps(user.id, user.session_version)
    secure = request.app.state.settings.cookie_secure
    response.set_cookie(SESSION_COOKIE, cookie, max_age=signer.max_age, httponly=True,
                        samesite="strict", path="/",
                        secure=secure == "always" or (secure == "auto" and request.url.scheme == "https"))
    return MeOut(id=user.id, email=user.email, created_at=user.created_at,
                 csrf_token=signer.loads(cookie).csrf)


@router.post("/auth/signup", response_model=MeOut, status_code=201, dependencies=[JSON])
def signup(body: NewCredentials, request: Request, response: Response, db: Session = Depends(get_db)):
    """Create an account and sign in. Passwords: at least 10 characters, not a very common one.
    Each address may try a limited number of sign-ups an hour (429 with Retry-After)."""
    email = body.email.lower()
    signups, address = request.app.state.signups, f"address:{_address(request)}"
    signups.check(address, what="sign-ups from this address")
    signups.fail(address)  # every attempt counts: each costs a password hash
    if problem := password_problem(body.password, email):
        raise HTTPException(422, [{"loc": ["body", "password"], "msg": problem, "type": "value_error"}])
    hashed = hash_password(body.password, request.app.state.settings.bcrypt_rounds)  # also when refused: same time
    if db.query(User).filter_by(email=email).first():
        # The same words whether or not this address has an account (a new one signs in at once).
        raise HTTPException(409, "cannot create an account with these details; if you have one, sign in")
    user = User(email=email, password_hash=hashed)
    db.add(user)
    db.commit()
    return _sign_in(request, response, user)


@router.post("/auth/login", response_model=MeOut, dependencies=[JSON])
def login(body: Credentials, request: Request, response: Response, db: Session = Depends(get_db)):
    """Sign in. After 10 wrong passwords in a minute for one account from one address, that address
    gets 429 for that account (Retry-After). Past 10 failures for the account (any address) or for
    the address (any account), wrong passwords get 429 too, but a right one still signs in: nobody
    can lock an account by guessing at its e-mail, nor another person's account behind one address."""
    email, address = body.email.lower(), _address(request)
    pair, account, where = f"pair:{address}:{email}", f"account:{email}", f"address:{address}"
    failures = request.app.state.failed_logins
    failures.check(pair)  # this address has guessed at this account too often: not even checked
    user = db.query(User).filter_by(email=email).first()
    if not check_password(body.password, user.password_hash if user else _DUMMY_HASH) or not user:
        over = failures.wait(account, where)  # (before this failure counts: the 11th is the first 429)
        failures.fail(pair, account, where)
        if over:
            raise HTTPException(429, f"too many failed sign-ins; try again in {over} s",
                                headers={"Retry-After": str(over)})
        raise HTTPException(401, "wrong e-mail or password")
    failures.reset(pair)
    return _sign_in(request, response, user)


def _address(request: Request) -> str:
    return request.client.host if request.client else "?"


@router.post("/auth/logout", status_code=204)
def logout(response: Response, user: User = Depends(current_user), db: Session = Depends(get_db)):
    """Sign out everywhere: every session cookie issued so far stops working."""
    user.session_version += 1
    db.commit()
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/auth/me", response_model=MeOut)
def me(request: Request, user: User = Depends(current_user)):
    return MeOut(id=user.id, email=user.email, created_at=user.created_at,
                 csrf_token=getattr(request.state, "csrf", None))


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(user: User = Depends(current_user), db: Session = Depends(get_db)):
    return db.query(ApiToken).filter_by(user_id=user.id).order_by(ApiToken.id).all()


@router.post("/tokens", response_model=TokenCreated, status_code=201, dependencies=[JSON])
def create_token(body: TokenCreate, user: User = Depends(current_user), db: Session = Depends(get_db)):
    secret, digest = new_api_token()
    row = ApiToken(user_id=user.id, name=body.name, prefix=secret[:8], token_hash=digest)
    db.add(row)
    db.commit()
    return TokenCreated(**TokenOut.model_validate(row).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204)
def delete_token(token_id: TokenId, request: Request, user: User = Depends(current_user),
                 db: Session = Depends(get_db)):
    row = db.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise HTTPException(404, f"token {token_id} not found")
    db.delete(row)
    db.commit()
    request.app.state.access_cache.clear()

