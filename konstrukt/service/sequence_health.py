"""Data health of a sequence project (recordings with their text): the core's checks
(:mod:`konstrukt.sequences.health`) on the stored recordings, each finding's recordings named by
sample id and uploaded name, never a server path. The texts must fit the frame rate of the model
the project's latest training settings build (the defaults before any training)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from ..errors import KonstruktError
from .blobs import sample_key, sample_path
from .db import Project
from .health import PROJECT_CHECKS
from .sequence_uploads import SEQUENCE
from .settings import Settings


def _settings(db: Session, settings: Settings, project: Project):
    """The project's latest training settings as a SequenceConfig (the defaults when none or unusable)."""
    from ..sequences.config import SequenceConfig, build_sequence_config
    from .project_io import project_settings

    try:
        return build_sequence_config(project_settings(db, settings, project), {"task": project.task})
    except KonstruktError:
        return SequenceConfig(task=project.task)


def sequence_project_health(db: Session, project: Project, settings: Settings) -> dict:
    """The core's sequence checks on the project's recordings as they are now, with ``stats``."""
    from ..sequences.health import check_recordings, read_recordings

    rows, items = [], []
    for label in project.classes:
        for s in sorted(label.samples, key=lambda s: s.id):
            path = sample_path(settings, sample_key(project.id, label.id, s.stored_name), s.digest)
            if path is not None:
                rows.append(s)
                items.append((s.filename, path, s.text or "", None, s.digest))
    if not items:
        return {"checked": 0, "ok": True, "counts": {}, "findings": [], "removed_from_evaluation": {}, "stats": None}
    config = _settings(db, settings, project)
    recs, rate = read_recordings(items, project.task, config.sample_rate)
    health = check_recordings(recs, project.task, rate, config)
    for f in health["findings"]:
        for ref in f["samples"]:
            sample = rows[ref.pop("index")]
            ref.pop("file", None)
            ref.update(sample_id=sample.id, class_id=sample.class_id, filename=sample.filename, name=sample.filename)
    return health


PROJECT_CHECKS[SEQUENCE] = sequence_project_health
