"""A whole project as one file: its samples in class folders and a manifest, in one zip.

The file moves a project between servers, accounts and the CLI's data folders, and trains to the
same result wherever it lands (same samples in the same order, same settings, same seed)::

    konstrukt-project.json                  the manifest (format, task, classes, samples, settings)
    samples/<class folder>/<000001>.<ext>   the examples, numbered in the project's order

The manifest, not the folder names, says which class a file is: a class name may hold characters
no folder can (``a/b``), and then its folder is ``class-<n>``.

Reading a project file is reading hostile input: :func:`read_project_file` checks the manifest
(format, task, every class name against :mod:`konstrukt.data.labels`, every sample's path, size and
digest, the settings as a :class:`~konstrukt.config.TrainConfig`), refuses a member the manifest
does not name, extracts with every check of :func:`~konstrukt.data.archive.safe_extract_zip`
(traversal, links, sizes counted while extracting, zip bombs), verifies each file's size and
sha256 and decodes it as training will — and removes everything it wrote when any check fails.
"""
from __future__ import annotations

import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import DataError, KonstruktError
from .archive import MAX_FILES, MAX_TOTAL_BYTES, header_problems, safe_extract_zip
from .labels import LABEL_FIX, label_problem
from .samples import file_digest

FORMAT = "konstrukt-project"
VERSION = 1
VERSIONS = (1, 2)  # 2: a sequence project (``kind``, each sample's ``text``); classes files stay 1
MANIFEST = "konstrukt-project.json"
SAMPLES = "samples"
MAX_MANIFEST_BYTES = 16 * 1024**2  # 100 000 samples of ~150 bytes each
_FOLDER_BAD = set('/\\:*?"<>|')
_MEMBER = re.compile(r"^samples/[^/.][^/]*/\d{6,}(\.[a-z0-9]{1,8})?$")
FIX = "Fix: export the project again (`konstrukt project export`, or Download project in the web app)."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SampleEntry(_Strict):
    """One example: its class, where it is in the zip, the name it was uploaded as, its bytes."""

    label: str = Field(alias="class", max_length=400)
    path: str = Field(max_length=300)  # member of the zip: samples/<folder>/<nnnnnn><ext>
    name: str = Field("", max_length=255)  # the original (uploaded) file name, for display
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    text: Optional[str] = Field(None, max_length=2000)  # a sequence project's recording: its text


class ProjectManifest(_Strict):
    """What a project file holds; ``settings`` are TrainConfig keys (``pipeline`` among them)."""

    format: Literal["konstrukt-project"] = FORMAT
    version: int = VERSION
    kind: Literal["classes", "sequence"] = "classes"  # sequence: recordings with their text
    name: str = Field("project", max_length=200)
    task: str
    classes: list[str]
    samples: list[SampleEntry]
    settings: dict[str, Any] = Field(default_factory=dict)

    def dump(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=1, ensure_ascii=False)


@dataclass(frozen=True)
class ProjectSample:
    """An example to write: its class, the file, and the name to show for it."""

    label: str
    path: Path
    name: str = ""
    text: str | None = None  # a sequence project's recording: its text


@dataclass(frozen=True)
class Limits:
    """How much one project file may hold (a server passes its upload limits)."""

    max_total_bytes: int = MAX_TOTAL_BYTES
    max_member_bytes: int | None = None
    max_files: int = MAX_FILES
    max_classes: int | None = None


@dataclass
class ProjectContents:
    """A checked project file, extracted: the manifest and each sample's file, in order."""

    manifest: ProjectManifest
    files: list[tuple[SampleEntry, Path]]
    root: Path


def folder_name(label: str, index: int) -> str:
    """The class's folder in the file: its name when that is a safe folder name, else ``class-<n>``."""
    from .sources import SPLIT_NAMES

    risky = (label.startswith(".") or any(c in _FOLDER_BAD for c in label) or label_problem(label)
             or label.lower() in SPLIT_NAMES or len(label.encode()) > 100)
    return f"class-{index + 1}" if risky else label


def write_project_file(out: str | Path, *, task: str, classes: list[str], samples: Iterable[ProjectSample],
                       settings: dict[str, Any] | None = None, name: str = "project",
                       kind: str = "classes") -> ProjectManifest:
    """Write ``out`` (a zip): every sample under its class folder, numbered in the given order,
    and the manifest; return the manifest. Written to a partial file first, so a failure leaves
    no half file behind."""
    out = Path(out)
    folders = {c: folder_name(c, i) for i, c in enumerate(classes)}
    entries, members = [], []
    for n, s in enumerate(samples, start=1):
        if s.label not in folders:
            raise DataError(f"sample {s.name or s.path.name!r} is in class {s.label!r}, which the project "
                            "does not list")
        suffix = s.path.suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", s.path.suffix.lower()) else ""
        member = f"{SAMPLES}/{folders[s.label]}/{n:06d}{suffix}"
        entries.append(SampleEntry(label=s.label, path=member, name=s.name or s.path.name,
                                   sha256=file_digest(s.path), size=s.path.stat().st_size, text=s.text))
        members.append((member, s.path))
    manifest = ProjectManifest(name=name, task=task, classes=list(classes), samples=entries,
                               settings=dict(settings or {}), kind=kind, version=VERSIONS[kind == "sequence"])
    part = out.with_name(out.name + ".part")
    try:
        with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, manifest.dump())
            for member, path in members:
                zf.write(path, member)
        part.replace(out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return manifest


def read_project_file(path: str | Path, dest: str | Path, *, limits: Limits = Limits(),
                      name: str | None = None) -> ProjectContents:
    """Check the project file ``path`` and extract it into ``dest`` (which must not exist, or be
    empty); raise DataError with every problem found — and nothing left in ``dest`` — when it
    cannot be used as it is. ``name`` is how messages call the file (default: its path)."""
    from ..modalities import register_all

    register_all()  # an entry point: the task registry must be filled (idempotent)
    path, dest = Path(path), Path(dest)
    label = name or str(path)
    if dest.exists() and any(dest.iterdir()):
        raise DataError(f"{dest}: not empty; a project file is unpacked into a new folder",
                        ["Fix: give a folder that does not exist yet."])
    manifest = _read_manifest(path, label, limits)
    created = not dest.exists()
    try:
        # each sample's header size was checked against the per-file limit; extraction holds each
        # member to its header size and counts the total again while writing
        member_cap = None if limits.max_member_bytes is None else max(limits.max_member_bytes, MAX_MANIFEST_BYTES)
        safe_extract_zip(path, dest, max_total_bytes=limits.max_total_bytes + MAX_MANIFEST_BYTES,
                         max_files=limits.max_files + 1, max_member_bytes=member_cap, name=label)
        files = [(e, dest.joinpath(*PurePosixPath(e.path).parts)) for e in manifest.samples]
        _verify_files(files, manifest.task, label)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True) if created else _empty(dest)
        raise
    return ProjectContents(manifest, files, dest)


def _empty(dest: Path) -> None:
    for child in dest.iterdir() if dest.is_dir() else []:
        shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink(missing_ok=True)


def _read_manifest(path: Path, label: str, limits: Limits) -> ProjectManifest:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise DataError(f"{label}: not a readable zip archive", [FIX]) from None
    with zf:
        infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
        # traversal, absolute paths, links, bombs and sizes first: they name the member plainly
        # (the manifest has a limit of its own, checked below)
        samples = [i for n, i in infos.items() if n != MANIFEST]
        if problems := header_problems(zf, label, samples, limits.max_total_bytes, limits.max_files,
                                       limits.max_member_bytes):
            raise DataError(f"{label}: this project file cannot be imported", problems + [FIX])
        info = infos.get(MANIFEST)
        if info is None:
            raise DataError(f"{label}: not a konstrukt project file (no {MANIFEST} inside)",
                            ["Fix: choose a file made by `konstrukt project export` or Download project; "
                             "to add a zip of examples to a class, upload it into the class instead."])
        if info.file_size > MAX_MANIFEST_BYTES:
            raise DataError(f"{label}: {MANIFEST} is {info.file_size:,} bytes, more than the limit of "
                            f"{MAX_MANIFEST_BYTES:,}", [FIX])
        try:
            with zf.open(info) as f:  # counted while read: the header's size may lie
                raw = f.read(MAX_MANIFEST_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError):
            raise DataError(f"{label}: {MANIFEST} cannot be read (the archive is corrupt)", [FIX]) from None
        if len(raw) > MAX_MANIFEST_BYTES:
            raise DataError(f"{label}: {MANIFEST} is larger than the limit of {MAX_MANIFEST_BYTES:,} bytes", [FIX])
        manifest = _parse(raw, label)
        problems = manifest_problems(manifest, limits) + _member_problems(manifest, infos)
    if problems:
        raise DataError(f"{label}: this project file cannot be imported", problems + [FIX])
    return manifest


def _parse(raw: bytes, label: str) -> ProjectManifest:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DataError(f"{label}: {MANIFEST} is not valid JSON ({str(exc)[:200]})", [FIX]) from None
    if isinstance(data, dict) and data.get("format") != FORMAT:
        raise DataError(f"{label}: {MANIFEST} is not a konstrukt project manifest "
                        f"(format {data.get('format')!r}, expected {FORMAT!r})", [FIX])
    if isinstance(data, dict) and data.get("version") not in VERSIONS:
        raise DataError(f"{label}: project file version {data.get('version')!r}; this konstrukt reads "
                        f"version {VERSION} (and {VERSIONS[1]}: a sequence project)", ["Fix: update konstrukt, or export the project again with "
                                               "this version."])
    try:
        return ProjectManifest.model_validate(data)
    except ValidationError as err:
        problems = [f"{MANIFEST}: `{'.'.join(map(str, e['loc']))[:120]}`: {e['msg'][:200]}" for e in err.errors()[:20]]
        raise DataError(f"{label}: {MANIFEST} does not describe a project", problems + [FIX]) from None


def manifest_problems(m: ProjectManifest, limits: Limits = Limits()) -> list[str]:
    """Every reason the manifest cannot be used: task, class names, samples, settings."""
    from ..tasks import TASKS

    if m.task not in TASKS:
        return [f"unknown task {m.task!r}; this konstrukt knows {', '.join(TASKS.names())}"]
    problems = [f"class {c[:40]!r}: {why}" for c in m.classes if (why := label_problem(c))]
    if problems:
        problems.append(LABEL_FIX)
    if len(set(m.classes)) != len(m.classes):
        problems.append("a class is listed twice in `classes`")
    if limits.max_classes is not None and len(m.classes) > limits.max_classes:
        problems.append(f"{len(m.classes)} classes, more than the limit of {limits.max_classes}")
    if len(m.samples) > limits.max_files:
        problems.append(f"{len(m.samples)} samples, more than the limit of {limits.max_files}")
    known, ext = set(m.classes), TASKS.get(m.task).extensions
    for s in m.samples:
        if s.label not in known:
            problems.append(f"sample {s.path!r}: class {s.label[:40]!r} is not in `classes`")
        if not _MEMBER.match(s.path) or PurePosixPath(s.path).suffix not in ext:
            problems.append(f"sample {s.path!r}: not a path this format uses (samples/<class>/<number>"
                            f"<{'|'.join(sorted(ext))}>)")
        if limits.max_member_bytes is not None and s.size > limits.max_member_bytes:
            problems.append(f"sample {s.path!r}: {s.size:,} bytes, more than the per-file limit of "
                            f"{limits.max_member_bytes:,}")
    if len({s.path for s in m.samples}) != len(m.samples):
        problems.append("a sample path is listed twice in `samples`")
    if sum(s.size for s in m.samples) > limits.max_total_bytes:
        problems.append(f"the samples add up to {sum(s.size for s in m.samples):,} bytes, more than the "
                        f"limit of {limits.max_total_bytes:,}")
    from ..sequences import project_file as seq  # texts: in (and only in) a sequence project

    problems = problems[:50] + seq.text_problems(m)
    if m.kind == "sequence":  # its settings are a SequenceConfig's
        return problems + seq.settings_problems(m.task, m.settings)
    return problems + settings_problems(m.task, m.settings)


def settings_problems(task: str, settings: dict[str, Any]) -> list[str]:
    """What is wrong with the manifest's settings as a TrainConfig for ``task``."""
    from ..config import build_config
    from ..pipelines import PIPELINES

    try:
        config = build_config({**settings, "task": task})
    except KonstruktError as exc:
        return [f"settings: {p}" for p in exc.problems] or [f"settings: {exc.message}"]
    spec = PIPELINES.get(config.pipeline) if config.pipeline in PIPELINES else None
    if config.pipeline != "auto" and (spec is None or task not in spec.tasks):
        return [f"settings: pipeline {config.pipeline[:60]!r} is not a {task} pipeline of this konstrukt "
                "(see `konstrukt pipelines`)"]
    return []


def _member_problems(m: ProjectManifest, infos: dict[str, zipfile.ZipInfo]) -> list[str]:
    """Every member is the manifest or a sample it lists, with the size it declares."""
    named = {s.path: s for s in m.samples}
    problems = [f"member {n!r} is not listed in {MANIFEST}" for n in infos if n != MANIFEST and n not in named]
    for p, s in named.items():
        info = infos.get(p)
        if info is None:
            problems.append(f"sample {p!r} is listed in {MANIFEST} but missing from the archive")
        elif info.file_size != s.size:
            problems.append(f"member {p!r} is {info.file_size:,} bytes; {MANIFEST} says {s.size:,}")
    return problems[:50]


def _verify_files(files: list[tuple[SampleEntry, Path]], task: str, label: str) -> None:
    """Each extracted file has the size and sha256 the manifest gives and decodes as the task's."""
    from . import check_file

    problems = []
    for entry, file in files:
        if not file.is_file() or file.stat().st_size != entry.size:
            problems.append(f"member {entry.path!r}: not the {entry.size:,} bytes {MANIFEST} declares")
        elif file_digest(file) != entry.sha256:
            problems.append(f"member {entry.path!r}: content does not match its sha256 in {MANIFEST} "
                            "(changed or damaged after export)")
        else:
            try:
                check_file(task, file)
            except KonstruktError as exc:
                text = "; ".join([exc.message, *exc.problems]).replace(str(file), entry.path)
                problems.append(f"member {entry.path!r} ({entry.name}): {text.replace(file.name + ':', '').strip()}")
            except Exception as exc:  # a decoder crashing on a hostile file is still that file's problem
                problems.append(f"member {entry.path!r} ({entry.name}): cannot be read ({type(exc).__name__})")
    if problems:
        raise DataError(f"{label}: this project file cannot be imported", problems[:50] + [FIX])


# -- data folders (the CLI's projects) ------------------------------------------------------------

def pack_dataset(data: str | Path, out: str | Path, *, task: str | None, settings: dict[str, Any] | None = None,
                 name: str | None = None) -> ProjectManifest:
    """Write the examples of a data folder, zip or labels CSV (as ``konstrukt train`` reads it) to
    the project file ``out``, in the order training reads them, with ``settings``."""
    from ..modalities import register_all
    from ..sequences.data import is_text_csv
    from .sources import discover

    register_all()
    if is_text_csv(data):  # recordings with their text: a sequence project, its one class `recordings`
        from ..sequences.project_file import BUCKET, KIND, sequence_rows

        task, rows = sequence_rows(data, task=task, settings=settings)
        samples = [ProjectSample(BUCKET, path, path.name, text) for path, text in rows]
        return write_project_file(out, task=task, classes=[BUCKET], samples=samples, settings=settings,
                                  name=name or Path(data).parent.name, kind=KIND)
    task = task or "image"
    dataset = discover(data, task)
    if any(s.split for s in dataset.samples) or any(s.start is not None for s in dataset.samples):
        raise DataError(f"{data}: a project file holds classes of whole files, not given splits or windows "
                        "of long recordings", ["Fix: export a folder of class folders (or a path,label CSV)."])
    if problems := settings_problems(task, dict(settings or {})):
        raise DataError("these settings cannot go into a project file", problems)
    samples = [ProjectSample(s.label, s.path, s.path.name) for s in dataset.samples]
    return write_project_file(out, task=task, classes=dataset.classes, samples=samples, settings=settings,
                              name=name or dataset.name)


LABELS_CSV, SETTINGS_JSON = "labels.csv", "settings.json"


def unpack_project(path: str | Path, out: str | Path, *, limits: Limits = Limits()) -> ProjectContents:
    """Check and extract the project file ``path`` into the new folder ``out``, with a
    ``labels.csv`` (path,label, in the project's order) and a ``settings.json`` (the settings and
    the task) beside the class folders, ready for ``konstrukt train out/labels.csv``."""
    import csv

    out = Path(out)
    contents = read_project_file(path, out, limits=limits)
    if contents.manifest.kind == "sequence":  # path,text: `konstrukt train` makes a sequence run
        from ..sequences.project_file import write_text_csv

        write_text_csv(contents, out / LABELS_CSV)
    else:
        with open(out / LABELS_CSV, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["path", "label"])
            writer.writerows((e.path, e.label) for e, _ in contents.files)
    settings = {**contents.manifest.settings, "task": contents.manifest.task}
    (out / SETTINGS_JSON).write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return contents
