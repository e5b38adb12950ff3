"""``export --format web``: the page runs the model in real Chromium, offline, from file:// (and,
for signals, from a throwaway static server on 127.0.0.1).

Every request outside the page's folder (but blob: and data:) is aborted; the page's top-1 must equal `konstrukt
predict` on every test file, and its probabilities the bundle's predict.py (same ONNX model,
onnxruntime in Python) — so the page's preprocessing in JavaScript is konstrukt's.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from PIL import Image

import konstrukt
from konstrukt.cli import main
from konstrukt.demo_sound import write_sound_demo
from konstrukt.errors import RunError
from tests.conftest import SIGNAL_FAST, write_images, write_signals

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run",
        # a synthetic camera and microphone, allowed without a prompt: the page's live button
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
IMAGE_FAST = {"num_epochs": 3, "target_size": 8, "batch_size": 8, "image_size": 20, "cv": 0}
SOUND_FAST = {"audio": {"duration": 0.5}, "num_epochs": 2, "target_size": 6, "batch_size": 8, "cv": 0}


def _train(tmp_path_factory, name, data_fn, **kw):
    root = tmp_path_factory.mktemp(name)
    data = data_fn(root / "data")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        return konstrukt.train(data, out=root / "run", verbose=False, **kw)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    return _train(tmp_path_factory, "image", lambda d: write_images(d, per_class=8), task="image",
                  pipeline="scratch_cnn", config=IMAGE_FAST)


@pytest.fixture(scope="module")
def sound_run(tmp_path_factory):
    return _train(tmp_path_factory, "sound", lambda d: write_sound_demo(
        d, per_class=6, seconds=0.5, classes=("rising_chirp", "falling_chirp", "noise_burst")),
        task="sound", pipeline="scratch_melcnn", config=SOUND_FAST)


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory):
    return _train(tmp_path_factory, "signal", lambda d: write_signals(d, per_class=6, fmt="csv"), task="signal",
                  pipeline="rescnn_bilstm_se", config={**SIGNAL_FAST, "num_epochs": 2})


def _odd_images(folder: Path, run) -> list[Path]:
    """Pictures unlike the training files: other sizes (up and down), JPEG, RGBA, gray."""
    folder.mkdir()
    rng = np.random.default_rng(1)
    out = []
    for i, src in enumerate(run.data_files("test")[:3]):
        img = Image.open(src).convert("RGB")
        w, h = [(53, 31), (13, 17), (200, 90)][i]
        img = img.resize((w, h), Image.NEAREST)
        out.append(folder / f"big_{i}.jpg")
        img.save(out[-1], quality=90)
    rgba = np.concatenate([rng.integers(0, 255, (30, 26, 3)), rng.integers(0, 255, (30, 26, 1))], -1)
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(folder / "alpha.png")
    Image.fromarray(rng.integers(0, 255, (19, 41)).astype(np.uint8), "L").save(folder / "gray.png")
    return out + [folder / "alpha.png", folder / "gray.png"]


def page_predictions(url: str, files: list[Path], live: str = "") -> tuple[list[dict], list[str], str]:
    """Open the page at ``url`` in headless Chromium, every other origin blocked; predict each file."""
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            allowed = ("blob:", "data:", url.rsplit("/", 1)[0] + "/")

            def route(r):
                requests.append(r.request.url)
                r.continue_() if r.request.url.startswith(allowed) else r.abort()

            page.route("**/*", route)
            page.goto(url)
            page.evaluate("konstrukt.ready")
            got = [page.evaluate("""async ([name, b64]) => {
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                return await konstrukt.predict(new File([bytes], name));
            }""", [f.name, base64.b64encode(f.read_bytes()).decode()]) for f in files]
            # a file that is not one: predict() rejects with the reason
            bad = page.evaluate("""() => konstrukt.predict(new File([new Uint8Array([1, 2, 3])], 'bad.bin'))
                                         .then(() => '', exc => exc.message)""")
            # the page's own controls: a file chosen in the picker shows its label
            page.set_input_files("#file", str(files[0]))
            # (locator assertions: wait_for_function evaluates strings, which the page's CSP forbids)
            expect(page.locator("#label")).to_have_text(got[0]["label"])
            if live:  # the camera / microphone button: a live capture is classified like a file
                page.click(f"#live button:has-text('{live}')")
                expect(page.locator("#status")).to_have_text(re.compile("^live"), timeout=20000)
                assert "error" not in page.get_attribute("#status", "class"), page.text_content("#status")
            assert not errors, errors
        finally:
            browser.close()
    return got, requests, bad


def _bundle_predictions(folder: Path, files: list[Path]) -> list[dict]:
    out = subprocess.run([sys.executable, "predict.py", *map(str, files), "--json"], cwd=folder,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@contextlib.contextmanager
def static_server(folder: Path):
    """A throwaway static host for ``folder`` on 127.0.0.1; yields index.html's URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
        finally:
            httpd.shutdown()


def _check(run, folder: Path, files: list[Path], bad: str, live: str = "", served: bool = False,
           resampled: int = 0) -> None:
    """The page's top-1 = konstrukt predict on every file; its probabilities = predict.py's (same ONNX
    file). The last ``resampled`` files are at another rate: the browser resamples them, not soxr, so
    their probabilities are compared loosely (their top-1 still exactly)."""
    if served:
        with static_server(folder) as url:
            got, requests, refused = page_predictions(url, files, live)
    else:
        got, requests, refused = page_predictions((folder / "index.html").as_uri(), files, live)
    assert bad in refused, refused
    # nothing but the page's own folder (and the blob: URL of its WASM glue) was asked for
    assert all(u.startswith(("file:", "blob:", "data:", "http://127.0.0.1:")) for u in requests), requests
    want = run.predict(files)
    assert [g["label"] for g in got] == [w["label"] for w in want]  # the page's top-1 = konstrukt predict
    same_model = _bundle_predictions(folder, files)  # the same ONNX model, onnxruntime in Python
    # INT8 (dynamic activations) rounds a little differently in WASM than in native onnxruntime
    atol = 2e-3 if json.loads((folder / "config.json").read_text())["web"]["model"].endswith("int8.onnx") else 2e-4
    for i, (g, s) in enumerate(zip(got, same_model)):
        loose = i >= len(files) - resampled
        assert loose or list(g["probabilities"]) == list(s["probabilities"])
        np.testing.assert_allclose([g["probabilities"][c] for c in s["probabilities"]],
                                   list(s["probabilities"].values()), atol=0.03 if loose else atol)


def test_image_page_predicts_as_konstrukt_offline(image_run, tmp_path, capsys):
    out = tmp_path / "web"
    assert main(["export", str(image_run.path), "--format", "web", "--out", str(out)]) == 0
    assert "exported" in capsys.readouterr().out
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["web"]["model"] in ("model.int8.onnx", "model.onnx") and (out / cfg["web"]["model"]).is_file()
    assert cfg["web"]["model"] == ("model.int8.onnx" if "onnx_int8" in cfg["files"] else "model.onnx")
    assert (out / "LICENSE-onnxruntime.txt").read_text().startswith("MIT License")
    files = image_run.data_files("test")[:6] + _odd_images(tmp_path / "odd", image_run)
    _check(image_run, out, files, "not an image this browser can read", live="Use the camera")


def test_sound_page_predicts_as_konstrukt_offline(sound_run, tmp_path):
    out = tmp_path / "web.zip"
    konstrukt.export(sound_run, out, format="web")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert "web/index.html" in names and "web/ort-runtime.js" in names
        zf.extractall(tmp_path)
    files = sound_run.data_files("test")[:6]
    other = []  # each again at 44.1 kHz in stereo: the page resamples and mixes down
    for i, f in enumerate(files[:3]):
        wave, rate = sf.read(f, dtype="float32")
        other.append(tmp_path / f"stereo44k_{i}.wav")
        loud = soxr.resample(wave, rate, 44100)
        sf.write(other[-1], np.stack([loud, 0.5 * loud], 1), 44100)
    _check(sound_run, tmp_path / "web", files + other, "not a recording this browser can decode",
           live="Record", resampled=len(other))


def test_signal_page_predicts_as_konstrukt_offline(signal_run, tmp_path):
    out = tmp_path / "web"
    konstrukt.export(signal_run, out, format="web")
    files = signal_run.data_files("test")[:5]
    x = np.loadtxt(files[0], delimiter=",", skiprows=1, ndmin=2)[:, 1:].astype(np.float32)  # no time column
    np.save(tmp_path / "one.npy", x)  # the same recording as NPY, time first
    np.save(tmp_path / "long.npy", np.concatenate([x, x[::-1], x]).T)  # channels first, 3 windows or more
    _check(signal_run, out, files + [tmp_path / "one.npy", tmp_path / "long.npy"], "not an NPY file", served=True)  # over http


def test_a_modality_without_a_page_fails_before_writing(image_run, tmp_path, monkeypatch):
    import dataclasses

    from konstrukt.tasks import MODALITIES

    get = MODALITIES.get

    def without_page(name):
        m = get(name)
        return dataclasses.replace(m, export=dataclasses.replace(m.export, web_script=None))

    monkeypatch.setattr(MODALITIES, "get", without_page)
    with pytest.raises(RunError, match="web page is not available for image"):
        konstrukt.export(image_run, tmp_path / "web", format="web")
    assert not (tmp_path / "web").exists()


def test_the_page_runs_fp32_when_int8_agrees_too_little(image_run, tmp_path, monkeypatch):
    from konstrukt.exporting import parity

    monkeypatch.setattr(parity, "INT8_MIN_AGREEMENT", 1.01)  # no INT8 model can pass
    konstrukt.export(image_run, tmp_path / "web", format="web")
    files = {p.name for p in (tmp_path / "web").iterdir()}
    assert {"model.onnx", "index.html", "model.js", "config.js", "predict.py"} <= files
    assert not any("int8" in f or f.endswith(".partial") or f.startswith(".") for f in files), files
    cfg = json.loads((tmp_path / "web" / "config.json").read_text())
    assert cfg["web"]["model"] == "model.onnx" and "agrees" in cfg["refused"]["onnx-int8"]
    embedded = (tmp_path / "web" / "model.js").read_text()
    assert base64.b64encode((tmp_path / "web" / "model.onnx").read_bytes()).decode() in embedded
    config = (tmp_path / "web" / "config.js").read_text()  # the final config.json, as the page reads it
    assert base64.b64encode((tmp_path / "web" / "config.json").read_bytes()).decode() in config


def test_a_damaged_vendored_runtime_is_refused(image_run, tmp_path, monkeypatch):
    from konstrukt.exporting import web

    monkeypatch.setitem(web.VENDOR, "ort.wasm.min.js", "0" * 64)
    with pytest.raises(RunError, match="not version"):
        konstrukt.export(image_run, tmp_path / "web", format="web")
    assert not (tmp_path / "web").exists()
