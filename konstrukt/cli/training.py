"""Commands that train: ``train`` and ``compare`` (here or on a Ray cluster)."""
from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

from ..verdict import verdict_text
from .flags import Flag, add_flags, overrides
from .output import print_results
from .sequences import is_sequence, print_board as print_sequence_board, print_results as print_sequence_results


EPILOG_TRAIN = """\
data layouts:
  DATA/<class>/<files>                      konstrukt makes a stratified train/val/test split
  DATA/train/<class>/… DATA/test/<class>/…  your splits are used as given (val/ optional)
  DATA.zip                                  either layout, zipped
  DATA.csv                                  columns path,label (paths relative to the CSV)
  LABELS.csv                                signal: long recordings, columns file,start,end,label
                                            [,subject]; cut into windows, split by recording/subject
  TEXT.csv                                  path,text (or file,start,end,text / file,time,key): a sequence
                                            run, recording → text with CTC, scored in CER (docs/sequences.md)

examples:
  konstrukt train photos/ --out runs/first                 # recommended: EfficientNet-B0, frozen
  konstrukt train photos/ --pipeline scratch_cnn --out runs/offline   # no pretrained weights
  konstrukt train photos/ --config hyperparams.json --epochs 20 --out runs/longer
  konstrukt train photos/ --pretrained ~/weights/b0.pth --strategy partial --out runs/tuned
  konstrukt train emg/ --task signal --sample-rate 1000 --window 1 --out runs/emg   # CSV/NPY/NPZ
  konstrukt train labels.csv --task signal --window 2 --hop 0.5 --out runs/imu      # long recordings

files the task cannot read (e.g. .txt beside images) are skipped with a warning that lists them;
corrupt or unreadable files of the task's types stop the run with a message naming each file.
"""


SIGNAL_GROUP = "signal task (sensor recordings: CSV / NPY / NPZ)"


def _tasks() -> list[str]:
    from ..tasks import TASKS

    return TASKS.names()


def train_flags() -> tuple[Flag, ...]:
    """The settings ``train`` takes as flags, in the order ``--help`` shows them."""
    from ..pipelines import PIPELINES

    return (
        Flag("task", "kind of examples (default: image)", choices=_tasks),
        Flag("pipeline", f"'auto' (recommended for the task) or one of: {', '.join(PIPELINES.names())}",
             metavar="NAME"),
        Flag("strategy", "probe: head on cached frozen embeddings (fast); head: frozen backbone, fresh "
                         "augmentation every epoch; partial: last N blocks train; full: everything trains"),
        Flag("pretrained", "weights: the pipeline's pretrained set, none (from scratch) or a state_dict file",
             metavar="imagenet|none|PATH"),
        Flag("num_epochs", "number of epochs (early stopping may end sooner)", name="--epochs", metavar="N"),
        Flag("learning_rate", "learning rate", name="--lr", metavar="LR"),
        Flag("batch_size", metavar="N"),
        Flag("weight_decay", metavar="WD"),
        Flag("head", "head preset (edit layer by layer in a config file)", metavar="linear|mlp"),
        Flag("cv", "K-fold cross-validation (default: 5 when under 100 examples; 0 = off)", metavar="K"),
        Flag("target_size", "top up each class to this many training examples with augmented copies (50)",
             metavar="N"),
        Flag("image_size", "square input size (default: the backbone's, e.g. 224 for B0)", metavar="PX"),
        Flag("signal.sample_rate", "rate of files without a time column; every file is resampled to it "
                                   "(default: the time column's rate)", metavar="HZ", group=SIGNAL_GROUP),
        Flag("signal.window", "seconds per model input: shorter files are padded, longer ones cropped (2)",
             metavar="S", group=SIGNAL_GROUP),
        Flag("signal.hop", "long recordings (labels CSV, prediction): seconds between windows (window / 2)",
             metavar="S", group=SIGNAL_GROUP),
        Flag("signal.layout", "axes of NPY/NPZ arrays (auto: the longer axis is time)", group=SIGNAL_GROUP),
        Flag("signal.time_column", "is a CSV's first column the time in seconds? (auto: by its name or an "
                                   "even ramp)", group=SIGNAL_GROUP),
        Flag("seed", "random seed for splits, init and augmentation (0): the same seed gives the same run"),
        Flag("device", "auto (default), cpu, cuda, cuda:1, mps"),
        Flag("health.strict", "stop when the data leaks across splits or has label conflicts (default: "
                              "warn, and leave leaked copies out of the validation/test scores)"),
    )


def compare_flags() -> tuple[Flag, ...]:
    """The settings ``compare`` takes as flags (they apply to every pipeline)."""
    return (
        Flag("task", "kind of examples (default: image)", choices=_tasks),
        Flag("num_epochs", name="--epochs", metavar="N"),
        Flag("cv", "cross-validation folds (5)", metavar="K"),
        Flag("pretrained", "weights for every pipeline (default: each pipeline's own)", metavar="none|PATH"),
        Flag("target_size", metavar="N"),
        Flag("image_size", metavar="PX"),
        Flag("seed", "one seed for the split, folds and init (0)"),
        Flag("device", "auto (default), cpu, cuda, mps"),
    )


def add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a model on a folder of examples and write a run folder",
        description="Train a classifier on labelled examples, evaluate it honestly (held-out test "
                    "split, plus 5-fold cross-validation on small data) and write a run folder "
                    "with report.json, weights, pictures and a summary.",
        epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder of class folders, .zip or .csv (see below)")
    p.add_argument("--out", required=True, help="run folder to create (must not exist or be empty)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="JSON/YAML config (a hyperparams.json with num_epochs, learning_rate, "
                        "batch_size, weight_decay works as is); flags override it")
    add_flags(p, train_flags())
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print report.json to stdout at the end")
    add_executor_flags(p)
    p.set_defaults(func=cmd_train)


def add_executor_flags(p) -> None:
    g = p.add_argument_group("scale-out (docs/scale-out.md; needs pip install 'konstrukt[scale]')")
    g.add_argument("--executor", default=None, choices=["local", "ray"],
                   help="where to train: local (this process, default) or ray (a task on a Ray cluster; "
                        "default: $KONSTRUKT_EXECUTOR)")
    g.add_argument("--ray-address", dest="ray_address", default=None, metavar="HOST:PORT",
                   help="the Ray cluster, e.g. 10.0.0.5:6379 (default: $KONSTRUKT_RAY_ADDRESS, else a Ray "
                        "started for this command)")
    g.add_argument("--storage-url", dest="storage_url", default=None, metavar="URL",
                   help="where the data and the run travel through: s3://BUCKET/PREFIX for a cluster of "
                        "several machines (default: $KONSTRUKT_STORAGE_URL, else a folder on this machine)")


def _executor(args):
    """The executor the flags ask for, or None for the in-process default."""
    from ..execution import make_executor

    executor = make_executor(args.executor, args.ray_address)
    return None if executor.name == "local" else executor


def cmd_train(args) -> int:
    from ..experiment import train
    from ..inference import Run

    settings = overrides(args, train_flags())
    executor = _executor(args)
    if executor:
        from ..execution.driver import submit

        folder = submit(executor, "train", args.data, args.out, config=args.config, overrides=settings,
                        storage_url=args.storage_url, overwrite=args.overwrite, verbose=not args.quiet)
        run = Run.load(folder)
    else:
        run = train(args.data, out=args.out, config=args.config, overrides=settings,
                    overwrite=args.overwrite, verbose=not args.quiet)
    if args.json:
        print(json.dumps(run.report, indent=2))
    elif is_sequence(run.report):  # a recording → text run
        print_sequence_results(run.report, run.path)
    else:
        print_results(run.report, run.path)
    return 0


EPILOG_COMPARE = """\
which pipelines:
  --pipelines a,b,c          these (NAME:HEAD swaps the head preset: scratch_cnn:mlp)
  --pipelines recommended    the task's short list (default)
  --pipelines offline        every pipeline that needs no download

examples:
  konstrukt compare photos/ --pipelines offline --out runs/cmp
  konstrukt compare clips/ --task sound --pipelines panns_cnn14_mlp,scratch_melcnn --out runs/cmp
  konstrukt compare photos/ --pipelines efficientnet_b0,efficientnet_b0:mlp,efficientnet_b0:mlp_bn --out runs/heads

Every pipeline trains on the same split and is cross-validated on the same folds; the
recommendation is the best CV mean, or a smaller/faster pipeline within one fold std of it
(never chosen on the test split). A pipeline whose weights are not on this machine is skipped
with the reason; one that fails gets its row's reason and the others finish. Heads on one frozen
backbone share its embeddings (one backbone pass) and train side by side, one process per core
(--processes). The out folder holds
leaderboard.json, leaderboard.md, leaderboard.png and a normal run folder per pipeline (runs/NAME).
"""


def add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", help="train several pipelines on the same folds: leaderboard and a recommendation",
        description="Train several pipelines on the same split and cross-validation folds, print a "
                    "leaderboard (CV accuracy, test accuracy and F1, training time, memory, "
                    "parameters, model size, latency) with a classical reference row, and recommend one.",
        epilog=EPILOG_COMPARE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder of class folders, .zip or .csv (as for train)")
    p.add_argument("--out", required=True, help="folder to create for the leaderboard and the runs")
    p.add_argument("--pipelines", default="recommended", metavar="a,b,c|recommended|offline",
                   help="which pipelines to compare (default: recommended)")
    p.add_argument("--config", default=None, metavar="FILE", help="JSON/YAML config applied to every pipeline")
    add_flags(p, compare_flags())
    p.add_argument("--processes", type=int, default=None, metavar="N",
                   help="heads on one frozen backbone train side by side in up to N processes "
                        "(default: one per CPU core; 1: one after another)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing out folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print leaderboard.json to stdout at the end")
    add_executor_flags(p)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from ..comparison.contest import compare
    from ..comparison.leaderboard import table_text

    settings = overrides(args, compare_flags())
    executor = _executor(args)
    if executor:
        from ..execution.driver import submit

        folder = submit(executor, "compare", args.data, args.out, task=settings.get("task"), overrides=settings,
                        config={"pipelines": args.pipelines, "config": args.config},
                        storage_url=args.storage_url, overwrite=args.overwrite, verbose=not args.quiet)
        board = json.loads((folder / "leaderboard.json").read_text(encoding="utf-8"))
        board["out"] = str(folder)
    else:
        board = compare(args.data, out=args.out, pipelines=args.pipelines, config=args.config,
                        overrides=settings, overwrite=args.overwrite, verbose=not args.quiet,
                        processes=args.processes)
    if args.json:
        print(json.dumps(board, indent=2, ensure_ascii=False))
        return 0
    if is_sequence(board):  # the sequence variants' CER table
        print_sequence_board(board)
        return 0
    print("\n" + table_text(board))
    rec = board["recommendation"]
    if rec:
        print(textwrap.fill(rec["reason"], width=90, initial_indent="\n", subsequent_indent="  "))
    if verdict_text(board.get("verdict")):
        print(textwrap.fill(verdict_text(board["verdict"]), width=90, initial_indent="\n", subsequent_indent="  "))
    print(f"\nout folder: {board['out']}  (leaderboard.json, leaderboard.md, leaderboard.png, runs/)")
    if rec:
        print(f"use it:     konstrukt predict {Path(board['out']) / rec['run']} FILES")
    return 0

