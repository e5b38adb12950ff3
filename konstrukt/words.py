"""Small helpers for messages in plain English: counts with the right noun form, and articles.

Every face prints what the core writes, so "1 runs", "1 file(s)" or "a image project" would reach
every user; these two functions are the one place that gets them right.
"""
from __future__ import annotations

# plurals that are not the noun + "s"
_IRREGULAR = {"class": "classes", "copy": "copies", "entry": "entries", "this": "these", "is": "are",
              "was": "were"}


def plural(noun: str) -> str:
    """``noun``'s plural: the irregular ones we use, else noun + "s"."""
    return _IRREGULAR.get(noun, noun + "s")


def agree(n: int, one: str, many: str | None = None) -> str:
    """The form of ``one`` (a noun or a verb) that agrees with ``n``: agree(2, "is", "are") == "are"."""
    return one if n == 1 else (many or plural(one))


def count(n: int, noun: str, many: str | None = None) -> str:
    """``"1 file"``, ``"3 files"``, ``"2 classes"``: the number and the noun in the form it needs."""
    return f"{n} {agree(n, noun, many)}"


def a(word: str) -> str:
    """``word`` with its indefinite article: "an image", "a sound", "an ONNX model"."""
    return f"{'an' if word[:1].lower() in 'aeio' or word[:4].lower() in ('onnx', 'int8') else 'a'} {word}"
