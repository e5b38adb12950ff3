"""The results page's "Web page" download: an export job of format ``web`` builds the page's zip."""
from __future__ import annotations

import io
import zipfile

from service_helpers import work_one_export
from test_export_jobs import _messages, tiny_run, trained  # noqa: F401 (fixtures)


def test_a_web_export_job_builds_the_page(app, trained):  # noqa: F811
    alice, pid, run_id = trained
    r = alice.post(f"/api/jobs/{run_id}/exports", json={"format": "web"})
    assert r.status_code == 202, r.text
    export_id = r.json()["job"]["id"]
    assert work_one_export(app) == export_id
    job = alice.get(f"/api/jobs/{export_id}").json()
    assert job["status"] == "succeeded", (job, _messages(app, export_id))
    got = alice.get(f"/api/jobs/{run_id}/export?format=web")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    names = set(zipfile.ZipFile(io.BytesIO(got.content)).namelist())
    top = f"konstrukt-{run_id}-web"
    assert {f"{top}/{n}" for n in ("index.html", "konstrukt-web.js", "input.js", "model.js", "config.js",
                                   "ort.wasm.min.js", "ort-runtime.js", "LICENSE-onnxruntime.txt")} <= names
    assert alice.post(f"/api/jobs/{run_id}/exports", json={"format": "webpage"}).status_code == 422


def test_the_results_page_offers_the_web_page():
    from pathlib import Path

    import konstrukt.service

    html = (Path(konstrukt.service.__file__).parent / "templates" / "job.html").read_text()
    assert 'data-export="web"' in html  # the shared exportBundle() handler builds and downloads it
