"""Job manifests: exactly which stored files a job trains on, by key and content hash.

A manifest replaces a folder of hard links, so a worker on another machine can fetch the job's
files from the blob store and prove it got the bytes the user uploaded.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from ..data.samples import file_digest
from ..errors import StorageError
from .base import BlobStore, check_key


LABELS_FILE = "labels.csv"  # written beside the files when the manifest names their classes


@dataclass(frozen=True)
class ManifestEntry:
    key: str  # where the bytes are in the store
    path: str  # where they go in the training folder: "<class id>/<file>" (or a shipped folder's path)
    sha256: str
    size: int
    name: str = ""  # what the user calls the file (the uploaded name), for messages
    label: str = ""  # its class name, when the manifest says it (then LABELS_FILE lists every file)
    text: str | None = None  # a sequence job's target text (then LABELS_FILE is ``path,text``)

    @property
    def shown(self) -> str:
        """The file as the user knows it: ``<class>/<uploaded name>``."""
        folder = self.label or PurePosixPath(self.path).parent
        return f"{folder}/{self.name}" if self.name else self.path


@dataclass
class Manifest:
    entries: list[ManifestEntry] = field(default_factory=list)
    labelled: bool = False  # each entry names its class: read through LABELS_FILE, not folder names
    sequence: bool = False  # each entry carries its text: LABELS_FILE is ``path,text`` (a sequence run)

    def to_json(self) -> str:
        return json.dumps({"version": 1, "labelled": self.labelled, "sequence": self.sequence,
                           "entries": [asdict(e) for e in self.entries]})

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        try:
            raw = json.loads(text)
            entries = [ManifestEntry(**e) for e in raw["entries"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"the job manifest is damaged ({exc})") from None
        return cls(entries, bool(raw.get("labelled")), bool(raw.get("sequence")))

    def write_labels(self, dest: Path) -> Path | None:
        """Write ``dest/LABELS_FILE`` (``path,label`` rows) when the manifest names the classes.

        The data is then read as exactly these (file, class) pairs: a user's class names never
        decide how a folder is read (a class named ``train`` is not a split) and never become
        folder names (their length and characters do not meet the file system)."""
        if not self.labelled:
            return None
        import csv
        import io

        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if self.sequence:  # a recording → its text: the labels CSV makes a sequence run
            writer.writerow(["path", "text"])
            writer.writerows((e.path, e.text or "") for e in self.entries)
        else:
            writer.writerow(["path", "label"])
            writer.writerows((e.path, e.label) for e in self.entries if e.label)
        (dest / LABELS_FILE).write_text(buf.getvalue(), encoding="utf-8")
        return dest / LABELS_FILE


def _safe_relpath(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or not rel.parts or any(p in ("", ".", "..") for p in rel.parts) or "\\" in path:
        raise StorageError(f"the job manifest names an unsafe path: {path!r}")
    return rel


FETCH_THREADS = 8  # parallel downloads from a remote store (each a round trip)


def materialize(store: BlobStore, manifest: Manifest, dest: Path) -> Path:
    """Lay the manifest's files out under ``dest`` (``dest/<class>/<file>``), linking when the store
    is local and fetching otherwise (several at a time); every fetched file's hash is checked.
    Returns ``dest``."""
    jobs = []
    for entry in manifest.entries:  # every key and path is checked before anything is written
        check_key(entry.key)
        jobs.append((entry, dest.joinpath(*_safe_relpath(entry.path).parts)))
    for folder in sorted({target.parent for _, target in jobs}):
        folder.mkdir(parents=True, exist_ok=True)
    dest.mkdir(parents=True, exist_ok=True)
    manifest.write_labels(dest)
    if jobs and store.local_path(jobs[0][0].key) is not None:
        for entry, target in jobs:
            _link(store, entry, target)
        return dest
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(FETCH_THREADS, max(1, len(jobs)))) as pool:
        for _ in pool.map(lambda job: _fetch(store, *job), jobs):  # re-raises the first failure
            pass
    return dest


def _link(store: BlobStore, entry: ManifestEntry, target: Path) -> None:
    local = store.local_path(entry.key)
    if not local.is_file():
        raise StorageError(f"{entry.shown} is missing from the store (key {entry.key})")
    try:
        os.link(local, target)
    except OSError:
        shutil.copyfile(local, target)
    # no hash check: the local store is the uploads themselves, hashed when they were stored


def _fetch(store: BlobStore, entry: ManifestEntry, target: Path) -> None:
    try:
        store.get_file(entry.key, target)
    except StorageError as exc:
        if "is not in the store" in exc.message:
            raise StorageError(f"{entry.shown} is missing from the store (key {entry.key})",
                               ["Fix: delete this example and upload it again, then train again."]) from None
        raise
    if file_digest(target) != entry.sha256:
        target.unlink(missing_ok=True)
        raise StorageError(f"{entry.shown} changed in the store since the job was queued "
                           f"(content hash differs for key {entry.key})",
                           ["Fix: delete this example and upload it again, then train again."])
