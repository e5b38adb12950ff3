"""Users, sessions, CSRF and API tokens."""
from __future__ import annotations

from service_helpers import Api, new_client

from konstrukt.service.db import User


def test_signup_login_logout(app, client):
    r = client.post("/api/auth/signup", json={"email": "Ann@Example.com", "password": "long enough"})
    assert r.status_code == 201
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/auth/me").json()["email"] == "ann@example.com"
    with app.state.sessions() as db:  # stored as a bcrypt hash, never in clear
        stored = db.query(User).one().password_hash
    assert stored.startswith("sha256$$2") and "long enough" not in stored  # bcrypt over a SHA-256 pre-hash

    csrf = r.json()["csrf_token"]
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/auth/me").status_code == 401

    assert client.post("/api/auth/login", json={"email": "ann@example.com", "password": "wrong pass"}).status_code == 401
    assert client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "whatever1"}).status_code == 401
    assert client.post("/api/auth/login", json={"email": "ann@example.com", "password": "long enough"}).status_code == 200
    assert client.get("/api/auth/me").status_code == 200


def test_signup_rules(client):
    assert client.post("/api/auth/signup", json={"email": "a@b.c", "password": "short"}).status_code == 422
    assert client.post("/api/auth/signup", json={"email": "not-an-email", "password": "long enough"}).status_code == 422
    assert client.post("/api/auth/signup", json={"email": "a@b.c", "password": "long enough"}).status_code == 201
    again = new_client(client.app).post("/api/auth/signup", json={"email": "A@b.c", "password": "long enough"})
    assert again.status_code == 409


def test_unsafe_requests_need_the_csrf_header(alice):
    c = alice.client
    assert c.post("/api/projects", json={"name": "x", "task": "image"}).status_code == 403
    assert c.post("/api/projects", json={"name": "x", "task": "image"},
                  headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert alice.post("/api/projects", json={"name": "x", "task": "image"}).status_code == 201
    assert c.get("/api/projects").status_code == 200  # safe methods need no token


def test_api_tokens(app, alice):
    r = alice.post("/api/tokens", json={"name": "script"})
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("kt_") and "token" not in alice.get("/api/tokens").json()[0]

    script = new_client(app)  # no cookies: a script
    auth = {"Authorization": f"Bearer {token}"}
    assert script.get("/api/projects").status_code == 401
    assert script.post("/api/projects", json={"name": "s", "task": "image"}, headers=auth).status_code == 201
    assert [p["name"] for p in script.get("/api/projects", headers=auth).json()] == ["s"]
    assert alice.get("/api/tokens").json()[0]["last_used_at"] is not None

    assert alice.delete(f"/api/tokens/{r.json()['id']}").status_code == 204
    assert script.get("/api/projects", headers=auth).status_code == 401
    assert script.get("/api/projects", headers={"Authorization": "Bearer kt_nonsense"}).status_code == 401


def test_pages_need_sign_in(app, client):
    for path in ("/", "/account", "/projects/1", "/jobs/1"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    assert "Sign in" in client.get("/login").text
    Api(client, "pages@example.com")
    page = client.get("/")
    assert page.status_code == 200 and 'name="csrf-token" content="' in page.text
    assert client.get("/docs").status_code == 200
    assert "/api/projects/{project_id}/jobs" in client.get("/openapi.json").json()["paths"]
