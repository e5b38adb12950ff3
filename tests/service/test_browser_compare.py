"""Compare recipes in headless Chromium: start a compare from the project page, follow it, read the
leaderboard with its picture and recommendation, and open the winning run in one click."""
from __future__ import annotations

import pytest
from service_helpers import page_wait, browser_new_project, browser_sign_up
from test_browser import ARGS, ARTIFACTS, CHROMIUM, server  # noqa: F401 — `server` is a fixture


@pytest.mark.slow
def test_browser_compare_recipes(server, digits):  # noqa: F811
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(20_000)

        browser_sign_up(page, server, "fay@example.com")
        browser_new_project(page, "Digits", "image")
        for name in ("zero", "one"):
            page.fill('#new-class input[name="name"]', name)
            page.click('#new-class button[type="submit"]')
            page.wait_for_selector(f'.class-card[data-class="{name}"]')
            page.set_input_files(f'.class-card[data-class="{name}"] input[type="file"]',
                                 [str(f) for f in sorted((digits / name).iterdir())])
            expect(page.locator("#upload-report")).to_contain_text("Added 8 examples")

        page.fill('input[name="num_epochs"]', "1")
        page.click("text=More settings")
        page.fill('input[name="cv"]', "2")
        page.fill('input[name="target_size"]', "0")
        page.click("text=Compare recipes")  # opens the section
        pipes = page.locator("#compare-pipes input")
        expect(page.locator('#compare-pipes input[value="scratch_cnn"]')).to_be_checked()  # offline
        # recommended: what auto starts from on this server (the package-shipped Lite0); B0's weights
        # are not here, so it is marked and not pre-checked
        expect(page.locator('#compare-pipes input[value="efficientnet_lite0"]')).to_be_checked()
        expect(page.locator('#compare-pipes input[value="efficientnet_b0"]')).not_to_be_checked()
        expect(page.locator("#compare-pipes")).to_contain_text("efficientnet_b0 — weights not on this server")
        assert pipes.count() > 5
        # a user may still ask for it: it gets a "skipped" row with the reason
        page.locator('#compare-pipes input[value="efficientnet_lite0"]').uncheck()
        page.locator('#compare-pipes input[value="efficientnet_b0"]').check()
        page.click("#compare-recipes-button")
        page.wait_for_url("**/jobs/*")
        page.wait_for_url("**/compare?compare=*", timeout=150_000)  # the job page forwards when done

        expect(page.locator("#recommendation h2")).to_have_text("Recommended: scratch_cnn")
        table = page.locator("#leaderboard-table")
        expect(table).to_contain_text("reference: hog_logreg")
        expect(table).to_contain_text("skipped")  # efficientnet_b0: no weights offline, with the reason
        page_wait(page, "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(ARTIFACTS / "service-compare.png"), full_page=True)
        page.click("#open-winner")
        page.wait_for_url("**/jobs/*")
        page.wait_for_selector("#results", state="visible")
        expect(page.locator("#job-sub")).to_contain_text("scratch_cnn")
        assert not errors, errors
        browser.close()
