"""``konstrukt serve --demo``: a demo account with a small real project that trains offline."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sqlalchemy import select

from .db import Label, Project, Sample, User
from .security import hash_password
from .settings import Settings
from .storage import class_dir

DEMO_EMAIL = "demo@konstrukt.local"
DEMO_PASSWORD = "konstrukt-demo"


def load_demo(sessions, settings: Settings, per_class: int = 15) -> None:
    """Create the demo user and the digits project once (idempotent)."""
    from konstrukt.demo import write_digits

    with sessions() as db:
        if db.scalar(select(User).where(User.email == DEMO_EMAIL)):
            return
        user = User(email=DEMO_EMAIL, password_hash=hash_password(DEMO_PASSWORD))
        db.add(user)
        db.flush()
        project = Project(user_id=user.id, name="Handwritten digits (demo)", task="image")
        db.add(project)
        db.flush()
        with tempfile.TemporaryDirectory() as tmp:
            write_digits(Path(tmp), per_class=per_class)
            for folder in sorted(p for p in Path(tmp).iterdir() if p.is_dir()):
                _add_class(db, settings, project, folder)
        db.commit()


def _add_class(db, settings: Settings, project: Project, folder: Path) -> None:
    label = Label(project_id=project.id, name=folder.name)
    db.add(label)
    db.flush()
    dest = class_dir(settings.data_dir, project.id, label.id)
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.iterdir()):
        sample = Sample(class_id=label.id, filename=path.name, stored_name="", size=path.stat().st_size)
        db.add(sample)
        db.flush()
        sample.stored_name = f"{sample.id}{path.suffix.lower()}"
        shutil.copyfile(path, dest / sample.stored_name)
