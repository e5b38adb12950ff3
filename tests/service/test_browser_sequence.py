"""A sequence project in headless Chromium on a 390-px phone: create it (answers a text), drop a zip
of recordings with their CSV, correct a text, train, read the CER and the worst examples, and try
a recording (the decoded text). Nothing wider than the screen; nothing blocked by the CSP.
Screenshots land in the test's tmp folder (screenshots/)."""
from __future__ import annotations

from pathlib import Path

import pytest
from service_helpers import (PHONE, LiveServer, browser_sign_up, make_settings, no_sideways_scroll, screenshot,
                             zip_bytes)

from konstrukt.service import create_app
from tests.sequence_data import write_sequences

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
def test_sequence_project_in_the_browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    table = write_sequences(tmp_path / "seq", n=16, seed=5)
    recordings = sorted(table.parent.glob("*.npz"))
    new = sorted(write_sequences(tmp_path / "new", n=3, seed=6).parent.glob("*.npz"))  # not in the zip
    archive = tmp_path / "keys.zip"
    archive.write_bytes(zip_bytes({"labels.csv": table.read_bytes(), **{p.name: p.read_bytes() for p in recordings}}))

    with LiveServer(create_app(make_settings(tmp_path, start_worker=True))) as live, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.set_default_timeout(30_000)
        browser_sign_up(page, live.url, "sam@example.com")

        page.select_option("#task-select", "image")  # images carry no text
        expect(page.locator('#kind-select [value="sequence"]')).to_be_disabled()
        page.fill('#new-project input[name="name"]', "Typed keys")
        page.select_option("#task-select", "signal")
        page.select_option("#kind-select", "sequence")
        page.click('#new-project button[type="submit"]')
        page.wait_for_url("**/projects/*")
        expect(page.locator("#sample-total")).to_contain_text("0 recordings", timeout=60_000)
        expect(page.locator("#new-class")).to_be_hidden()
        page.set_input_files("#seq-drop input[type=file]", str(archive))
        expect(page.locator("#upload-report")).to_contain_text("Added 16 recordings", timeout=60_000)
        expect(page.locator(".seq-row")).to_have_count(16)
        expect(page.locator("#seq-stats")).to_contain_text("16", timeout=60_000)  # data health: the counts
        expect(page.locator("#seq-stats")).to_contain_text("frames per second")
        first = page.locator(".seq-row input").first
        first.fill("abcd")
        first.dispatch_event("change")
        expect(page.locator("#toast")).to_contain_text("Text saved")
        no_sideways_scroll(page)

        # the recorder: a clip with its text typed beside it; without the text it is not sent
        page.set_input_files("#seq-recorder input[type=file]", str(new[0]))
        expect(page.locator("#upload-report")).to_contain_text("Type the recording's text first")
        page.fill("#seq-text", "dcba")
        page.set_input_files("#seq-recorder input[type=file]", str(new[1]))
        expect(page.locator("#upload-report")).to_contain_text("Added 1 recording")
        expect(page.locator(".seq-row")).to_have_count(17)
        screenshot(page, tmp_path / "screenshots", "phone-sequence-project")

        assert page.locator("#pipeline-select option").all_inner_texts()[1].startswith("rescnn+mlp480")
        page.click("#expert-settings summary")
        expect(page.locator('#train-form [name="optimizer"]')).to_be_hidden()
        page.fill('#train-form [name="num_epochs"]', "2")
        page.fill('#train-form [name="cv"]', "0")
        page.select_option("#pipeline-select", "rescnn")
        page.click("#train-button")
        page.wait_for_url("**/jobs/*")
        expect(page.locator("#cer")).to_contain_text("%", timeout=240_000)
        expect(page.locator("#class-table")).to_contain_text("decoded")
        expect(page.locator("#class-table")).to_contain_text("keys.zip: rec5_")
        expect(page.locator('[data-export="web"]')).to_be_hidden()  # no web page for sequence runs
        page.click('[data-export="onnx"]')  # an export job: ONNX + a predict.py that decodes the text
        for _ in range(240):  # ready, or the export's error in a toast
            if "ready" in page.inner_text("#export-status") or "ONNX" in page.inner_text("#toast"):
                break
            page.wait_for_timeout(500)
        assert "ready" in page.inner_text("#export-status"), page.inner_text("#toast")
        no_sideways_scroll(page)

        page.set_input_files("#try-file", str(new[2]))
        expect(page.locator("#decoded")).to_be_visible(timeout=60_000)
        expect(page.locator("#confidence")).to_contain_text("confidence")
        no_sideways_scroll(page)
        screenshot(page, tmp_path / "screenshots", "phone-sequence-results")
        browser.close()
    assert not errors, errors
