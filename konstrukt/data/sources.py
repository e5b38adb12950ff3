"""Find the labelled examples a user gave: a folder of class folders, a zip of the same, or a CSV.

Layouts understood:

* ``DATA/<class>/<files>`` — konstrukt makes the splits;
* ``DATA/train/<class>/…`` + ``DATA/test/<class>/…`` (+ optional ``val/``) — splits used as given;
* ``DATA.zip`` holding either layout (extracted safely to a temporary folder);
* ``DATA.csv`` with columns ``path,label`` (+ optional ``split``); paths relative to the CSV;
* ``LABELS.csv`` with columns ``file,start,end,label`` (+ optional ``subject``): labelled segments
  (seconds) of long recordings, cut into windows (:mod:`konstrukt.data.segments`; tasks whose
  modality has ``window``/``hop`` settings). Such samples carry a ``group`` (the recording, or
  the subject) so that splits never put windows of one recording on both sides.

Files with extensions the task does not read are skipped with one warning that lists them;
hidden files (``.DS_Store``…) are ignored. Class names (folder names, CSV labels) must pass the
core's one rule (:mod:`konstrukt.data.labels`). Every structural problem is collected and raised
together as a :class:`DataError`. Reports name files relative to :attr:`Dataset.root`.
"""
from __future__ import annotations

import csv
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from ..errors import DataError
from ..tasks import TASKS
from ..words import a, agree, count
from .archive import safe_extract_zip
from .labels import LabelProblems
from .samples import Dataset, Sample, file_digest
from .segments import is_segments_csv

SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def _is_hidden(path: Path | str) -> bool:
    name = Path(path).name
    return name.startswith(".") or name.startswith("__MACOSX") or name == "Thumbs.db"


def _class_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(_is_hidden(part) for part in p.relative_to(folder).parts))


def _scan_class_folders(root: Path, split: str | None, task, problems: list[str],
                        skipped: list[Path], labels: LabelProblems) -> list[Sample]:
    samples = []
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p))
    loose = [p for p in root.iterdir() if p.is_file() and not _is_hidden(p)]
    if loose and not class_dirs:
        problems.append(f"{root}: files lie directly in the folder; put each class's files in a "
                        "sub-folder named after the class (e.g. {root}/cat/1.jpg)".replace("{root}", str(root)))
    for cdir in class_dirs:
        if not labels.ok(cdir.name, f"class folder {cdir}"):
            continue
        files = _class_files(cdir)
        usable = [f for f in files if f.suffix.lower() in task.extensions]
        skipped.extend(f for f in files if f.suffix.lower() not in task.extensions)
        if not usable:
            problems.append(f"class folder {cdir} holds no {task.name} files "
                            f"({', '.join(sorted(task.extensions))}); add examples or remove it")
        samples.extend(Sample(f, cdir.name, split) for f in usable)
    return samples


def _scan_folder(root: Path, task, problems: list[str], skipped: list[Path],
                 labels: LabelProblems) -> list[Sample]:
    subdirs = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not _is_hidden(p)}
    split_dirs = {SPLIT_NAMES[n]: p for n, p in subdirs.items() if n in SPLIT_NAMES}
    if "train" in split_dirs and "test" in split_dirs and len(split_dirs) == len(subdirs):
        samples = []
        for split, path in sorted(split_dirs.items()):
            samples += _scan_class_folders(path, split, task, problems, skipped, labels)
        return samples
    return _scan_class_folders(root, None, task, problems, skipped, labels)


def _scan_csv(path: Path, task, problems: list[str], skipped: list[Path],
              labels: LabelProblems) -> list[Sample]:
    samples = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        cols = [c.strip().lower() for c in (reader.fieldnames or [])]
        if "path" not in cols or "label" not in cols:
            raise DataError(f"{path}: a CSV needs the columns `path,label` (found: {', '.join(cols) or 'none'})")
        for line, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            file = (path.parent / row["path"]).resolve()
            split = SPLIT_NAMES.get(row.get("split", "").lower()) if row.get("split") else None
            if not row["label"]:
                problems.append(f"{path}:{line}: empty label for {row['path']}")
            elif not labels.ok(row["label"], f"{path}:{line}"):
                continue  # the label is named once among the problems
            elif not file.is_file():
                problems.append(f"{path}:{line}: file not found: {file}")
            elif file.suffix.lower() not in task.extensions:
                skipped.append(file)
            else:
                samples.append(Sample(file, row["label"], split))
    return samples


def discover(data: str | Path, task: str = "image", config=None) -> Dataset:
    """Find and hash every example under ``data``; raise DataError listing all structural problems.

    ``config`` (a TrainConfig) gives the window and hop for a labels CSV of long recordings.
    """
    spec = TASKS.get(task)
    data = Path(data).expanduser()
    problems: list[str] = []
    skipped: list[Path] = []
    labels = LabelProblems(problems)  # every class name passes the core's one rule (data.labels)
    tmp = None
    if not data.exists():
        raise DataError(f"data not found: {data}", ["Fix: give a folder with one sub-folder per "
                                                    "class, a .zip of it, or a CSV with path,label."])
    root = data.parent if data.is_file() else data
    if data.is_file() and data.suffix.lower() == ".zip":
        tmp = tempfile.TemporaryDirectory(prefix="konstrukt-data-")
        safe_extract_zip(data, tmp.name)
        root = Path(tmp.name)
        # A zip of a single top folder (data.zip → data/cat/…) is unwrapped; a lone class folder
        # would be one class, which is refused either way.
        entries = [p for p in root.iterdir() if not _is_hidden(p)]
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        root = root.resolve()
        samples = _scan_folder(root, spec, problems, skipped, labels)
    elif data.is_file() and data.suffix.lower() == ".csv" and is_segments_csv(data):
        from .segments import read_segments

        return read_segments(data, spec, config)
    elif data.is_file() and data.suffix.lower() == ".csv":
        root = root.resolve()  # the CSV's paths are resolved
        samples = _scan_csv(data, spec, problems, skipped, labels)
    elif data.is_dir():
        samples = _scan_folder(data, spec, problems, skipped, labels)
    else:
        raise DataError(f"{data}: not a folder, .zip or .csv",
                        ["Fix: give a folder with one sub-folder per class, a .zip of it, or a CSV."])
    labels.finish()
    classes = sorted({s.label for s in samples})
    if not problems and len(classes) < 2:
        problems.append(f"{data}: found {count(len(classes), 'class')} "
                        f"({', '.join(classes) or 'none'}); at least 2 are needed — add a sub-folder "
                        "per class with its examples")
    if problems:
        raise DataError(f"cannot use the data in {data}", problems)
    samples = [Sample(s.path, s.label, s.split, file_digest(s.path)) for s in samples]
    dataset = Dataset(samples, classes, str(data), [], tmp, root)
    warnings = dataset.warnings
    if skipped:
        exts = Counter(p.suffix.lower() or "(none)" for p in skipped)
        listed = ", ".join(dataset.relative(p) for p in skipped[:5]) + (" …" if len(skipped) > 5 else "")
        warnings.append(f"skipped {count(len(skipped), 'file')} that "
                        f"{agree(len(skipped), f'is not {a(task)} file', f'are not {task} files')} "
                        f"({', '.join(f'{e} ×{n}' for e, n in exts.items())}): {listed}")
    warnings += _label_conflicts(samples, dataset.relative)
    return dataset


def _label_conflicts(samples: list[Sample], shown) -> list[str]:
    by_digest: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_digest[s.digest].append(s)
    out = []
    for group in by_digest.values():
        labels = sorted({s.label for s in group})
        if len(labels) > 1:
            out.append("label conflict: the same file content is labelled "
                       + " and ".join(f"`{s.label}` ({shown(s.path)})" for s in group)
                       + "; remove it from the wrong class")
    return out
