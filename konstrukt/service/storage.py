"""Files on disk: where samples and runs live, and how uploads reach them.

Layout under the data directory::

    projects/<project>/samples/<class id>/<sample id><ext>
    projects/<project>/jobs/<job>/data/<class name>/…   hard-linked snapshot the job trains on
    projects/<project>/jobs/<job>/run/                  the run directory ``konstrukt.train`` writes
    tmp/                                                uploads being checked

Uploads are copied to ``tmp`` in chunks with a size limit, checked by the core's own validators
(:func:`konstrukt.data.check_file`, :func:`konstrukt.data.safe_extract_zip`) and only then moved
next to the samples already stored, so a bad file never replaces or loses a good one.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator

from ..data.samples import file_digest  # noqa: F401 — the service hashes uploads the same way
from ..errors import KonstruktError

CHUNK = 1 << 20
_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")
_HIDDEN_PARTS = ("__MACOSX",)


class TooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"larger than the limit of {limit / 1024**2:.0f} MiB")
        self.limit = limit


def project_dir(data_dir: Path, project_id: int) -> Path:
    return data_dir / "projects" / str(project_id)


def class_dir(data_dir: Path, project_id: int, class_id: int) -> Path:
    return project_dir(data_dir, project_id) / "samples" / str(class_id)


def job_dir(data_dir: Path, project_id: int, job_id: int) -> Path:
    return project_dir(data_dir, project_id) / "jobs" / str(job_id)


def tmp_dir(data_dir: Path) -> Path:
    path = data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=8)
def scratch_dir(data_dir: Path) -> Path:
    """Where short-lived files (a Try it upload) go: memory-backed /dev/shm when usable."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = shm / f"konstrukt-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
        if path.stat().st_uid == os.getuid():
            return path
    return tmp_dir(data_dir)


def safe_suffix(filename: str) -> str:
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    return suffix if _EXT.match(suffix) else ""


def display_name(filename: str | None) -> str:
    """The last path part of an uploaded name, cleaned for display (never used as a path)."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable())[:200]
    return name or "unnamed"


def copy_limited(src: BinaryIO, dest: Path, limit: int) -> int:
    """Copy a stream to ``dest`` in chunks; raise TooLarge (and remove ``dest``) past ``limit``."""
    size = 0
    try:
        with open(dest, "wb") as out:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(limit)
                out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size


@contextmanager
def staged_upload(stream: BinaryIO, filename: str, data_dir: Path, limit: int) -> Iterator[Path]:
    """The upload copied (within ``limit``) to a temporary file with its suffix; removed afterwards."""
    fd, name = tempfile.mkstemp(dir=scratch_dir(data_dir), suffix=safe_suffix(filename))
    os.close(fd)
    path = Path(name)
    try:
        copy_limited(stream, path, limit)
        yield path
    finally:
        path.unlink(missing_ok=True)


@dataclass
class Checked:
    """Files that passed the core's checks (in tmp, ready to move) and those that did not."""

    accepted: list[tuple[str, Path]] = field(default_factory=list)  # (display name, tmp path)
    rejected: list[dict] = field(default_factory=list)  # {"file", "error"}

    def reject(self, name: str, error: str) -> None:
        self.rejected.append({"file": name, "error": error})


_PATH_END = r"[^\s'\"`,;:)\]]*"


def server_roots() -> list[str]:
    """Folders whose paths must never reach a client: the data dirs in use, scratch and temp."""
    roots = {tempfile.gettempdir(), "/dev/shm", *_DATA_DIRS, *_cache_dirs()}
    return sorted((r.rstrip("/") for r in roots if r and r != "/"), key=len, reverse=True)


_DATA_DIRS: set[str] = set()


def _cache_dirs() -> set[str]:
    """The weight and model caches (torch hub, Hugging Face, ~/.cache): an exception may name them."""
    home_cache = os.path.expanduser("~/.cache")
    return {home_cache, os.environ.get("TORCH_HOME", ""), os.environ.get("HF_HOME", ""),
            os.environ.get("KONSTRUKT_CACHE", "")} - {"", "~/.cache"}


def register_data_dir(data_dir: Path) -> None:
    """Remember a data directory so :func:`hide_paths` hides it (called when the app starts)."""
    _DATA_DIRS.update({str(data_dir), str(data_dir.resolve())})


def hide_paths(text: str, names: dict[Path, str] | None = None) -> str:
    """``text`` for a client: each path in ``names`` becomes the user's name for it, and any other
    path under a server folder (data dir, temp, /dev/shm) becomes just its file name."""
    for path, name in (names or {}).items():
        text = text.replace(str(path), name)
    for root in server_roots():
        text = re.sub(re.escape(root) + r"/?" + _PATH_END,
                      lambda m: PurePosixPath(m.group()).name or "(server folder)", text)
    return text


def rewritten(exc: KonstruktError, fix) -> KonstruktError:
    """A copy of ``exc`` (same type) with ``fix`` applied to its message and every problem."""
    return type(exc)(fix(exc.message), [fix(p) for p in exc.problems])


def _error_text(exc: KonstruktError) -> str:
    return "; ".join([exc.message, *exc.problems]) if exc.problems else exc.message


def unzip_budget(work: Path, max_unzip_bytes: int, min_free_bytes: int) -> int:
    """How much one archive may expand to: the limit, and never into the last ``min_free_bytes``."""
    return max(0, min(max_unzip_bytes, shutil.disk_usage(work).free - min_free_bytes))


def _hidden(member: Path, root: Path) -> bool:
    parts = member.relative_to(root.resolve()).parts
    return any(p.startswith(".") or p in _HIDDEN_PARTS for p in parts)


def check_upload(task: str, name: str, stream: BinaryIO, work: Path, *, max_file_bytes: int,
                 max_zip_bytes: int, out: Checked, max_unzip_bytes: int = 2048 * 1024**2,
                 min_free_bytes: int = 0) -> None:
    """Stage one uploaded file (or every file of an uploaded zip) and check it with the core."""
    from ..data import safe_extract_zip

    suffix = safe_suffix(name)
    staged = Path(tempfile.mkstemp(dir=work, suffix=suffix)[1])
    limit = max_zip_bytes if suffix == ".zip" else max_file_bytes
    try:
        copy_limited(stream, staged, limit)
    except TooLarge as exc:
        out.reject(name, f"file is {exc}")
        return
    if suffix == ".zip":
        root = Path(tempfile.mkdtemp(dir=work))
        try:
            members = safe_extract_zip(staged, root, name=name, max_member_bytes=max_file_bytes,
                                       max_total_bytes=unzip_budget(work, max_unzip_bytes, min_free_bytes))
        except KonstruktError as exc:
            out.reject(name, _error_text(exc))
            return
        finally:
            staged.unlink(missing_ok=True)
        usable = [m for m in sorted(members) if not _hidden(m, root)]
        if not usable:
            out.reject(name, "nothing usable inside: the archive holds only folders, hidden files or "
                             "macOS metadata (__MACOSX); zip the example files themselves")
        for member in usable:
            check_staged(task, f"{name}: {display_name(member.name)}", member, out)
        return
    check_staged(task, name, staged, out)


def modality_rule(task: str, path: Path) -> None:
    """The task's modality's own rule for an upload, beyond reading it (e.g. audio: not too short)."""
    from ..tasks import task_modality

    rule = task_modality(task).check_upload
    if rule is not None:
        rule(path)


def check_staged(task: str, name: str, path: Path, out: Checked) -> None:
    """Check one staged upload (shown to the user as ``name``) as a ``task`` example: keep it in
    ``out`` when it decodes and passes the modality's rule, else delete it and record why."""
    from ..data import check_file

    # The core reads the type from the suffix; name the staged copy after the uploaded file.
    try:
        check_file(task, path)
        modality_rule(task, path)
    except KonstruktError as exc:
        path.unlink(missing_ok=True)
        # The message names the staged copy; show the name the user knows instead.
        text = re.sub(f"{re.escape(str(path))}|{re.escape(path.name)}", lambda _: name, _error_text(exc))
        out.reject(name, hide_paths(text).removeprefix(f"{name}: "))
        return
    except Exception as exc:  # a decoder crashing on a hostile file is still that file's problem
        path.unlink(missing_ok=True)
        out.reject(name, f"cannot be read ({type(exc).__name__})")
        return
    out.accepted.append((display_name(name), path))


def link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def prepare_data_dir(settings) -> None:
    """Create the data directory (0700) and the SQLite database file (0600) for the owner only:
    they hold password hashes, the session key and every user's data."""
    data_dir = settings.data_dir
    if not data_dir.exists():
        data_dir.mkdir(parents=True)
        data_dir.chmod(0o700)  # mkdir's mode is masked by the umask; chmod is not
    if settings.database_url is None:
        db = data_dir / "konstrukt.db"
        if not db.exists():  # SQLite gives its -wal and -shm files the database's permissions
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def clean_staging(data_dir: Path, scratch_older_than: float = 600.0) -> int:
    """Remove uploads a killed server left half-checked in ``tmp`` (and old Try it scratch files);
    return how many entries went. Only one server runs per data directory (see worker_process.claim_lock)."""
    import time

    removed = 0
    tmp = data_dir / "tmp"
    for entry in tmp.iterdir() if tmp.is_dir() else []:
        remove_tree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink(missing_ok=True)
        removed += 1
    scratch = scratch_dir(data_dir)
    if scratch != tmp:  # shared by every server of this user: only what is clearly abandoned
        for entry in scratch.iterdir():
            try:
                if entry.is_file() and time.time() - entry.stat().st_mtime > scratch_older_than:
                    entry.unlink()
                    removed += 1
            except OSError:
                pass
    return removed




def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
