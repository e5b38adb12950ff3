"""The service with samples, job manifests and runs in S3-compatible storage (a real moto server on
loopback, reached through the AWS variables like MinIO or AWS would be)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "service"))
from service_helpers import FAST, Api, export_bundle, make_settings, wait_for  # noqa: E402

from konstrukt.service import create_app  # noqa: E402

pytestmark = pytest.mark.scale


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    from konstrukt.demo import write_digits

    dest = tmp_path_factory.mktemp("src") / "digits"
    write_digits(dest, per_class=8, classes=(0, 1), extra_per_class=2)
    return dest


def keys(bucket: str, prefix: str = "") -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


@pytest.mark.slow
def test_upload_train_results_try_it_and_export_through_s3(tmp_path, s3_url, bucket, digits, monkeypatch):
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path / "emb-cache"))  # the worker inherits it
    settings = make_settings(tmp_path, storage_url=s3_url, start_worker=True, max_attempts=1)
    app = create_app(settings)
    with TestClient(app) as client:
        alice = Api(client, "alice@example.com")
        project = alice.filled_project(digits)
        pid = project["id"]
        # The uploads are objects in the bucket; the data directory holds no sample files.
        stored = keys(bucket, f"data/projects/{pid}/samples/")
        assert len(stored) == 16
        assert not (settings.data_dir / "projects" / str(pid) / "samples").exists()
        one = sorted((digits / "one").iterdir())[0]
        again = alice.upload(project, "zero", [("extra.png", one.read_bytes())]).json()["added"][0]
        preview = alice.get(f"/api/samples/{again['id']}/file")
        assert preview.status_code == 200 and preview.content == one.read_bytes()
        assert alice.delete(f"/api/samples/{again['id']}").status_code == 204
        assert len(keys(bucket, f"data/projects/{pid}/samples/")) == 16
        health = alice.get(f"/api/projects/{pid}/health")
        assert health.status_code == 200 and health.json()["checked"] == 16

        job = alice.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": FAST})
        assert job.status_code == 201, job.text
        jid = job.json()["id"]
        manifest = json.loads(boto3.client("s3").get_object(
            Bucket=bucket, Key=f"data/projects/{pid}/jobs/{jid}/manifest.json")["Body"].read())
        assert len(manifest["entries"]) == 16 and all(len(e["sha256"]) == 64 for e in manifest["entries"])

        done = wait_for(lambda: (r := alice.get(f"/api/jobs/{jid}").json())["status"] in
                        ("succeeded", "failed", "cancelled") and r, timeout=240)
        assert done["status"] == "succeeded", done
        run_keys = keys(bucket, f"data/projects/{pid}/jobs/{jid}/run/")
        assert any(k.endswith("report.json") for k in run_keys) and any(k.endswith(".safetensors") for k in run_keys)
        # The worker's local work folder went once the run was in the store.
        assert not (settings.data_dir / "projects" / str(pid) / "jobs" / str(jid)).exists()

        report = alice.get(f"/api/jobs/{jid}/report")
        assert report.status_code == 200 and "test" in report.json()
        assert alice.get(f"/api/jobs/{jid}/files/curves.png").content[:4] == b"\x89PNG"
        assert alice.get(f"/api/jobs/{jid}/health").status_code == 200
        unseen = one
        pred = alice.post(f"/api/jobs/{jid}/predict", files={"file": (unseen.name, unseen.read_bytes(), "image/png")})
        assert pred.status_code == 200, pred.text
        assert set(pred.json()["probabilities"]) == {"zero", "one"}
        export = export_bundle(alice, jid, "bundle")
        assert export.status_code == 200, export.text
        names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
        assert any(n.endswith("predict.py") for n in names)
        download = alice.get(f"/api/jobs/{jid}/download")
        assert any(n.endswith("report.json") for n in zipfile.ZipFile(io.BytesIO(download.content)).namelist())

        # Deleting the job, then the project, removes their objects from the bucket.
        assert alice.delete(f"/api/jobs/{jid}").status_code == 204
        assert keys(bucket, f"data/projects/{pid}/jobs/{jid}/") == []
        assert alice.delete(f"/api/projects/{pid}").status_code == 204
        assert keys(bucket, f"data/projects/{pid}/") == []


def test_a_changed_object_fails_the_job_naming_the_file(tmp_path, s3_url, bucket, digits):
    from konstrukt.service.jobs import claim_next
    from konstrukt.service.worker import run_job

    settings = make_settings(tmp_path, storage_url=s3_url)
    app = create_app(settings)
    with TestClient(app) as client:
        alice = Api(client, "alice@example.com")
        project = alice.filled_project(digits)
        pid = project["id"]
        jid = alice.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": FAST}).json()["id"]
        entry = json.loads(boto3.client("s3").get_object(
            Bucket=bucket, Key=f"data/projects/{pid}/jobs/{jid}/manifest.json")["Body"].read())["entries"][0]
        boto3.client("s3").put_object(Bucket=bucket, Key=f"data/{entry['key']}", Body=b"not the upload")
        with app.state.sessions() as db:
            assert claim_next(db, 1).id == jid
        run_job(app.state.sessions, settings, jid)  # fails while fetching, before any training
        job = alice.get(f"/api/jobs/{jid}").json()
        assert job["status"] == "failed"
        shown = f"{entry['label']}/{entry['name']}"  # the class and the uploaded name, not the folder
        assert f"{shown} changed in the store" in job["error"], job["error"]
        assert str(settings.data_dir) not in job["error"] and "/tmp" not in job["error"]


def test_store_down_during_upload_is_503_and_stores_nothing(tmp_path, s3_env, unused_port, digits, monkeypatch):
    from moto.server import ThreadedMotoServer

    port = unused_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("KONSTRUKT_S3_ATTEMPTS", "2")
    boto3.client("s3").create_bucket(Bucket="flaky")
    settings = make_settings(tmp_path, storage_url=f"s3://flaky/p{port}")
    app = create_app(settings)
    with TestClient(app) as client:
        alice = Api(client, "alice@example.com")
        project = alice.project()
        files = [(p.name, p.read_bytes()) for p in sorted((digits / "zero").iterdir())]
        assert alice.upload(project, "zero", files[:2]).status_code == 200
        server.stop()
        r = alice.upload(project, "zero", files[2:4])
        assert r.status_code == 503, r.text
        body = r.json()
        assert "cannot reach the object storage" in body["detail"] and "'flaky'" in body["detail"]
        assert "AWS_ENDPOINT_URL" in " ".join(body["problems"])
        assert str(tmp_path) not in r.text
        classes = alice.get(f"/api/projects/{project['id']}").json()["classes"]
        assert next(c for c in classes if c["name"] == "zero")["sample_count"] == 2
        assert list((settings.data_dir / "tmp").iterdir()) == []


def test_serve_says_why_when_the_store_is_unreachable(tmp_path, s3_env, dead_endpoint, unused_port):
    env = dict(os.environ, AWS_ENDPOINT_URL=dead_endpoint, KONSTRUKT_S3_ATTEMPTS="1")
    proc = subprocess.run([sys.executable, "-m", "konstrukt", "serve", "--data-dir", str(tmp_path / "d"),
                           "--storage-url", "s3://konstrukt-prod/data", "--port", str(unused_port())],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the object storage" in proc.stderr and "'konstrukt-prod'" in proc.stderr
    assert "AWS_ENDPOINT_URL" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_bucket_stops_the_app_at_start(tmp_path, s3_env):
    from konstrukt.errors import StorageUnavailable

    app = create_app(make_settings(tmp_path, storage_url="s3://no-such-bucket-here/x"))
    with pytest.raises(StorageUnavailable, match="does not exist"):
        with TestClient(app):
            pass


def test_demo_project_lives_in_the_bucket(tmp_path, s3_url, bucket):
    app = create_app(make_settings(tmp_path, storage_url=s3_url, demo=True))
    with TestClient(app):
        pass
    stored = keys(bucket, "data/projects/1/")
    assert sum("/samples/" in k for k in stored) >= 20
    assert "data/projects/1/jobs/1/manifest.json" in stored
    assert not (tmp_path / "data" / "projects").exists()  # no scratch copy left behind
