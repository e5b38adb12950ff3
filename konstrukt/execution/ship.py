"""Getting a job's files to a worker that may be on another machine: manifests over a blob store."""
from __future__ import annotations

from pathlib import Path

from ..blobstore import BlobStore, Manifest, ManifestEntry, check_key
from ..data.samples import file_digest


def manifest_of_folder(folder: Path, key_of) -> Manifest:
    """A manifest of every file under ``folder``; ``key_of(path)`` says where each one is stored."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        entries.append(ManifestEntry(key=check_key(key_of(path)), path=path.relative_to(folder).as_posix(),
                                     sha256=file_digest(path), size=path.stat().st_size))
    return Manifest(entries)


def ship_path(store: BlobStore, prefix: str, source: Path) -> tuple[Manifest, str]:
    """Upload ``source`` (a folder of class folders, or one .zip/.csv file) under ``prefix``.

    Returns the manifest and the path inside the materialized folder to train on ("" for a folder).
    """
    source = Path(source).expanduser()
    if source.is_dir():
        manifest = manifest_of_folder(source, lambda p: f"{prefix}/{p.relative_to(source).as_posix()}")
        data_path = ""
        files = {e.key: source / e.path for e in manifest.entries}
    else:
        name = source.name if check_key(source.name) else "data"
        manifest = Manifest([ManifestEntry(key=f"{prefix}/{name}", path=name, sha256=file_digest(source),
                                           size=source.stat().st_size)])
        data_path = name
        files = {f"{prefix}/{name}": source}
    for key, path in files.items():
        store.put_file(key, path)
    return manifest, data_path
