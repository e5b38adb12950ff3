"""Both scale-out parts at once: the service with samples and runs in S3 (a moto server on loopback)
AND each job trained as a task on a real Ray cluster. The Ray workers reach the bucket through the
AWS variables of their node, fetch the job's files by its manifest and put the run back; the server
never holds the samples or the run folder except in its caches."""
from __future__ import annotations

import io
import time
import zipfile

import boto3
import pytest
from service_helpers import FAST, Api, export_bundle, make_settings
from fastapi.testclient import TestClient

from konstrukt.service import create_app

pytestmark = pytest.mark.scale


def keys(bucket: str, prefix: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_upload_train_on_ray_with_s3_results_try_it_export(tmp_path, s3_url, bucket, digits, ray_with_s3,
                                                           monkeypatch):
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path / "emb-cache"))
    monkeypatch.setenv("KONSTRUKT_OFFLINE", "1")
    settings = make_settings(tmp_path, storage_url=s3_url, start_worker=True, max_attempts=1,
                             executor="ray", ray_address=ray_with_s3)
    app = create_app(settings)
    with TestClient(app) as client:
        erin = Api(client, "erin@example.com")
        project = erin.filled_project(digits)
        pid = project["id"]
        assert len(keys(bucket, f"data/projects/{pid}/samples/")) == 16
        job_id = erin.post(f"/api/projects/{pid}/jobs", json={
            "pipeline": "scratch_cnn", "config": {**FAST, "num_epochs": 200, "early_stopping": False}}).json()["id"]
        live = []
        while (job := erin.get(f"/api/jobs/{job_id}").json())["status"] in ("queued", "running"):
            if job["status"] == "running" and (job.get("progress") or {}).get("epoch"):
                live.append(job["progress"]["epoch"])
            time.sleep(0.1)
        assert job["status"] == "succeeded", job
        assert live, "no epoch arrived while the job was running"

        run_keys = keys(bucket, f"data/projects/{pid}/jobs/{job_id}/run/")
        assert {k.rsplit("/", 1)[1] for k in run_keys} >= {"model.safetensors", "report.json", "config.json"}
        job_here = settings.data_dir / "projects" / str(pid) / "jobs" / str(job_id)
        assert not (job_here / "run").exists() and not (job_here / "data").exists()  # no work folder left

        report = erin.get(f"/api/jobs/{job_id}/report").json()  # read back through the run cache
        assert report["classes"] == ["one", "zero"] and "confusion_matrix" in report["test"]
        unseen = sorted((digits.parent / "digits_new" / "one").iterdir())[0]
        r = erin.post(f"/api/jobs/{job_id}/predict", files={"file": (unseen.name, unseen.read_bytes())})
        assert r.status_code == 200 and r.json()["label"] in ("zero", "one")
        bundle = export_bundle(erin, job_id, "bundle")  # parity on the held-out files
        assert bundle.status_code == 200, bundle.text
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
            assert {f"konstrukt-{job_id}-bundle/{n}" for n in ("predict.py", "config.json")} <= set(zf.namelist())
        zipped = erin.get(f"/api/jobs/{job_id}/download")
        assert zipped.status_code == 200
        assert erin.delete(f"/api/jobs/{job_id}").status_code == 204
        assert keys(bucket, f"data/projects/{pid}/jobs/{job_id}/") == []
