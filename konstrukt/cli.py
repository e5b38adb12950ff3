"""The ``konstrukt`` command: a thin face over the library (every command calls one function)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

from .errors import KonstruktError
from .verdict import verdict_text

EPILOG_TRAIN = """\
data layouts:
  DATA/<class>/<files>                      konstrukt makes a stratified train/val/test split
  DATA/train/<class>/… DATA/test/<class>/…  your splits are used as given (val/ optional)
  DATA.zip                                  either layout, zipped
  DATA.csv                                  columns path,label (paths relative to the CSV)
  LABELS.csv                                signal: long recordings, columns file,start,end,label
                                            [,subject]; cut into windows, split by recording/subject

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


def _add_train(sub) -> None:
    from .pipelines import PIPELINES
    from .tasks import TASKS

    p = sub.add_parser(
        "train", help="train a model on a folder of examples and write a run folder",
        description="Train a classifier on labelled examples, evaluate it honestly (held-out test "
                    "split, plus 5-fold cross-validation on small data) and write a run folder "
                    "with report.json, weights, pictures and a summary.",
        epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder of class folders, .zip or .csv (see below)")
    p.add_argument("--out", required=True, help="run folder to create (must not exist or be empty)")
    p.add_argument("--task", default=None, choices=TASKS.names(),
                   help="kind of examples (default: image)")
    p.add_argument("--pipeline", default=None, metavar="NAME",
                   help=f"'auto' (recommended for the task) or one of: {', '.join(PIPELINES.names())}")
    p.add_argument("--strategy", default=None, choices=["probe", "head", "partial", "full"],
                   help="probe: head on cached frozen embeddings (fast); head: frozen backbone, fresh "
                        "augmentation every epoch; partial: last N blocks train; full: everything trains")
    p.add_argument("--pretrained", default=None, metavar="imagenet|none|PATH",
                   help="weights: the pipeline's pretrained set, none (from scratch) or a state_dict file")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="JSON/YAML config (a hyperparams.json with num_epochs, learning_rate, "
                        "batch_size, weight_decay works as is); flags override it")
    p.add_argument("--epochs", dest="num_epochs", type=int, default=None, metavar="N",
                   help="number of epochs (early stopping may end sooner)")
    p.add_argument("--lr", dest="learning_rate", type=float, default=None, metavar="LR",
                   help="learning rate")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None, metavar="N")
    p.add_argument("--weight-decay", dest="weight_decay", type=float, default=None, metavar="WD")
    p.add_argument("--head", default=None, metavar="linear|mlp",
                   help="head preset (edit layer by layer in a config file)")
    p.add_argument("--cv", type=int, default=None, metavar="K",
                   help="K-fold cross-validation (default: 5 when under 100 examples; 0 = off)")
    p.add_argument("--target-size", dest="target_size", type=int, default=None, metavar="N",
                   help="top up each class to this many training examples with augmented copies (50)")
    p.add_argument("--image-size", dest="image_size", type=int, default=None, metavar="PX",
                   help="square input size (default: the backbone's, e.g. 224 for B0)")
    g = p.add_argument_group("signal task (sensor recordings: CSV / NPY / NPZ)")
    g.add_argument("--sample-rate", dest="sample_rate", type=float, default=None, metavar="HZ",
                   help="rate of files without a time column; every file is resampled to it "
                        "(default: the time column's rate)")
    g.add_argument("--window", type=float, default=None, metavar="S",
                   help="seconds per model input: shorter files are padded, longer ones cropped (2)")
    g.add_argument("--hop", type=float, default=None, metavar="S",
                   help="long recordings (labels CSV, prediction): seconds between windows (window / 2)")
    g.add_argument("--layout", default=None, choices=["auto", "channels_first", "time_first"],
                   help="axes of NPY/NPZ arrays (auto: the longer axis is time)")
    g.add_argument("--time-column", dest="time_column", default=None, choices=["auto", "none", "first"],
                   help="is a CSV's first column the time in seconds? (auto: by its name or an even ramp)")
    p.add_argument("--seed", type=int, default=None, help="random seed for splits, init and "
                   "augmentation (0): the same seed gives the same run")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, mps")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument("--strict", action="store_true",
                   help="stop when the data leaks across splits or has label conflicts (default: warn, "
                        "and leave leaked copies out of the validation/test scores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print report.json to stdout at the end")
    _add_executor_flags(p)
    p.set_defaults(func=cmd_train)


FLAG_KEYS = ["task", "pipeline", "strategy", "pretrained", "num_epochs", "learning_rate", "batch_size",
             "weight_decay", "head", "cv", "target_size", "image_size", "seed", "device"]
SIGNAL_FLAGS = ["sample_rate", "window", "hop", "layout", "time_column"]  # → the `signal` section


def _add_executor_flags(p) -> None:
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
    from .execution import make_executor

    executor = make_executor(args.executor, args.ray_address)
    return None if executor.name == "local" else executor


def cmd_train(args) -> int:
    from .experiment import train
    from .inference import Run

    overrides = {k: getattr(args, k) for k in FLAG_KEYS}
    if args.strict:
        overrides["health"] = {"strict": True}
    signal = {k: getattr(args, k) for k in SIGNAL_FLAGS if getattr(args, k) is not None}
    if signal:
        overrides["signal"] = signal
    executor = _executor(args)
    if executor:
        from .execution.driver import submit

        folder = submit(executor, "train", args.data, args.out, config=args.config, overrides=overrides,
                        storage_url=args.storage_url, overwrite=args.overwrite, verbose=not args.quiet)
        run = Run.load(folder)
    else:
        run = train(args.data, out=args.out, config=args.config, overrides=overrides,
                    overwrite=args.overwrite, verbose=not args.quiet)
    if args.json:
        print(json.dumps(run.report, indent=2))
    else:
        print_results(run.report, run.path)
    return 0


def _pct(x) -> str:
    return "   –  " if x is None else f"{100 * x:5.1f}%"


def print_per_class(per_class: dict) -> None:
    print(f"\n  {'class':22}{'precision':>10}{'recall':>10}{'F1':>10}{'n':>6}")
    for c, m in per_class.items():
        print(f"  {c[:22]:22}{_pct(m['precision']):>10}{_pct(m['recall']):>10}{_pct(m['f1']):>10}"
              f"{m['support']:>6}")


def print_results(report: dict, path: Path) -> None:
    """The results table at the end of ``train``."""
    t, v, cv = report.get("test"), report.get("val"), report.get("cv")
    print(f"\n{report['pipeline']} ({report['strategy']}) — {len(report['classes'])} classes, "
          f"{report['data']['n']} examples, trained in {report['train_seconds']:.1f} s, "
          f"peak memory {report['peak_memory_mb']:.0f} MB")
    print(f"\n  {'':22}{'accuracy':>10}{'F1 macro':>10}{'n':>6}")
    for name, m in (("validation", v), ("test (held out)", t)):
        if m:
            print(f"  {name:22}{_pct(m['accuracy']):>10}{_pct(m['f1_macro']):>10}{m['n']:>6}")
    if cv:
        print(f"  {str(cv['folds']) + '-fold CV (mean ± std)':22}"
              f"{_pct(cv['accuracy_mean']):>7} ± {100 * cv['accuracy_std']:.1f}"
              f"   F1 {_pct(cv['f1_macro_mean'])} ± {100 * cv['f1_macro_std']:.1f}")
    if t:
        print_per_class(t["per_class"])
        if t["n"] < 30:
            print(textwrap.fill(f"note: only {t['n']} test examples — one mistake moves test accuracy by "
                                f"{100 / t['n']:.0f} points" + ("; trust the CV figure more." if cv else "."),
                                width=90, initial_indent="\n  ", subsequent_indent="  "))
    if report.get("selection"):
        print(textwrap.fill("auto " + report["selection"]["reason"], width=90, initial_indent="\n  ",
                            subsequent_indent="  "))
    if verdict_text(report.get("baseline")):
        print(textwrap.fill(verdict_text(report["baseline"]), width=90, initial_indent="\n  ",
                            subsequent_indent="  "))
    health = report.get("data_health") or {"findings": []}
    issues = [f for f in health["findings"] if f["severity"] != "info"]
    if issues:
        print(f"\n  data health: {len(issues)} finding(s) — " + "; ".join(
            f"{n} {k.replace('_', ' ')}" for k, n in health["counts"].items() if k != "add_next")
              + " (see summary.md; `konstrukt check` lists the files)")
    for f in health["findings"]:
        if f["kind"] == "add_next":
            print(textwrap.fill("what to add next: " + f["message"], width=90, initial_indent="\n  ",
                                subsequent_indent="  "))
    print(f"\nrun folder: {path}  (report.json, summary.md, curves.png, confusion_matrix.png)")


def _add_check(sub) -> None:
    from .tasks import TASKS

    p = sub.add_parser(
        "check", help="check data before training: duplicates, leakage, label conflicts, imbalance …",
        description=textwrap.fill(
            "Check labelled examples without training: exact and near duplicates (within a class, "
            "across classes, across train/validation/test), too few examples, class imbalance, "
            "unusual sizes/durations/sample rates, blank images and silent clips. `train` runs the "
            "same checks and, after cross-validation, lists likely mislabelled examples too.", 90),
        epilog=textwrap.fill("exit status: 0 when the check ran (1 with --strict when there is leakage "
                             "or a label conflict), 2 when the data cannot be read at all.", 90)
               + "\n\nexamples:\n"
               "  konstrukt check photos/\n  konstrukt check sounds/ --task sound --json > health.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder of class folders, .zip or .csv (as for train)")
    p.add_argument("--task", default="image", choices=TASKS.names(), help="kind of examples (default: image)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="the config you train with (its split and cv decide what is checked)")
    p.add_argument("--strict", action="store_true", help="exit 1 on leakage or label conflicts")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from .data.health import check
    from .experiment import resolve_config
    from .progress import Progress

    config, _ = resolve_config(args.task, None, args.config)
    report = check(args.data, args.task, config, Progress(verbose=not args.quiet))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_health(report.to_dict())
    return 1 if args.strict and report.blocking else 0


def print_health(health: dict, limit: int = 20) -> None:
    """The findings of a data check, grouped by finding, with the files each names."""
    found = health["findings"]
    problems = [f for f in found if f["severity"] != "info"]
    print(f"checked {health['checked']} examples: "
          + (f"{len(problems)} finding(s)" if problems else "no problems found"))
    for f in found[:limit]:
        print(f"\n  {f['severity'].upper():7} {f['kind'].replace('_', ' ')}: {f['message']}")
        for s in f["samples"][:8]:
            extra = s.get("value") or s.get("error") or (f"→ {s['suggested']}" if s.get("suggested") else "")
            where = f"  [{s['split']}]" if s.get("split") else ""
            print(f"          {s['file']}{where}" + (f"  {extra}" if extra else ""))
        if len(f["samples"]) > 8:
            print(f"          … and {len(f['samples']) - 8} more")
        if f["action"]:
            print(f"          fix: {f['action']}")
    if len(found) > limit:
        print(f"\n  … and {len(found) - limit} more finding(s); --json lists them all")
    for split, items in (health.get("removed_from_evaluation") or {}).items():
        print(f"\n  training leaves {len(items)} leaked example(s) out of the {split} split")


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


def _add_compare(sub) -> None:
    from .tasks import TASKS

    p = sub.add_parser(
        "compare", help="train several pipelines on the same folds: leaderboard and a recommendation",
        description="Train several pipelines on the same split and cross-validation folds, print a "
                    "leaderboard (CV accuracy, test accuracy and F1, training time, memory, "
                    "parameters, model size, latency) with a classical reference row, and recommend one.",
        epilog=EPILOG_COMPARE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="folder of class folders, .zip or .csv (as for train)")
    p.add_argument("--out", required=True, help="folder to create for the leaderboard and the runs")
    p.add_argument("--task", default=None, choices=TASKS.names(), help="kind of examples (default: image)")
    p.add_argument("--pipelines", default="recommended", metavar="a,b,c|recommended|offline",
                   help="which pipelines to compare (default: recommended)")
    p.add_argument("--config", default=None, metavar="FILE", help="JSON/YAML config applied to every pipeline")
    p.add_argument("--epochs", dest="num_epochs", type=int, default=None, metavar="N")
    p.add_argument("--cv", type=int, default=None, metavar="K", help="cross-validation folds (5)")
    p.add_argument("--pretrained", default=None, metavar="none|PATH",
                   help="weights for every pipeline (default: each pipeline's own)")
    p.add_argument("--target-size", dest="target_size", type=int, default=None, metavar="N")
    p.add_argument("--image-size", dest="image_size", type=int, default=None, metavar="PX")
    p.add_argument("--seed", type=int, default=None, help="one seed for the split, folds and init (0)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, mps")
    p.add_argument("--processes", type=int, default=None, metavar="N",
                   help="heads on one frozen backbone train side by side in up to N processes "
                        "(default: one per CPU core; 1: one after another)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing out folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print leaderboard.json to stdout at the end")
    _add_executor_flags(p)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    from .compare import compare, table_text

    keys = ["task", "num_epochs", "cv", "pretrained", "target_size", "image_size", "seed", "device"]
    overrides = {k: getattr(args, k) for k in keys}
    executor = _executor(args)
    if executor:
        from .execution.driver import submit

        folder = submit(executor, "compare", args.data, args.out, task=args.task, overrides=overrides,
                        config={"pipelines": args.pipelines, "config": args.config},
                        storage_url=args.storage_url, overwrite=args.overwrite, verbose=not args.quiet)
        board = json.loads((folder / "leaderboard.json").read_text(encoding="utf-8"))
        board["out"] = str(folder)
    else:
        board = compare(args.data, out=args.out, pipelines=args.pipelines, config=args.config,
                        overrides=overrides, overwrite=args.overwrite, verbose=not args.quiet,
                        processes=args.processes)
    if args.json:
        print(json.dumps(board, indent=2, ensure_ascii=False))
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


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a trained run on other labelled data",
                       description="Score a trained run on another folder/zip/CSV of labelled examples.")
    p.add_argument("run", help="run folder written by `konstrukt train`")
    p.add_argument("data", help="labelled data (same layouts as train)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from .inference import load_run

    metrics = load_run(args.run).evaluate(args.data)
    for w in metrics["data"]["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    print(f"accuracy {_pct(metrics['accuracy'])}   F1 macro {_pct(metrics['f1_macro'])}   "
          f"F1 weighted {_pct(metrics['f1_weighted'])}   n = {metrics['n']}")
    print_per_class(metrics["per_class"])
    return 0


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict the class of files with a trained run",
                       description="Print each file's most likely class with probabilities.")
    p.add_argument("run", help="run folder written by `konstrukt train`, or an exported bundle (folder or .zip)")
    p.add_argument("files", nargs="+", help="files to classify")
    p.add_argument("--top-k", dest="top_k", type=int, default=3, help="classes to show per file (3)")
    p.add_argument("--json", action="store_true",
                   help='print [{"file", "label", "probabilities": {class: p}}]')
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from .inference import load_run

    results = load_run(args.run).predict(args.files, top_k=args.top_k)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    for r in results:
        probs = "  ".join(f"{c} {100 * p:.1f}%" for c, p in r["probabilities"].items())
        print(f"{r['file']}: {r['label']}{' (unsure)' if r['unsure'] else ''}    ({probs})")
    return 0


EPILOG_EXPORT = """\
formats:
  bundle     model.safetensors + predict.py for PyTorch (torch, torchvision)
  onnx       model.onnx + predict.py for onnxruntime (numpy, onnxruntime; no torch)
  onnx-int8  model.int8.onnx (INT8-quantised: ~4x smaller, faster on CPUs) + predict.py
  all        everything above in one bundle (predict.py runs ONNX, predict_torch.py PyTorch)

every bundle holds config.json, requirements.txt and a model card (README.md); every model in it
was compared with the PyTorch model on held-out files, and the export stops (writing nothing)
when they disagree.

examples:
  konstrukt export runs/fruit --format all --out fruit-bundle      # a folder (or fruit-bundle.zip)
  cd fruit-bundle && pip install -r requirements.txt && python predict.py photo.jpg --json
"""


# = konstrukt.export.writer.FORMATS, written out: importing the exporter (torch, onnx) to build the
# argument parser cost every command seconds at start-up (tests/test_cli.py checks they agree)
EXPORT_FORMATS = ("bundle", "onnx", "onnx-int8", "all")


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export a trained run as a bundle that runs without konstrukt",
                       description="Write a trained run as a stand-alone bundle (folder or .zip): "
                                   "weights, config.json, a generated predict.py, requirements.txt "
                                   "and a model card, checked for parity against PyTorch.",
                       epilog=EPILOG_EXPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="run folder written by `konstrukt train` (or a bundle)")
    p.add_argument("--format", default="bundle", choices=EXPORT_FORMATS, help="what to write (default: bundle)")
    p.add_argument("--out", required=True, metavar="PATH", help="bundle folder to create, or a .zip file")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")
    p.add_argument("--samples", default=None, metavar="FOLDER",
                   help="files for the parity check when the run's test files are gone")
    p.add_argument("--json", action="store_true", help="print the bundle's config.json")
    p.set_defaults(func=cmd_export)


def cmd_export(args) -> int:
    from .export.writer import export

    cfg = export(args.run, args.out, args.format, force=args.force, samples=args.samples,
                 say=lambda msg: print(msg, file=sys.stderr))
    if args.json:
        print(json.dumps(cfg, indent=2, ensure_ascii=False))
        return 0
    par = cfg["parity"]
    print(f"exported {cfg['pipeline']['name']} ({', '.join(cfg['classes'])}) to {cfg['path']}")
    print(f"parity on {par['samples']} held-out files ({par['source']}):")
    for name, r in par["results"].items():
        print(f"  {name:26} max |Δlogit| {r['max_abs_logit_diff']:.1e}   top-1 agreement "
              f"{100 * r['top1_agreement']:.1f}%")
    if "int8_size_ratio" in par:
        print(f"  INT8 file is {par['int8_size_ratio']:.1f}x smaller than fp32")
    print(f"files: {', '.join(sorted(cfg['files'].values()))}")
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="train and try models on bundled data, offline, in about a minute",
                       description="Writes small datasets — scikit-learn's real handwritten digits "
                                   "(15 images per class), synthesised sounds (chirps, tones, "
                                   "noise bursts, clicks) and synthesised 6-channel gesture "
                                   "recordings of several subjects — trains the from-scratch "
                                   "pipelines on them, evaluates them and predicts a few unseen files.")
    p.add_argument("--out", default="konstrukt-demo", help="folder for the data and the runs")
    p.add_argument("--only", choices=["image", "sound", "signal"], default=None, help="run one part only")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)


def _demo_part(title: str, result: dict, unseen: str) -> None:
    print(f"\n=== {title} ===")
    print_results(result["report"], Path(result["run"]))
    print(f"\npredictions on {unseen} the model never saw:")
    for r in result["predictions"]:
        top = "  ".join(f"{c} {100 * p:.0f}%" for c, p in r["probabilities"].items())
        truth = Path(r["file"]).parent.name  # the demo's unseen files sit in their class's folder
        mark = "" if r["label"] == truth else f"   ✗ wrong (it is {truth})"
        print(f"  {truth}/{Path(r['file']).name}: {r['label']}{' (unsure)' if r['unsure'] else ''}   ({top}){mark}")
    print(f"\ndata: {result['data']}\nrun:  {result['run']}\n"
          f"try:  konstrukt predict {result['run']} {result['new_files']}/*/*")


def cmd_demo(args) -> int:
    from .demo import run_demo
    from .demo_sound import run_sound_demo

    if args.only in (None, "image"):
        _demo_part("images: handwritten digits", run_demo(args.out, verbose=not args.quiet), "digits")
    if args.only in (None, "sound"):
        _demo_part("sounds: synthesised chirps, tones, bursts and clicks",
                   run_sound_demo(args.out, verbose=not args.quiet), "sounds")
    if args.only in (None, "signal"):
        from .demo_signal import run_signal_demo

        _demo_part("signals: synthesised 6-channel gestures (fist, pinch, wave, rest) of 5 subjects",
                   run_signal_demo(args.out, verbose=not args.quiet), "recordings of 2 unseen subjects")
    return 0


def _add_list(sub) -> None:
    p = sub.add_parser("pipelines", help="list the pipelines for each task",
                       description="List registered pipelines with their backbone and strategy.")
    p.set_defaults(func=cmd_pipelines)


def cmd_pipelines(args) -> int:
    from .auto import auto_plan, pipeline_available
    from .pipelines import PIPELINES
    from .tasks import TASKS

    for task_name, task in TASKS.items():
        plan = auto_plan(task_name)
        print(f"{task_name}: {task.description}")
        print(textwrap.fill(f"auto on this machine: {plan.words()}", width=100, initial_indent="  ",
                            subsequent_indent="    "))
        for name, spec in PIPELINES.items():
            if task_name in spec.tasks:
                marks = [m for m, on in (("auto", name == plan.start), ("recommended", name == task.default_pipeline),
                                         ("offline default", name == task.offline_pipeline)) if on]
                if not pipeline_available(spec)[0]:
                    marks.append("weights not on this machine")
                mark = f" ({'; '.join(marks)})" if marks else ""
                print(f"  {name:22} {spec.strategy:8} {spec.description}{mark}")
    return 0


def _add_serve(sub) -> None:
    p = sub.add_parser(
        "serve", help="start the web app: projects, uploads, training, results, try-it",
        description="Start the web service (REST API + browser UI) with a local worker that trains "
                    "in the background. Embedded default: SQLite and files under --data-dir.",
        epilog="examples:\n  konstrukt serve --demo            # demo account and project, then open "
               "http://127.0.0.1:8000/\n  konstrukt serve --database-url postgresql+psycopg://u:p@db/konstrukt"
               "\n  AWS_ENDPOINT_URL=http://minio:9000 konstrukt serve --storage-url s3://konstrukt/prod"
               "   # samples and runs in S3-compatible storage (docs/scale-out.md)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", default=None, help="where projects, samples and runs are stored "
                   "(default: $KONSTRUKT_DATA_DIR or ./konstrukt-data)")
    p.add_argument("--database-url", default=None,
                   help="SQLAlchemy URL (default: SQLite in the data dir)")
    p.add_argument("--storage-url", default=None, metavar="URL",
                   help="where samples, job manifests and runs are stored: s3://BUCKET/PREFIX for "
                   "S3-compatible object storage, its endpoint and credentials from the standard AWS "
                   "variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); needs "
                   "pip install 'konstrukt[scale]' (default: $KONSTRUKT_STORAGE_URL, else the data dir)")
    p.add_argument("--demo", action="store_true",
                   help="create a demo user and a demo project that trains offline")
    p.add_argument("--executor", default=None, choices=["local", "ray"],
                   help="where jobs train: local (a worker process beside the server, default) or ray "
                        "(each job a task on a Ray cluster; default: $KONSTRUKT_EXECUTOR). See docs/scale-out.md")
    p.add_argument("--ray-address", dest="ray_address", default=None, metavar="HOST:PORT",
                   help="the Ray cluster for --executor ray (default: $KONSTRUKT_RAY_ADDRESS)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from .service import serve

    if (args.executor or os.environ.get("KONSTRUKT_EXECUTOR", "")).strip().lower() == "ray":
        from .execution import require_ray

        require_ray()  # says how to install it, before the server starts
    serve(host=args.host, port=args.port, data_dir=args.data_dir, database_url=args.database_url,
          demo=args.demo, storage_url=args.storage_url, executor=args.executor,
          ray_address=args.ray_address)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="konstrukt",
        description="Build a classifier from a few dozen examples per class, see honestly how good "
                    "it is, and use it. Start with `konstrukt demo`.")
    parser.add_argument("--version", action="version", version=f"konstrukt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_compare, _add_check, _add_evaluate, _add_predict, _add_export, _add_demo,
                _add_serve, _add_list):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Idle OpenMP threads sleep instead of spinning: on a busy machine spinning threads slowed a
    # small CNN's training ~4x (measured by the service worker). Must be set before torch starts.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KonstruktError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
