"""The exported web page's speed in headless Chromium next to onnxruntime in Python, on this machine.

    nice python bench/web_export_speed.py            # scratch CNN (64 px) and scratch log-mel CNN (1 s)
    nice python bench/web_export_speed.py --quick    # fewer repetitions

For each case it trains a small run offline (sklearn's digits, synthesised sounds), exports it with
``konstrukt export --format web``, then opens the page from file:// (network blocked) and times:
load (navigation until ``konstrukt.ready`` resolves: scripts parsed, WASM compiled, the model's
session created) and per-file inference (``konstrukt.predict(file)``: decoding, preprocessing and
the model, median over repetitions). The Python side is the same bundle's predict.py (the same
ONNX file, onnxruntime CPU): session creation, and ``predict(path)`` per file, with onnxruntime
limited to one thread (as the page's single-threaded WASM) and with every core. The export puts the
INT8 model in the page (where its parity check passes); for comparison the same page is also timed
with the fp32 model (from ``--format onnx``) embedded instead.
"""
from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KONSTRUKT_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import konstrukt  # noqa: E402
from konstrukt.demo import write_digits  # noqa: E402
from konstrukt.demo_sound import write_sound_demo  # noqa: E402
from konstrukt.exporting import web  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CASES = [("scratch CNN (64 px)", "scratch_cnn", "image", {"num_epochs": 3, "cv": 0, "image_size": 64}),
         ("scratch log-mel CNN (1 s)", "scratch_melcnn", "sound",
          {"num_epochs": 2, "cv": 0, "audio": {"duration": 1.0}})]


def _data(task: str, root: Path) -> Path:
    if task == "image":
        return write_digits(root / "digits", per_class=20)
    return write_sound_demo(root / "sounds", per_class=12, seconds=1.0)


def page_times(folder: Path, file: Path, reps: int) -> tuple[float, list[float]]:
    """(load seconds, per-inference seconds) in headless Chromium from file://, network blocked."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "blob:", "data:"))
                   else r.abort())
        page.goto((folder / "index.html").as_uri())
        load = page.evaluate("konstrukt.ready.then(() => konstrukt.readyAt / 1000)")  # since navigation
        times = page.evaluate("""async ([name, b64, reps]) => {
            const file = new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name);
            await konstrukt.predict(file);  // warm-up
            const out = [];
            for (let i = 0; i < reps; i++) {
              const t = performance.now(); await konstrukt.predict(file); out.push((performance.now() - t) / 1000);
            }
            return out;
        }""", [file.name, base64.b64encode(file.read_bytes()).decode(), reps])
        browser.close()
    return load, times


def python_times(folder: Path, file: Path, reps: int, threads: int) -> tuple[float, list[float]]:
    """(session start seconds, per-inference seconds) with the bundle's own predict.py."""
    import onnxruntime as ort

    spec = importlib.util.spec_from_file_location(f"bundle_predict_{threads}", folder / "predict.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    t0 = time.perf_counter()
    name = mod.MODEL_FILE
    mod._SESSION[name] = ort.InferenceSession(str(folder / name), opts, providers=["CPUExecutionProvider"])
    start = time.perf_counter() - t0
    mod.predict(file)  # warm-up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        mod.predict(file)
        out.append(time.perf_counter() - t)
    return start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    reps = 10 if args.quick else 50
    ms = lambda s: f"{1000 * s:7.1f} ms"  # noqa: E731
    print(f"{os.cpu_count()} CPUs; median of {reps} calls per figure; page from file://, network blocked\n")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for title, pipeline, task, cfg in CASES:
            run = konstrukt.train(_data(task, tmp), task=task, pipeline=pipeline, out=tmp / pipeline,
                                  config=cfg, verbose=False)
            folder = tmp / f"{pipeline}-web"
            konstrukt.export(run, folder, format="web")
            model = next(f for f in ("model.int8.onnx", "model.onnx") if (folder / f).exists())
            size = sum(f.stat().st_size for f in folder.iterdir())
            fp32 = tmp / f"{pipeline}-onnx"  # the same page with the fp32 model embedded
            konstrukt.export(run, fp32, format="onnx")
            page32 = tmp / f"{pipeline}-web-fp32"
            shutil.copytree(folder, page32)
            (page32 / "model.js").write_text(web._embedded(web.MODEL_NAME, (fp32 / "model.onnx").read_bytes()))
            file = run.data_files("test")[0]
            kind = "INT8" if "int8" in model else "fp32"
            rows = [(f"Chromium page, {kind} (WASM, 1 thread)", *page_times(folder, file, reps))]
            if kind == "INT8":
                rows.append(("Chromium page, fp32 (WASM, 1 thread)", *page_times(page32, file, reps)))
            for threads in (1, os.cpu_count() or 1):
                many = f"{threads} thread{'s' if threads > 1 else ''}"
                rows.append((f"onnxruntime Python, {kind} ({many})", *python_times(folder, file, reps, threads)))
                if kind == "INT8":
                    rows.append((f"onnxruntime Python, fp32 ({many})", *python_times(fp32, file, reps, threads)))
            print(f"{title}: {model} ({(folder / model).stat().st_size / 1e3:.0f} kB), page folder "
                  f"{size / 1e6:.1f} MB")
            print(f"  {'':42}{'load / session':>16}{'per file (p50)':>17}")
            for name, start, t in rows:
                print(f"  {name:42}{ms(start):>16}{ms(statistics.median(t)):>17}")
            print()


if __name__ == "__main__":
    main()
