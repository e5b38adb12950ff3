"""Motion sensors as signal input, in headless Chromium: a signal project's *Record motion* fed by
synthetic ``devicemotion`` events at a steady 50 Hz, stopped at the project's window, uploaded as a
CSV with a time column that the signal reader takes; the phone panel's QR code of the LAN address
(decoded from the page's pixels); a run trained on recordings, and Try it with the same recorder.
Screenshots (desktop and a 390-px phone) land in the test's tmp folder (screenshots/)."""
from __future__ import annotations

import csv
import io
import re

import numpy as np
import pytest
from service_helpers import (PHONE, LiveServer, browser_new_project, browser_sign_up, make_settings,
                             no_sideways_scroll, page_wait, screenshot)
from test_browser import ARGS, CHROMIUM

from konstrukt.service import create_app
from tests.conftest import SIGNAL_FAST

COLUMNS = ["time_s", "acc_x", "acc_y", "acc_z", "acc_gravity_x", "acc_gravity_y", "acc_gravity_z",
           "rot_alpha", "rot_beta", "rot_gamma"]
LAN = "10.1.2.3"  # where the server says it listens: the QR code must hold this address

# A shaking (freq > 0) or still device, one event every 20 ms, as a phone's browser would fire them.
DISPATCH = """([n, freq, rotation = true]) => new Promise(done => {
  let i = 0;
  const id = setInterval(() => {
    const s = 3 * Math.sin(2 * Math.PI * freq * i / 50) + 0.05 * Math.cos(7 * i);
    window.dispatchEvent(new DeviceMotionEvent("devicemotion", { interval: 20,
      acceleration: { x: s, y: 0.5 * s, z: 0.1 }, accelerationIncludingGravity: { x: s, y: 0.5 * s, z: 9.81 },
      rotationRate: rotation ? { alpha: 10 * s, beta: 2, gamma: -5 * s } : null }));
    if (++i >= n) { clearInterval(id); done(i); }
  }, 20);
})"""


def _csv(freq: float, seconds: float = 2.0, rate: int = 50, seed: int = 0) -> bytes:
    """A recording as the recorder writes it (for the rest of the training examples)."""
    t = np.arange(int(seconds * rate)) / rate
    s = 3 * np.sin(2 * np.pi * freq * t + seed) + 0.05 * np.random.default_rng(seed).standard_normal(t.size)
    cols = [t, s, 0.5 * s, 0.1 + 0 * t, s, 0.5 * s, 9.81 + 0 * t, 10 * s, 2 + 0 * t, -5 * s]
    out = io.StringIO()
    out.write(",".join(COLUMNS) + "\n")
    for row in zip(*cols):
        out.write(",".join(f"{v:.6g}" for v in row) + "\n")
    return out.getvalue().encode()


@pytest.fixture
def motion_server(tmp_path, monkeypatch):
    monkeypatch.setenv("KONSTRUKT_OFFLINE", "1")
    app = create_app(make_settings(tmp_path, start_worker=True))
    with LiveServer(app) as live:
        app.state.listen = (LAN, live.port)  # as `konstrukt serve --host 10.1.2.3` would set it
        yield live.url


def _record(page, card, n: int, freq: float, expect, rotation: bool = True) -> None:
    card.get_by_role("button", name="● Record motion").click()
    page.evaluate(DISPATCH, [n, freq, rotation])
    expect(page.locator("#upload-report")).to_contain_text("Added 1 example")


@pytest.mark.slow
def test_record_motion_upload_qr_and_try_it(motion_server, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    from konstrukt.modalities.signal.preprocess import read_csv_signal

    server, shots = motion_server, tmp_path / "screenshots"
    with sync_playwright() as pw:
        # phone.test: this server under a name that is not loopback, as a phone on the LAN sees it
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=ARGS + ["--host-resolver-rules=MAP phone.test 127.0.0.1"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.set_default_timeout(20_000)
        browser_sign_up(page, server, "mo@example.com")
        browser_new_project(page, "Gestures", "signal")
        pid = page.url.rstrip("/").split("/")[-1]

        # the phone panel: the LAN address of this page as a QR code, and why http is not enough
        url = f"http://{LAN}:{server.rsplit(':', 1)[1]}/projects/{pid}"
        expect(page.locator("#phone-panel figcaption")).to_have_text(url)
        expect(page.locator("#phone-note")).to_contain_text("--tls-self-signed")
        qr = page.locator("#phone-panel img")
        page_wait(page, "document.querySelector('#phone-panel img').naturalWidth > 0")
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())).convert("L"))
        assert [b.text for b in found] == [url]

        for name in ("shake", "still"):
            page.fill('#new-class input[name="name"]', name)
            page.click('#new-class button[type="submit"]')
            page.wait_for_selector(f'.class-card[data-class="{name}"]')
        shake = page.locator('.class-card[data-class="shake"]')
        expect(shake.locator(".motion-status")).to_contain_text("Records 2 s")

        # no sensor answers (a laptop without any): said in words, nothing uploaded
        shake.get_by_role("button", name="● Record motion").click()
        expect(shake.locator(".motion-status")).to_contain_text("No motion readings arrived", timeout=10_000)
        expect(shake.locator(".thumb")).to_have_count(0)

        # 120 events (2.4 s) at 50 Hz: the recording stops by itself at the project's 2-s window
        _record(page, shake, 120, 2.0, expect)
        shake = page.locator('.class-card[data-class="shake"]')
        expect(shake.locator(".thumb")).to_have_count(1)
        # the cards are drawn again after an upload; the recording stays in view, with what it was
        expect(shake.locator(".motion-status")).to_have_text("2.00 s at 50 Hz from DeviceMotion")
        expect(shake.locator("canvas.motion-plot")).to_be_visible()
        screenshot(page, shots, "desktop-motion-project")
        sample = page.evaluate(f"fetch('/api/projects/{pid}').then(r => r.json())")["classes"][0]["samples"][0]
        body = page.request.get(f"{server}/api/samples/{sample['id']}/file").body()
        rows = list(csv.reader(io.StringIO(body.decode())))
        assert rows[0] == COLUMNS and len(rows) == 1 + 100, (rows[0], len(rows))
        t = np.array([float(r[0]) for r in rows[1:]])
        assert np.allclose(np.diff(t), 0.02, atol=1e-6) and t[0] == 0.0
        values = np.array([[float(c) for c in r[1:]] for r in rows[1:]])
        assert np.allclose(values[:, 5], 9.81) and np.allclose(values[:, 7], 2.0)  # gravity z, rotation beta
        assert values[:, 0].std() > 1.0  # the shaking came through
        saved = tmp_path / "motion.csv"
        saved.write_bytes(body)
        rec = read_csv_signal(saved)  # the signal wing reads it: time column → rate, 9 channels
        assert rec.rate == 50.0 and rec.data.shape == (9, 100), (rec.rate, rec.data.shape)

        # a laptop that has an accelerometer but no gyroscope: the rotation columns are 0, and said so
        still = page.locator('.class-card[data-class="still"]')
        _record(page, still, 120, 0.0, expect, rotation=False)
        expect(still.locator(".motion-status")).to_contain_text("does not report rot_alpha, rot_beta, rot_gamma (written as 0)")
        for i, (name, freq) in enumerate([("shake", 2.0), ("still", 0.0)] * 4):  # the rest as files
            f = tmp_path / f"{name}{i}.csv"
            f.write_bytes(_csv(freq, seed=i))
            page.set_input_files(f'.class-card[data-class="{name}"] input[type="file"]', str(f))
            expect(page.locator("#upload-report")).to_contain_text("Added 1 example")
        job = page.evaluate("([pid, config]) => fetch(`/api/projects/${pid}/jobs`, {method: 'POST', credentials: 'same-origin',"
                            " headers: {'Content-Type': 'application/json', 'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content},"
                            " body: JSON.stringify({pipeline: 'rescnn_se', config})}).then(r => r.json())", [pid, SIGNAL_FAST])
        page.goto(f"{server}/jobs/{job['id']}")
        page.wait_for_selector("#results", state="visible", timeout=240_000)

        # Try it: the same recorder, one window of the run's own length (0.5 s here)
        page.get_by_role("button", name="● Record motion and predict").click()
        page.evaluate(DISPATCH, [40, 2.0])
        expect(page.locator("#predicted")).to_have_text(re.compile("^(shake|still)$"), timeout=120_000)
        expect(page.locator("#try .motion-status")).to_contain_text("0.50 s at 50 Hz from DeviceMotion")
        screenshot(page, shots, "desktop-motion-try")

        phone = browser.new_page(viewport=PHONE)
        phone.context.add_cookies(page.context.cookies())
        phone.goto(f"{server}/projects/{pid}")
        expect(phone.locator('.class-card[data-class="shake"] .motion-record')).to_be_visible()
        no_sideways_scroll(phone)
        screenshot(phone, shots, "phone-motion-project")

        # plain http from another device: no sensors for the page, and it says why and what to do
        far = browser.new_page(viewport=PHONE)
        far.goto(f"http://phone.test:{server.rsplit(':', 1)[1]}/login")
        far.fill('input[name="email"]', "mo@example.com")
        far.fill('input[name="password"]', "a good password")
        far.click("#auth-submit")
        far.wait_for_url("**/")
        far.goto(f"http://phone.test:{server.rsplit(':', 1)[1]}/projects/{pid}")
        record = far.locator('.class-card[data-class="shake"] .motion-record')
        expect(record).to_be_disabled()
        expect(far.locator('.class-card[data-class="shake"] .motion-status')).to_contain_text(
            "Motion sensors work only on a secure page")
        no_sideways_scroll(far)
        screenshot(far, shots, "phone-motion-plain-http")
        browser.close()
    assert not errors, errors


@pytest.fixture
def plain_server(tmp_path):
    with LiveServer(create_app(make_settings(tmp_path))) as live:
        yield live.url


def _sensor_page(browser, server: str, silence_devicemotion: bool = False):
    """A page whose browser has virtual motion sensors (DevTools' sensor emulation): Chrome's own
    sensor stack feeds both devicemotion and the Generic Sensor API from them."""
    page = browser.new_page(viewport=PHONE)
    if silence_devicemotion:  # a browser whose devicemotion stays silent: the Generic Sensor API must step in
        page.add_init_script("window.addEventListener('devicemotion', e => e.stopImmediatePropagation())")
    cdp = page.context.new_cdp_session(page)
    for kind in ("accelerometer", "linear-acceleration", "gyroscope"):
        cdp.send("Emulation.setSensorOverrideEnabled", {"enabled": True, "type": kind, "metadata": {"available": True}})
    return page, cdp


def _move(cdp, step: int) -> None:
    s = 2.0 * np.sin(step / 3)
    for kind, xyz in (("accelerometer", (s, 1.0, 9.8)), ("linear-acceleration", (s, 1.0, 0.0)),
                      ("gyroscope", (0.1, 0.2, 0.3 * s))):
        cdp.send("Emulation.setSensorOverrideReadings",
                 {"type": kind, "reading": {"xyz": dict(zip("xyz", xyz))}})


@pytest.mark.slow
@pytest.mark.parametrize("silence, source", [(False, "DeviceMotion"), (True, "Generic Sensor API")])
def test_record_motion_from_the_browsers_own_sensors(plain_server, tmp_path, silence, source):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    from konstrukt.modalities.signal.preprocess import read_csv_signal

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        page, cdp = _sensor_page(browser, plain_server, silence)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        browser_sign_up(page, plain_server, "imu@example.com")
        browser_new_project(page, "Sensors", "signal")
        pid = page.url.rstrip("/").split("/")[-1]
        page.fill('#new-class input[name="name"]', "wave")
        page.click('#new-class button[type="submit"]')
        card = page.locator('.class-card[data-class="wave"]')
        _move(cdp, 0)
        card.get_by_role("button", name="● Record motion").click()
        for step in range(1, 200):  # the device moves while it records (2 s)
            _move(cdp, step)
            page.wait_for_timeout(30)
            if "Added" in page.locator("#upload-report").inner_text():
                break
        expect(page.locator("#upload-report")).to_contain_text("Added 1 example")
        expect(card.locator(".motion-status")).to_contain_text(f"2.00 s at 60 Hz from {source}")
        screenshot(page, tmp_path / "screenshots", f"phone-motion-{source.split()[0].lower()}")
        sample = page.evaluate(f"fetch('/api/projects/{pid}').then(r => r.json())")["classes"][0]["samples"][0]
        saved = tmp_path / "motion.csv"
        saved.write_bytes(page.request.get(f"{plain_server}/api/samples/{sample['id']}/file").body())
        browser.close()
    assert not errors, errors
    rec = read_csv_signal(saved)
    assert rec.rate == 60.0 and rec.data.shape == (9, 120), (rec.rate, rec.data.shape)
    acc_x, gravity_z, rot = rec.data[0], rec.data[5], rec.data[6:]
    assert np.allclose(gravity_z, 9.8, atol=1e-3) and acc_x.std() > 0.3  # the emulated movement came through
    # °/s, alpha about x and beta about y (Chrome rounds devicemotion's to 0.1 °/s)
    assert np.allclose(rot[0], np.degrees(0.1), atol=0.06) and np.allclose(rot[1], np.degrees(0.2), atol=0.06)
