"""The service's files through the blob store: samples, job manifests and run folders by key.

Keys follow the data directory's layout, so the default store — a :class:`LocalBlobStore` on the
data directory — is today's folder tree (old data directories keep working, nothing is copied)::

    projects/<project>/samples/<class id>/<sample id><ext>
    projects/<project>/jobs/<job>/manifest.json       which samples the job trains on (key + sha256)
    projects/<project>/jobs/<job>/run/…               the run folder, put there after training

With ``storage_url=s3://…`` the same keys live in the bucket, and this machine keeps only caches
under ``<data dir>/cache``: sample files by content hash (for previews and data health) and run
folders (for results, Try it, downloads and export), fetched on first use. The training worker
lays a job's files out locally (``jobs/<job>/data``, ``jobs/<job>/run``) and, with a remote store,
puts the run in the store and removes its local copy.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from functools import lru_cache
from pathlib import Path, PurePosixPath

from ..blobstore import BlobStore, LocalBlobStore, Manifest, ManifestEntry, materialize, open_store
from ..blobstore.manifest import LABELS_FILE
from ..errors import StorageError
from .settings import Settings
from .storage import file_digest, job_dir, remove_tree, tmp_dir

COMPLETE = ".run-complete"  # beside a fully fetched run folder in the cache
_run_fetch = threading.Lock()  # one fetch of a run at a time (concurrent Try it requests)


@lru_cache(maxsize=8)
def _open(url: str) -> BlobStore:
    return open_store(url)


def store_of(settings: Settings) -> BlobStore:
    """The settings' blob store (one per URL per process: an S3 client is costly to build)."""
    return _open(settings.storage_url) if settings.storage_url else LocalBlobStore(settings.data_dir)


def is_local(settings: Settings) -> bool:
    """True when the store is the data directory itself (the default): no copies, no caches."""
    store = store_of(settings)
    return isinstance(store, LocalBlobStore) and store.root.resolve() == settings.data_dir.resolve()


def project_prefix(project_id: int) -> str:
    return f"projects/{project_id}"


def class_prefix(project_id: int, class_id: int) -> str:
    return f"projects/{project_id}/samples/{class_id}"


def sample_key(project_id: int, class_id: int, stored_name: str) -> str:
    return f"{class_prefix(project_id, class_id)}/{stored_name}"


def job_prefix(project_id: int, job_id: int) -> str:
    return f"projects/{project_id}/jobs/{job_id}"


def run_prefix(project_id: int, job_id: int) -> str:
    return f"{job_prefix(project_id, job_id)}/run"


def manifest_key(project_id: int, job_id: int) -> str:
    return f"{job_prefix(project_id, job_id)}/manifest.json"


def uploaded_names(settings: Settings, project_id: int, job_id: int, data: Path) -> dict[Path, str]:
    """Each of a job's training files (under ``data``) → the name its user uploaded it as
    (``class/uploaded name``), so messages about a file name it as the user knows it."""
    manifest = Manifest.from_json(store_of(settings).get_bytes(manifest_key(project_id, job_id)).decode())
    return {data.joinpath(*PurePosixPath(e.path).parts): e.shown for e in manifest.entries}


def cache_dir(settings: Settings) -> Path:
    return settings.data_dir / "cache"


def blob_cache(settings: Settings) -> Path:
    """Sample files fetched from a remote store, named by content hash."""
    return cache_dir(settings) / "blobs"


def _cached_blob(settings: Settings, digest: str, suffix: str) -> Path:
    return blob_cache(settings) / digest[:2] / f"{digest}{suffix}"


# -- samples ---------------------------------------------------------------------------------------

def keep_sample(settings: Settings, key: str, staged: Path, digest: str) -> None:
    """Store a checked upload under ``key``: moved into place locally; put in a remote store (and
    kept in the local cache by its hash, so previews and data health need no download)."""
    store = store_of(settings)
    if is_local(settings):
        dest = store.local_path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staged), dest)
        return
    store.put_file(key, staged)
    cached = _cached_blob(settings, digest, PurePosixPath(key).suffix)
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staged), cached)


def sample_path(settings: Settings, key: str, digest: str | None) -> Path | None:
    """A local file with the content of the sample ``key`` (None if the store has no such object):
    the stored file itself locally, a hash-checked cached copy for a remote store."""
    store = store_of(settings)
    local = store.local_path(key)
    if local is not None:
        return local if local.is_file() else None
    if not digest:
        return None
    cached = _cached_blob(settings, digest, PurePosixPath(key).suffix)
    if cached.is_file():
        return cached
    try:
        fetched = store.get_file(key, cached.with_name(f".part-{os.getpid()}-{cached.name}"))
    except StorageError as exc:
        if "is not in the store" in exc.message:
            return None
        raise
    if file_digest(fetched) != digest:  # changed behind our back: not the sample the user uploaded
        fetched.unlink(missing_ok=True)
        return None
    os.replace(fetched, cached)
    return cached


def delete_sample(settings: Settings, key: str) -> None:
    store_of(settings).delete(key)


def delete_prefix(settings: Settings, prefix: str) -> None:
    store_of(settings).delete_prefix(prefix)


def move_sample(settings: Settings, src: str, dest: str) -> None:
    store_of(settings).move(src, dest)


# -- jobs --------------------------------------------------------------------------------------------

def build_manifest(settings: Settings, project) -> Manifest:
    """Every sample of ``project`` as ``<class id>/<stored name>`` with its key, sha256 and class
    name: the job's folder is named by ids and read through the manifest's labels file."""
    entries = []
    for label in project.classes:
        for sample in label.samples:
            key = sample_key(project.id, label.id, sample.stored_name)
            digest = sample.digest
            if not digest:  # rows stored before digests existed: the local file is at hand
                path = sample_path(settings, key, None)
                if path is None:
                    raise StorageError(f"{label.name}/{sample.filename} is missing from the store",
                                       ["Fix: delete this example and upload it again."])
                digest = sample.digest = file_digest(path)
            entries.append(ManifestEntry(key=key, path=f"{label.id}/{sample.stored_name}", sha256=digest,
                                         size=sample.size, name=sample.filename, label=label.name,
                                         text=sample.text if project.kind == "sequence" else None))
    return Manifest(entries, labelled=True, sequence=project.kind == "sequence")


def snapshot_job(settings: Settings, project, job) -> Path:
    """Write the job's manifest to the store and lay its files out for the queue-time check;
    return the labels file to read them by (:data:`LABELS_FILE`).

    Locally the layout is ``jobs/<job>/data`` (hard links, as always) and the worker trains on it.
    With a remote store it is a scratch folder (filled from the hash cache) that the caller removes:
    the worker fetches the job's files from the store by the manifest."""
    manifest = build_manifest(settings, project)
    store = store_of(settings)
    store.put_bytes(manifest_key(project.id, job.id), manifest.to_json().encode())
    if is_local(settings):
        return materialize(store, manifest, job_dir(settings.data_dir, project.id, job.id) / "data") / LABELS_FILE
    dest = Path(tempfile.mkdtemp(dir=tmp_dir(settings.data_dir), prefix="check-"))
    manifest.write_labels(dest)
    for entry in manifest.entries:  # the uploads are in the hash cache; fetch what is not
        src = sample_path(settings, entry.key, entry.sha256)
        if src is None:
            remove_tree(dest)
            raise StorageError(f"{entry.shown} is missing from the store (or changed since it was uploaded)",
                               ["Fix: delete this example and upload it again."])
        target = dest.joinpath(*PurePosixPath(entry.path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)
    return dest / LABELS_FILE


def fetch_job_data(settings: Settings, project_id: int, job_id: int, dest: Path) -> Path:
    """The worker's side: lay out the job's files under ``dest`` from its manifest (links locally,
    downloads with a hash check from a remote store). Kept if already there (the local default)."""
    if dest.is_dir():
        return dest
    store = store_of(settings)
    try:
        manifest = Manifest.from_json(store.get_bytes(manifest_key(project_id, job_id)))
    except StorageError as exc:
        if "is not in the store" in exc.message:
            raise StorageError("the job's list of files (manifest) is missing from the store",
                               ["Fix: press Train again to start a new job."]) from None
        raise
    part = dest.with_name(dest.name + ".part")
    remove_tree(part)
    try:
        materialize(store, manifest, part)
    except BaseException:
        remove_tree(part)
        raise
    part.rename(dest)
    return dest


def push_run(settings: Settings, project_id: int, job_id: int, folder: Path) -> None:
    """Put a finished run folder in the store (a no-op locally: it is written in place)."""
    if is_local(settings):
        return
    store_of(settings).put_tree(run_prefix(project_id, job_id), folder)


def run_folder(settings: Settings, project_id: int, job_id: int) -> Path:
    """A local folder holding the job's run: in place locally, else fetched once into the cache."""
    if is_local(settings):
        return job_dir(settings.data_dir, project_id, job_id) / "run"
    dest = cache_dir(settings) / "runs" / str(project_id) / str(job_id) / "run"
    if (dest.parent / COMPLETE).is_file():
        return dest
    with _run_fetch:
        if not (dest.parent / COMPLETE).is_file():
            _fetch_run(settings, project_id, job_id, dest)
    return dest


def _fetch_run(settings: Settings, project_id: int, job_id: int, dest: Path) -> None:
    part = Path(tempfile.mkdtemp(dir=tmp_dir(settings.data_dir), prefix="run-"))
    try:
        store_of(settings).get_tree(run_prefix(project_id, job_id), part)
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_tree(dest)
        part.rename(dest)
        (dest.parent / COMPLETE).touch()
    finally:
        remove_tree(part)


def job_run(settings: Settings, job, folder: Path):
    """The job's run loaded from ``folder`` with its data files found here: the report names them
    relative to the job's data folder (a compare's pipeline runs: the compare job's), which is
    ``jobs/<job>/data`` locally, or the hash cache's copies of a remote store's files."""
    from ..inference import load_run

    run = load_run(folder)
    data_job = (job.summary or {}).get("compare_job") or job.id
    if is_local(settings):
        root = job_dir(settings.data_dir, job.project_id, data_job) / "data"
        if root.is_dir():  # else: a run brought in from elsewhere keeps the data root it was saved with
            run.data_root = root
    else:
        localize_data_files(settings, job.project_id, data_job, run.report)
    return run


def localize_data_files(settings: Settings, project_id: int, job_id: int, report: dict) -> None:
    """Point a run report's data files (paths on the worker that trained it) at copies here, found
    by the job's manifest: export's parity check and INT8 calibration read them. A file deleted
    from the project since keeps its old path (and is skipped, as a missing file always was)."""
    files = (report.get("data") or {}).get("files") or report.get("data_files") or {}  # a sequence run's: data_files
    if not files:
        return
    try:
        manifest = Manifest.from_json(store_of(settings).get_bytes(manifest_key(project_id, job_id)))
    except StorageError:
        return
    by_rel = {e.path: e for e in manifest.entries}
    for split, paths in files.items():
        out = []
        for path in paths:
            entry = by_rel.get("/".join(PurePosixPath(str(path)).parts[-2:]))
            local = sample_path(settings, entry.key, entry.sha256) if entry else None
            out.append(str(local) if local else path)
        files[split] = out


def forget_job(settings: Settings, project_id: int, job_id: int) -> None:
    """Remove a job's files: its folder here, its cached run, and its keys in a remote store."""
    remove_tree(job_dir(settings.data_dir, project_id, job_id))
    if not is_local(settings):
        remove_tree(cache_dir(settings) / "runs" / str(project_id) / str(job_id))
        store_of(settings).delete_prefix(job_prefix(project_id, job_id))


def forget_project(settings: Settings, project_id: int) -> None:
    from .storage import project_dir

    remove_tree(project_dir(settings.data_dir, project_id))
    if not is_local(settings):
        remove_tree(cache_dir(settings) / "runs" / str(project_id))
        store_of(settings).delete_prefix(project_prefix(project_id))
