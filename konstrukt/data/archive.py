"""Safe extraction of user zip archives.

Refused, with the member named: ``../`` or absolute paths, symlinks, more than ``max_files``
members, a total uncompressed size over ``max_total_bytes``, or a member whose compression ratio
says "zip bomb". Nothing is written unless the whole archive passes.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import DataError

MAX_TOTAL_BYTES = 4 * 1024**3  # 4 GiB uncompressed
MAX_FILES = 100_000
MAX_RATIO = 200  # uncompressed / compressed, per member larger than 1 MiB


def _check_member(info: zipfile.ZipInfo, archive: Path) -> str | None:
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return f"{archive}: member {name!r} has an absolute path"
    if ".." in pure.parts:
        return f"{archive}: member {name!r} points outside the archive (../)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{archive}: member {name!r} is a symbolic link"
    if info.file_size > 1024**2 and info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        return (f"{archive}: member {name!r} expands {info.file_size / info.compress_size:.0f}x "
                "(a possible zip bomb)")
    return None


def safe_extract_zip(zip_path: str | Path, dest: str | Path, *, max_total_bytes: int = MAX_TOTAL_BYTES,
                     max_files: int = MAX_FILES) -> list[Path]:
    """Extract ``zip_path`` into ``dest`` after checking every member; return the files written."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{zip_path}: not a readable zip archive ({exc})",
                        ["Fix: re-create the archive with a standard zip tool."]) from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        problems = [p for i in zf.infolist() if (p := _check_member(i, zip_path))]
        total = sum(i.file_size for i in infos)
        if len(infos) > max_files:
            problems.append(f"{zip_path}: {len(infos)} files, more than the limit of {max_files}")
        if total > max_total_bytes:
            problems.append(f"{zip_path}: expands to {total / 1024**2:.0f} MiB, more than the "
                            f"limit of {max_total_bytes / 1024**2:.0f} MiB")
        if problems:
            raise DataError("archive refused", problems + ["Fix: re-create the archive with only "
                                                           "the class folders and their files."])
        written = []
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        try:
            for info in infos:
                target = (dest / info.filename).resolve()
                if root not in target.parents:  # belt and braces after _check_member
                    raise DataError(f"{zip_path}: member {info.filename!r} escapes the destination")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    # Stream with a running budget: headers can lie about sizes.
                    budget = info.file_size + 1
                    while chunk := src.read(1 << 20):
                        budget -= len(chunk)
                        if budget < 0:
                            raise DataError(f"{zip_path}: member {info.filename!r} is larger than "
                                            "its header says")
                        out.write(chunk)
                written.append(target)
        except DataError:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"{zip_path}: archive is corrupt ({exc})") from None
    return written

