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


def _error_text(exc: KonstruktError) -> str:
    return "; ".join([exc.message, *exc.problems]) if exc.problems else exc.message


def check_upload(task: str, name: str, stream: BinaryIO, work: Path, *, max_file_bytes: int,
                 max_zip_bytes: int, out: Checked) -> None:
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
        try:
            members = safe_extract_zip(staged, Path(tempfile.mkdtemp(dir=work)))
        except KonstruktError as exc:
            out.reject(name, _error_text(exc))
            return
        finally:
            staged.unlink(missing_ok=True)
        for member in sorted(members):
            label = f"{name}: {display_name(member.name)}"
            if member.name.startswith(".") or any(p in member.parts for p in _HIDDEN_PARTS):
                continue
            if member.stat().st_size > max_file_bytes:
                out.reject(label, f"file is larger than the limit of {max_file_bytes / 1024**2:.0f} MiB")
            else:
                _check_one(task, label, member, out)
        return
    _check_one(task, name, staged, out)


def _check_one(task: str, name: str, path: Path, out: Checked) -> None:
    from ..data import check_file

    # The core reads the type from the suffix; name the staged copy after the uploaded file.
    try:
        check_file(task, path)
    except KonstruktError as exc:
        path.unlink(missing_ok=True)
        # The message names the staged copy; show the name the user knows instead.
        text = re.sub(f"{re.escape(str(path))}|{re.escape(path.name)}", lambda _: name, _error_text(exc))
        out.reject(name, text.removeprefix(f"{name}: "))
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


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
