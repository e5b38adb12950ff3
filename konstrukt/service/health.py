"""Data health for the service: the core's checks on a project's stored samples, and a finished
run's ``data_health`` — with every file named by its sample id and uploaded name, never a server path."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy.orm import Session

from ..data.health import check_data
from ..data.samples import Dataset, Sample as DataSample, file_digest
from .db import Label, Project, Sample
from .settings import Settings
from .blobs import sample_key, sample_path


def _sample_ref(sample: Sample | None, entry: dict) -> dict:
    """One sample of a finding, as the browser needs it (the server path is dropped)."""
    out = {k: v for k, v in entry.items() if k not in ("file", "index", "name")}
    if sample is None:  # deleted since the run: only the name it had
        out.update(sample_id=None, class_id=None, filename=Path(entry.get("name", "")).name)
    else:
        out.update(sample_id=sample.id, class_id=sample.class_id, filename=sample.filename,
                   label=sample.label.name)
    out["name"] = f"{out.get('label', '')}/{out['filename']}"
    return out


def _map(health: dict, lookup) -> dict:
    findings = [{**f, "samples": [_sample_ref(lookup(s), s) for s in f["samples"]]} for f in health["findings"]]
    removed = {k: [_sample_ref(lookup(s), s) for s in v]
               for k, v in (health.get("removed_from_evaluation") or {}).items()}
    return {**health, "findings": findings, "removed_from_evaluation": removed}


# Project kind → its own check of the project's samples (sequence projects: konstrukt/sequences/health.py).
PROJECT_CHECKS: dict[str, Callable[[Session, Project, Settings], dict]] = {}


def project_health(db: Session, project: Project, settings: Settings) -> dict:
    """Check the project's samples as they are now (before training: no split, so no leakage)."""
    if check := PROJECT_CHECKS.get(project.kind):
        return check(db, project, settings)
    rows: list[Sample] = []
    items: list[DataSample] = []
    for label in sorted(project.classes, key=lambda c: c.name):
        for sample in label.samples:
            path = sample_path(settings, sample_key(project.id, label.id, sample.stored_name), sample.digest)
            if path is not None:
                rows.append(sample)
                items.append(DataSample(path, label.name, None, sample.digest or file_digest(path)))
    dataset = Dataset(items, sorted({s.label for s in items}), f"project {project.id}")
    if len(items) == 0:
        return {"checked": 0, "ok": True, "counts": {}, "findings": [], "removed_from_evaluation": {}}
    health = check_data(dataset, project.task).to_dict()
    return _map(health, lambda entry: rows[entry["index"]])


def run_health(db: Session, project: Project, report: dict) -> dict:
    """A finished run's ``data_health``, its files matched to the project's samples by stored name."""
    health = report.get("data_health")
    if not health:
        return {"checked": 0, "ok": True, "counts": {}, "findings": [], "removed_from_evaluation": {},
                "available": False}

    def lookup(entry: dict) -> Sample | None:
        stem = Path(entry.get("file", "")).stem  # the job's snapshot names files <sample id><ext>
        sample = db.get(Sample, int(stem)) if stem.isdigit() else None
        label = db.get(Label, sample.class_id) if sample is not None else None
        return sample if label is not None and label.project_id == project.id else None

    return {**_map(health, lookup), "available": True}
