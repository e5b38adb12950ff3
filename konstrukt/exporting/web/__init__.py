"""``export --format web``: the ONNX model as a web page that runs offline in a browser.

The folder holds ``index.html`` and plain scripts only, so the page works opened from disk
(``file://``, where a browser refuses to fetch files or load modules) as well as from any static
host: the model, the bundle's config.json and onnxruntime-web's WASM build are embedded as base64
strings in classic scripts (``model.js``, ``config.js``, ``ort-runtime.js``) that the page
decodes. Nothing is fetched from the network. Base64 holds any bytes and cannot end a string, so the
generated scripts never carry a value a user wrote as code (class names live in config.json).

The page's input part — how a file (or the camera, the microphone) becomes the model's input, as
konstrukt's preprocessing does it — is the modality's own script (its ``ExportHooks.web_script``),
copied as ``input.js``; ``konstrukt-web.js`` is the same for every modality.

onnxruntime-web is vendored in ``vendor/`` at a pinned version (``scripts/vendor_onnxruntime_web.sh``
reproduces it from npm); the files are checked against their sha256 before they are copied.
"""
from __future__ import annotations

import base64
import hashlib
import shutil
from importlib import resources
from pathlib import Path

from ...errors import RunError

ORT_WEB_VERSION = "1.31.1"
# the files the page loads (single-threaded WASM: no SharedArrayBuffer, works from file://)
VENDOR = {"ort.wasm.min.js": "b8a78c408c40da65fdc8ba0846f7b2948e92a4c6d6b23cc8e4165e428ad95443",
          "ort-wasm-simd-threaded.mjs": "30ed0b5cd1182ede931fea448afb567d4dc705ec957af09f108a2be5f770dac3",
          "ort-wasm-simd-threaded.wasm": "4b884c203b0fa48d057be3332c65513ff85aa3c5bddd6946acc0fab7ecda001d"}
LICENSE = "LICENSE-onnxruntime.txt"
PAGE = ("index.html", "konstrukt-web.js", "style.css")
# the embedded files' names in the page (konstruktFiles[...]): fixed strings, never user values
MODEL_NAME, CONFIG_NAME = "model.onnx", "config.json"


def _asset(name: str):
    return resources.files(__name__).joinpath(name)


def _embedded(name: str, data: bytes) -> str:
    """A classic script that adds ``data`` (base64) to ``self.konstruktFiles[name]``."""
    return (f'(self.konstruktFiles = self.konstruktFiles || {{}})["{name}"] = "'
            + base64.b64encode(data).decode("ascii") + '";\n')


def input_script(modality: str) -> str:
    """The modality's page script (its wing's ``web_script`` hook); a clear error when it has none."""
    from ...tasks import MODALITIES

    hook = MODALITIES.get(modality).export.web_script
    if hook is None:
        raise RunError(f"a web page is not available for {modality} models yet",
                       ["Fix: use --format onnx (or onnx-int8): it runs with numpy and onnxruntime."])
    return hook()


def vendor_bytes(name: str) -> bytes:
    """A vendored onnxruntime-web file, refused when it is not the pinned one."""
    data = _asset("vendor").joinpath(name).read_bytes()
    if hashlib.sha256(data).hexdigest() != VENDOR[name]:
        raise RunError(f"the vendored onnxruntime-web file {name} is not version {ORT_WEB_VERSION}'s",
                       ["Fix: reinstall konstrukt (or run scripts/vendor_onnxruntime_web.sh)."])
    return data


def check_ready(modality: str) -> None:
    """Before any export work: the modality has a page, and the vendored runtime is intact."""
    input_script(modality)
    for name in VENDOR:
        vendor_bytes(name)


def write_page(folder: Path, modality: str, model_file: str) -> dict[str, str]:
    """Write the page around ``folder/model_file`` (config.js comes last: :func:`embed_config`).
    Returns the files it adds, by config.json key."""
    script = input_script(modality)  # first: a modality without a page writes nothing
    for name in PAGE:
        (folder / name).write_bytes(_asset(name).read_bytes())
    (folder / "input.js").write_text(script, encoding="utf-8")
    # beside index.html, no sub-folder: the exporter's zip holds one flat folder
    (folder / "ort.wasm.min.js").write_bytes(vendor_bytes("ort.wasm.min.js"))
    runtime = (_embedded("ort-wasm-simd-threaded.mjs", vendor_bytes("ort-wasm-simd-threaded.mjs"))
               + _embedded("ort-wasm-simd-threaded.wasm", vendor_bytes("ort-wasm-simd-threaded.wasm")))
    (folder / "ort-runtime.js").write_text(runtime, encoding="ascii")
    with _asset("vendor").joinpath(LICENSE).open("rb") as src, open(folder / LICENSE, "wb") as dst:
        shutil.copyfileobj(src, dst)
    (folder / "model.js").write_text(_embedded(MODEL_NAME, (folder / model_file).read_bytes()), encoding="ascii")
    return {"web_page": "index.html", "web_model": "model.js", "web_runtime": "ort-runtime.js",
            "web_runtime_license": LICENSE}


def embed_config(folder: Path) -> None:
    """config.js: the final config.json, embedded for the page."""
    data = (folder / "config.json").read_bytes()
    (folder / "config.js").write_text(_embedded(CONFIG_NAME, data), encoding="ascii")
