"""Safe extraction of user zip archives.

Refused, with the member named: ``../`` or absolute paths, symlinks, more than ``max_files``
members, a total uncompressed size over ``max_total_bytes``, a member over ``max_member_bytes``, or a
compression ratio (of a member, or of the whole archive) that says "zip bomb".

The headers are checked first, but they are written by whoever made the archive: the bytes are
counted again while they are written, against the same limits, and extraction stops at the first
breach and removes what it wrote. Nothing is left behind unless the whole archive passes.
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import DataError

MAX_TOTAL_BYTES = 4 * 1024**3  # 4 GiB uncompressed
MAX_FILES = 100_000
MAX_RATIO = 200  # uncompressed / compressed, per member larger than 1 MiB and for the whole archive
RATIO_FLOOR = 1024**2  # below this much data a high ratio is harmless (tiny text files compress well)
CHUNK = 1 << 20


def _mib(n: int) -> str:
    return f"{n / 1024**2:.0f} MiB"


def _check_member(info: zipfile.ZipInfo, archive: str) -> str | None:
    name = info.filename
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return f"{archive}: member {name!r} has an absolute path"
    if ".." in pure.parts:
        return f"{archive}: member {name!r} points outside the archive (../)"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{archive}: member {name!r} is a symbolic link"
    if info.file_size > RATIO_FLOOR and info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        return (f"{archive}: member {name!r} expands {info.file_size / info.compress_size:.0f}x "
                "(a possible zip bomb)")
    return None


def header_problems(zf: zipfile.ZipFile, label: str, infos: list[zipfile.ZipInfo], max_total_bytes: int,
                    max_files: int, max_member_bytes: int | None) -> list[str]:
    """What is wrong with a zip before anything is read from it (``label`` names it): unsafe member
    names or links, too many files (of ``infos``), too many bytes in all or in one member, a
    suspicious compression ratio. Empty when it may be extracted."""
    problems = [p for i in zf.infolist() if (p := _check_member(i, label))]
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if len(infos) > max_files:
        problems.append(f"{label}: {len(infos)} files, more than the limit of {max_files}")
    if total > max_total_bytes:
        problems.append(f"{label}: expands to {_mib(total)}, more than the limit of {_mib(max_total_bytes)}")
    elif total > RATIO_FLOOR and packed and total / packed > MAX_RATIO:
        # many small members each under the per-member check still add up to a bomb
        problems.append(f"{label}: expands {total / packed:.0f}x in total (a possible zip bomb)")
    if max_member_bytes is not None:
        problems += [f"{label}: member {i.filename!r} is {_mib(i.file_size)}, more than the per-file "
                     f"limit of {_mib(max_member_bytes)}" for i in infos if i.file_size > max_member_bytes]
    return problems


def safe_extract_zip(zip_path: str | Path, dest: str | Path, *, max_total_bytes: int = MAX_TOTAL_BYTES,
                     max_files: int = MAX_FILES, max_member_bytes: int | None = None,
                     name: str | None = None) -> list[Path]:
    """Extract ``zip_path`` into ``dest`` after checking every member; return the files written.

    ``name`` is how messages call the archive (default: its path), so a server can name the file
    its user uploaded rather than where it was staged."""
    zip_path, dest = Path(zip_path), Path(dest)
    label = name or str(zip_path)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{label}: not a readable zip archive ({str(exc).replace(str(zip_path), label)})",
                        ["Fix: re-create the archive with a standard zip tool."]) from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        problems = header_problems(zf, label, infos, max_total_bytes, max_files, max_member_bytes)
        if problems:
            raise DataError("archive refused", problems + ["Fix: re-create the archive with only "
                                                           "the class folders and their files."])
        written: list[Path] = []
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        left = max_total_bytes  # counted on the bytes actually written, not on the headers
        try:
            for info in infos:
                target = (dest / info.filename).resolve()
                if root not in target.parents:  # belt and braces after _check_member
                    raise DataError(f"{label}: member {info.filename!r} escapes the destination")
                target.parent.mkdir(parents=True, exist_ok=True)
                written.append(target)
                left -= _copy_member(zf, info, target, label, left, max_total_bytes, max_member_bytes)
        except DataError:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            for path in written:
                path.unlink(missing_ok=True)
            raise DataError(f"{label}: archive is corrupt ({str(exc).replace(str(zip_path), label)})") from None
    return written


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, label: str, total_left: int,
                 max_total_bytes: int, max_member_bytes: int | None) -> int:
    """Write one member, stopping at the first byte over its header size, the per-file limit or
    what is left of the archive's total; return the bytes written."""
    limits = [(info.file_size, f"{label}: member {info.filename!r} is larger than its header says"),
              (total_left, f"{label}: expands to more than the limit of {_mib(max_total_bytes)} "
                           "(a possible zip bomb)")]
    if max_member_bytes is not None:
        limits.append((max_member_bytes, f"{label}: member {info.filename!r} is more than the per-file "
                                         f"limit of {_mib(max_member_bytes)}"))
    budget, message = min(limits, key=lambda lm: lm[0])
    size = 0
    with zf.open(info) as src, open(target, "wb") as out:
        while chunk := src.read(min(CHUNK, budget - size + 1)):
            size += len(chunk)
            if size > budget:
                raise DataError(message)
            out.write(chunk)
    return size
