"""The one rule for class names (labels), wherever they come from.

A label reaches the core as a folder name, a cell of a labels CSV, or a class created in the
service — and from there it goes into reports, plots, model cards, bundle configs and file
systems. One rule, checked where labels enter (:func:`konstrukt.data.discover` and the service's
class names), keeps every later stage safe:

* not empty, no leading or trailing spaces (a CSV cell's spaces are invisible in a table);
* printable characters only (``str.isprintable``): no newline, tab, NUL, escape, bidi control or
  other control/format character that could break a line of a report, a terminal or a file;
* at most :data:`MAX_LABEL_BYTES` bytes of UTF-8 — a limit in bytes, not characters, because file
  systems limit names in bytes (255 on most), and 100 four-byte characters do not fit a folder.

Labels may hold quotes, slashes and any printable script: the core never pastes them into code
or builds paths from them.
"""
from __future__ import annotations

MAX_LABEL_BYTES = 100
LABEL_FIX = (f"Fix: use a class name of printable characters, at most {MAX_LABEL_BYTES} bytes "
             "in UTF-8 (e.g. `cat`, `machine fault 2`), without line breaks or tabs.")


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot be a class name, or None when it can."""
    if not isinstance(label, str) or not label:
        return "a class name must not be empty"
    if label != label.strip():
        return f"class name {label[:40]!r} starts or ends with a space"
    bad = next((c for c in label if not c.isprintable()), None)
    if bad is not None:
        return f"class name {label[:40]!r} contains a character that is not printable (U+{ord(bad):04X})"
    size = len(label.encode("utf-8"))  # (surrogates are not printable: refused above)
    if size > MAX_LABEL_BYTES:
        return f"class name {label[:20]!r}… is {size} bytes in UTF-8; the limit is {MAX_LABEL_BYTES} bytes"
    return None


class LabelProblems:
    """Collects bad labels while a source is read: each bad label once, with the first place it
    was seen, and the fix once at the end."""

    def __init__(self, problems: list[str]):
        self.problems, self.seen = problems, set()

    def ok(self, label: str, where: str) -> bool:
        why = label_problem(label)
        if why is None:
            return True
        if label not in self.seen:
            self.seen.add(label)
            self.problems.append(f"{where}: {why}")
        return False

    def finish(self) -> None:
        """Add the fix (once) after the problems, when there were any."""
        if self.seen:
            self.problems.append(LABEL_FIX)
