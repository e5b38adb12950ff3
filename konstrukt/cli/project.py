"""``konstrukt project export|import``: a data folder as one project file, and back.

The file is the web app's *Download project* / *Import project* format
(:mod:`konstrukt.data.project_file`): a project moves between the CLI, servers and accounts.
"""
from __future__ import annotations

from .parsers import add_data_arguments, command_parser

EPILOG = """\
examples:
  konstrukt project export photos/ --out photos.konstrukt-project.zip
  konstrukt project export emg/ --task signal --config hyperparams.json --out emg.zip
  konstrukt project import emg.zip --out emg-project/
  konstrukt project export keys/labels.csv --out keys.zip    (path,text: recordings with their text)
  konstrukt train emg-project/labels.csv --config emg-project/settings.json --out runs/emg

A project file is a zip: konstrukt-project.json (task, classes, each sample's class, original
name, size and sha256, the settings) and samples/<class>/<number>.<ext>. Import it in the web app
with *Import project* on the projects page, or unpack it here with `project import`.
"""


def add_project(sub) -> None:
    """Register ``konstrukt project`` with its ``export`` and ``import`` subcommands."""
    p = command_parser(
        sub, "project", help="a whole project as one file: export a data folder, import a project file",
        description="Move a project as one file: its examples in class folders plus a manifest (task, classes, "
                    "sample digests, settings). The same file imports into the web app (Import project) and "
                    "trains to the same result there: same examples, same order, same settings and seed.",
        epilog=EPILOG)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    exp = command_parser(
        actions, "export", help="pack a data folder (class folders, .zip or path,label CSV) into a project file",
        description="Pack the examples `konstrukt train DATA` would read, in the order it reads them, "
                    "with optional settings, into one project file.", epilog=EPILOG)
    add_data_arguments(exp, data="folder of class folders, .zip of it, a CSV with path,label, or one with path,text",
                       config="settings to carry (hyperparams.json or any TrainConfig JSON/YAML, `pipeline` included)")
    exp.add_argument("--name", default=None, help="the project's name (default: the data folder's name)")
    exp.add_argument("--out", required=True, metavar="FILE.zip", help="the project file to write")
    exp.set_defaults(func=cmd_export)

    imp = command_parser(
        actions, "import", help="check a project file and unpack it into class folders + labels.csv + settings.json",
        description="Check a project file as hostile input (paths, links, sizes, digests, that every "
                    "file decodes) and unpack it into a new folder; nothing is left when it is refused.", epilog=EPILOG)
    imp.add_argument("file", help="a project file (from `project export` or Download project)")
    imp.add_argument("--out", required=True, metavar="DIR", help="a new folder to unpack into")
    imp.set_defaults(func=cmd_import)


def cmd_export(args) -> int:
    from ..config import read_config_file
    from ..data.project_file import pack_dataset

    settings = read_config_file(args.config) if args.config else {}
    settings.pop("task", None)  # the project's task is --task
    m = pack_dataset(args.data, args.out, task=args.task, settings=settings, name=args.name)
    what = "recordings with their text" if m.kind == "sequence" else f"{len(m.classes)} classes"
    print(f"wrote {args.out}: {m.task} project {m.name!r}, {what}, {len(m.samples)} examples"
          + (f", settings {', '.join(sorted(m.settings))}" if m.settings else ""))
    return 0


def cmd_import(args) -> int:
    from pathlib import Path

    from ..data.project_file import LABELS_CSV, SETTINGS_JSON, unpack_project

    c = unpack_project(args.file, args.out)
    out = Path(args.out)
    what = "recordings with their text" if c.manifest.kind == "sequence" else f"{len(c.manifest.classes)} classes"
    print(f"unpacked {c.manifest.task} project {c.manifest.name!r} into {out}: {what}, "
          f"{len(c.files)} examples (sizes and sha256 checked)")
    print(f"train it:  konstrukt train {out / LABELS_CSV} --config {out / SETTINGS_JSON} --out runs/"
          f"{Path(args.file).stem.split('.')[0] or 'project'}")
    return 0
