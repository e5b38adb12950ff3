"""The records of labelled data: a :class:`Sample` (a file, or a window of a long recording) and
a :class:`Dataset` of them, and the content hash that identifies a file. Every reader of labelled
data (:mod:`konstrukt.data.sources`, :mod:`konstrukt.data.segments`) builds these.
"""
from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    split: str | None = None  # "train" | "val" | "test" when the data came pre-split
    digest: str = ""  # sha256 of the file's bytes: cache key and duplicate detection
    start: float | None = None  # a window of a long recording: its start and end, seconds
    end: float | None = None
    group: str | None = None  # samples of one group (recording/subject) stay in one split
    origin: str = ""  # where it was named ("labels.csv row 7"), for messages


@dataclass
class Dataset:
    samples: list[Sample]
    classes: list[str]
    source: str
    warnings: list[str] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    root: Path | None = None  # the folder file paths are relative to (a CSV's folder, the data folder)

    @property
    def name(self) -> str:
        """The data's own name (its folder, zip or CSV), without the folders above it."""
        return Path(self.source).name

    def relative(self, path: Path | str) -> str:
        """``path`` relative to the data root (POSIX), as reports store it: no machine's folders."""
        if self.root is not None:
            try:
                return Path(path).relative_to(self.root).as_posix()
            except ValueError:  # a CSV naming files outside its folder: only the name is shown
                return Path(path).name
        return str(path)

    @property
    def presplit(self) -> bool:
        return any(s.split for s in self.samples)

    def labels(self) -> list[str]:
        return [s.label for s in self.samples]

    def groups(self) -> list[str] | None:
        """Each sample's group (recording/subject) when splits must keep groups whole, else None."""
        if not any(s.group for s in self.samples):
            return None
        return [s.group or f"{s.path}" for s in self.samples]

    def fingerprint(self) -> str:
        """A hash of (label, content) pairs: equal data ⇒ equal fingerprint, whatever the paths."""
        h = hashlib.sha256()
        for label, digest in sorted((s.label, s.digest) for s in self.samples):
            h.update(f"{label}\0{digest}\n".encode())
        return h.hexdigest()[:16]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
