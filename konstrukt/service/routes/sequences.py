"""Sequence projects: recordings with their text (a zip with a ``path,text`` CSV, or one recorded
clip with its text typed beside it), the text of a recording, and training them as a sequence run
(the core's ``konstrukt.train`` on a ``path,text`` labels CSV; see docs/sequences.md)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Optional

from fastapi import APIRouter, Depends, Form, HTTPException, UploadFile
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ..db import Job, Project, Sample
from ..deps import JSON, MULTIPART, get_db, owned_project, owned_sample
from ..schemas import CompareRequest, SampleOut, SampleText, TrainRequest, UploadResult
from ..sequence_uploads import SEQUENCE, check_recording, check_text, check_zip
from .. import sequence_health  # noqa: F401 -- registers the data health of sequence projects
from ..settings import Settings, get_settings
from ..storage import Checked, display_name, tmp_dir
from .jobs import COMPARERS, EXPORT_CHECKS, RECOMMENDERS, REPORTS, TRAINERS, queue_job
from .projects import _keep

router = APIRouter(prefix="/api", tags=["sequences"])


def _sequence_project(project: Project) -> Project:
    if project.kind != SEQUENCE:
        raise HTTPException(409, f"project {project.id} is a classification project: upload files to "
                                 "one of its classes")
    return project


@router.post("/projects/{project_id}/recordings", response_model=UploadResult, dependencies=[MULTIPART])
async def upload_recordings(files: list[UploadFile], text: Optional[str] = Form(None, max_length=2000),
                            project: Project = Depends(owned_project), db: Session = Depends(get_db),
                            settings: Settings = Depends(get_settings)):
    """Add recordings with their text to a sequence project: zips, each holding one CSV
    (``path,text``; paths relative to the CSV) and the recordings it names; or one recording with
    ``text`` (what it says, or what was typed during it). A CSV with a bad row (a file not in the
    zip, a text over 500 characters or with control characters) is refused whole (422, each row
    named); recordings the task cannot read are listed as rejected while the others are kept."""
    _sequence_project(project)
    return await run_in_threadpool(_store, files, text, project, db, settings)


def _store(files: list[UploadFile], text: str | None, project: Project, db: Session,
           settings: Settings) -> UploadResult:
    if text is not None and len(files) != 1:
        raise HTTPException(422, f"a typed text goes with exactly one recording; {len(files)} files were sent")
    work = Path(tempfile.mkdtemp(dir=tmp_dir(settings.data_dir)))
    try:
        checked, texts = Checked(), {}
        for upload in files:
            name = display_name(upload.filename)
            if text is not None:
                texts.update(check_recording(project.task, name, text, upload.file, work, settings, checked))
            elif name.lower().endswith(".zip"):
                more = check_zip(project.task, name, upload.file, work, settings, checked)
                if twice := sorted(texts.keys() & more.keys()):  # each recording's text is found by its name
                    raise HTTPException(422, f"{twice[0]} is sent twice in one upload; give the zips different names")
                texts.update(more)
            else:
                checked.reject(name, "a recording needs its text: send it with a `text` field, or zip "
                                     "recordings with a CSV `path,text`")
        added = _keep(checked, project.classes[0], db, settings, texts)
        return UploadResult(added=added, rejected=checked.rejected)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@router.patch("/samples/{sample_id}/text", response_model=SampleOut, dependencies=[JSON])
def set_text(body: SampleText, sample: Sample = Depends(owned_sample), db: Session = Depends(get_db)):
    """Correct the text of a sequence project's recording (trained from the next job on)."""
    project = sample.label.project
    _sequence_project(project)
    sample.text = check_text(body.text, sample.filename)
    db.commit()
    db.refresh(sample)
    return sample


def start_sequence_training(body: TrainRequest, project: Project, db: Session, settings: Settings) -> Job:
    """Queue a sequence run: its config is checked as the core will read it (every problem now,
    422), and the snapshot's ``path,text`` CSV as the core will read it (files, texts)."""
    from ...sequences.config import build_sequence_config
    from ...sequences.data import read_text_csv
    from ...sequences.models import parse_variant

    settings_ = build_sequence_config(body.config, {"task": project.task, "pipeline": body.pipeline})
    parse_variant(settings_.pipeline)
    job = Job(project_id=project.id, pipeline=body.pipeline, config=body.config, status="queued")
    return queue_job(db, settings, job, project, check=read_text_csv)


def start_sequence_compare(body: CompareRequest, project: Project, db: Session, settings: Settings) -> Job:
    """Queue a compare of sequence models (``recommended``/``offline``: the whole ladder) on the same
    split and folds (:func:`konstrukt.sequences.compare.compare_sequences` in the worker); names and
    config checked now (422), the snapshot's ``path,text`` CSV as the core will read it."""
    from ...sequences.compare import variant_names
    from ...sequences.config import build_sequence_config
    from ...sequences.data import read_text_csv
    from ..jobs import COMPARE

    names = variant_names(body.pipelines)
    if not names:
        raise HTTPException(422, "pipelines: name at least one model variant, or `recommended` for the ladder")
    build_sequence_config(body.config, {"task": project.task})
    job = Job(project_id=project.id, pipeline=COMPARE, config={"pipelines": names, "config": body.config},
              status="queued")
    return queue_job(db, settings, job, project, check=read_text_csv)


def recommend_sequence_runs(reports: dict[str, dict]) -> tuple[str | None, str]:
    from ...sequences.compare import recommend_runs

    return recommend_runs(reports)


SMALL_TEST = 10  # fewer test recordings than this: the test CER is a rough figure


def sequence_report(report: dict, db: Session, project: Project) -> dict:
    """A sequence run's report for the results page: its own warnings as notes, and each worst
    example's file named as uploaded (the run names the job's copies ``<sample id><ext>``)."""
    notes = [{"kind": "warning", "text": w} for w in report.get("warnings") or []]
    test = report.get("test") or {}
    if test and test.get("n", 0) < SMALL_TEST:
        steadier = "; the cross-validation mean is steadier" if report.get("cv") else "; add recordings for a steadier one"
        notes.append({"kind": "small_test", "text": f"the test split holds only {test.get('n', 0)} recordings: "
                                                    f"its CER is a rough figure{steadier}"})
    for split in ("val", "test"):
        for row in (report.get(split) or {}).get("worst") or []:
            stem = Path(str(row.get("file", ""))).stem
            sample = db.get(Sample, int(stem)) if stem.isdigit() and len(stem) < 10 else None
            row["name"] = sample.filename if sample and sample.label.project_id == project.id else None
    report.pop("data_files", None)  # the worker's paths of each split's recordings: the server's business
    return {**report, "notes": notes, "baseline": None}


def check_sequence_export(format: str) -> None:
    """The export formats of sequence runs are the library's (no web page): 422 for another."""
    from ...sequences.export import check_format

    check_format(format)


TRAINERS[SEQUENCE] = start_sequence_training
COMPARERS[SEQUENCE] = start_sequence_compare
RECOMMENDERS[SEQUENCE] = recommend_sequence_runs
EXPORT_CHECKS[SEQUENCE] = check_sequence_export
REPORTS["sequence"] = sequence_report
