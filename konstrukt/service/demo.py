"""``konstrukt serve --demo``: a demo account with a small real project that trains offline."""
from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import select

from .db import Job, Label, Project, Sample, User
from .blobs import is_local, keep_sample, sample_key, snapshot_job
from .security import hash_password
from .settings import Settings
from .storage import file_digest, remove_tree

DEMO_EMAIL = "demo@konstrukt.local"
DEMO_PASSWORD = "konstrukt-demo"


def load_demo(sessions, settings: Settings, per_class: int = 15) -> None:
    """Create the demo user and the digits project, with a first run queued, once (idempotent)."""
    from konstrukt.demo import write_digits

    with sessions() as db:
        if db.scalar(select(User).where(User.email == DEMO_EMAIL)):
            return
        user = User(email=DEMO_EMAIL, password_hash=hash_password(DEMO_PASSWORD, settings.bcrypt_rounds))
        db.add(user)
        db.flush()
        project = Project(user_id=user.id, name="Handwritten digits (demo)", task="image")
        db.add(project)
        db.flush()
        with tempfile.TemporaryDirectory() as tmp:
            write_digits(Path(tmp), per_class=per_class)
            for folder in sorted((p for p in Path(tmp).iterdir() if p.is_dir()), key=_digit_order):
                _add_class(db, settings, project, folder)
        db.commit()
        db.refresh(project)
        # A first run with the offline recipe, so results are there to look at right away.
        job = Job(project_id=project.id, pipeline="scratch_cnn", status="queued",
                  config={"image_size": 32, "num_epochs": 15})  # the digits are 32 px
        db.add(job)
        db.flush()
        checked = snapshot_job(settings, project, job)
        if not is_local(settings):  # a scratch copy; the worker fetches by the manifest
            remove_tree(checked)
        db.commit()


def _digit_order(folder: Path) -> tuple[int, str]:
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    return (names.index(folder.name) if folder.name in names else len(names), folder.name)


def _add_class(db, settings: Settings, project: Project, folder: Path) -> None:
    label = Label(project_id=project.id, name=folder.name)
    db.add(label)
    db.flush()
    for path in sorted(folder.iterdir()):
        sample = Sample(class_id=label.id, filename=path.name, stored_name="", size=path.stat().st_size,
                        digest=file_digest(path))
        db.add(sample)
        db.flush()
        sample.stored_name = f"{sample.id}{path.suffix.lower()}"
        keep_sample(settings, sample_key(project.id, label.id, sample.stored_name), path, sample.digest)
