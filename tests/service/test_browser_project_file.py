"""Import project and Download project in headless Chromium: a refused file shows the problems and
creates nothing; a good one becomes a project, whose Download project link gives the file back."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from service_helpers import LiveServer, browser_sign_up, make_settings

from konstrukt.data.project_file import MANIFEST, ProjectSample, write_project_file
from konstrukt.service import create_app

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
def test_import_and_download_project_in_the_browser(tmp_path, digits):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    good = tmp_path / "Digits.zip"
    samples = [ProjectSample(c, p) for c in ("zero", "one") for p in sorted((digits / c).iterdir())]
    write_project_file(good, task="image", classes=["zero", "one"], samples=samples,
                       settings={"num_epochs": 3}, name="Digits from a file")
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("../escape.png", b"x")

    with LiveServer(create_app(make_settings(tmp_path))) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        browser_sign_up(page, live.url, "ivy@example.com")

        page.set_input_files('#import-project input[type="file"]', str(bad))
        page.click('#import-project button[type="submit"]')
        expect(page.locator("#import-report")).to_contain_text("'../escape.png' points outside")
        expect(page.locator("#import-report")).to_contain_text("Fix:")
        expect(page.locator(".project-card")).to_have_count(0)

        page.set_input_files('#import-project input[type="file"]', str(good))
        page.click('#import-project button[type="submit"]')
        page.wait_for_url("**/projects/*")
        expect(page.locator("#project-name")).to_have_text("Digits from a file")
        expect(page.locator("#sample-total")).to_contain_text("16 examples", timeout=60_000)
        with page.expect_download() as download:
            page.click("#download-project")
        path = download.value.path()
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read(MANIFEST))
        assert manifest["classes"] == ["zero", "one"] and len(manifest["samples"]) == 16
        assert manifest["settings"] == {"pipeline": "auto", "num_epochs": 3}
        assert download.value.suggested_filename == "Digits-from-a-file.konstrukt-project.zip"
        expect(page.locator("#carried-settings")).to_contain_text("recipe auto; num_epochs 3")
        page.click("#train-carried")  # queues exactly the file's settings
        page.wait_for_url("**/jobs/*")
        job = page.evaluate("fetch('/api/jobs/' + location.pathname.split('/').pop()).then(r => r.json())")
        assert (job["pipeline"], job["config"]) == ("auto", {"num_epochs": 3})
        assert not errors, errors
        browser.close()
