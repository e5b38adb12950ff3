"""Commands on a trained run: ``evaluate``, ``predict`` and ``export``."""
from __future__ import annotations

import argparse
import json
import sys

from .output import pct, print_per_class
from .sequences import is_sequence, print_metrics, print_predictions


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a trained run on other labelled data",
                       description="Score a trained run on another folder/zip/CSV of labelled examples.")
    p.add_argument("run", help="run folder written by `konstrukt train`")
    p.add_argument("data", help="labelled data (same layouts as train)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from ..inference import load_run

    metrics = load_run(args.run).evaluate(args.data)
    for w in metrics["data"]["warnings"]:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        print(json.dumps(metrics, indent=2, ensure_ascii=False))
        return 0
    if is_sequence(metrics):  # a recording → text run: CER
        print_metrics(metrics)
        return 0
    print(f"accuracy {pct(metrics['accuracy'])}   F1 macro {pct(metrics['f1_macro'])}   "
          f"F1 weighted {pct(metrics['f1_weighted'])}   n = {metrics['n']}")
    print_per_class(metrics["per_class"])
    return 0


def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict the class of files with a trained run",
                       description="Print each file's most likely class with probabilities.")
    p.add_argument("run", help="run folder written by `konstrukt train`, or an exported bundle (folder or .zip)")
    p.add_argument("files", nargs="+", help="files to classify")
    p.add_argument("--top-k", dest="top_k", type=int, default=3, help="classes to show per file (3)")
    p.add_argument("--json", action="store_true",
                   help='print [{"file", "label", "probabilities": {class: p}}]')
    p.set_defaults(func=cmd_predict)


def cmd_predict(args) -> int:
    from ..inference import load_run

    results = load_run(args.run).predict(args.files, top_k=args.top_k)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
        return 0
    if is_sequence(results):
        print_predictions(results)
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
  web        the ONNX bundle (INT8 where it agrees, else fp32) + index.html: the model as a web page
             that runs offline in a browser, from disk or any static host (onnxruntime-web inside)

every bundle holds config.json, requirements.txt and a model card (README.md); every model in it
was compared with the PyTorch model on held-out files, and the export stops (writing nothing)
when they disagree; `all` leaves out an INT8 model that agrees too little, and says so.

examples:
  konstrukt export runs/fruit --format all --out fruit-bundle      # a folder (or fruit-bundle.zip)
  cd fruit-bundle && pip install -r requirements.txt && python predict.py photo.jpg --json
"""


# = konstrukt.exporting.writer.FORMATS, written out: importing the exporter (torch, onnx) to build the
# argument parser cost every command seconds at start-up (tests/test_cli.py checks they agree)
EXPORT_FORMATS = ("bundle", "onnx", "onnx-int8", "all", "web")


def add_export(sub) -> None:
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
    from ..exporting.writer import export

    cfg = export(args.run, args.out, args.format, force=args.force, samples=args.samples,
                 say=lambda msg: print(msg, file=sys.stderr))
    if args.json:
        print(json.dumps(cfg, indent=2, ensure_ascii=False))
        return 0
    par = cfg["parity"]
    if cfg.get("kind") == "sequence":  # parity of decoded text (konstrukt/sequences/export.py)
        from ..sequences.export import summary_lines
        print("\n".join(summary_lines(cfg)))
        return 0
    print(f"exported {cfg['pipeline']['name']} ({', '.join(cfg['classes'])}) to {cfg['path']}")
    print(f"parity on {par['samples']} held-out files ({par['source']}):")
    for name, r in par["results"].items():
        print(f"  {name:26} max |Δlogit| {r['max_abs_logit_diff']:.1e}   top-1 agreement "
              f"{100 * r['top1_agreement']:.1f}%")
    if "int8_size_ratio" in par:
        print(f"  INT8 file is {par['int8_size_ratio']:.1f}x smaller than fp32")
    for fmt, why in cfg.get("refused", {}).items():
        print(f"not written: {fmt} ({why})")
    print(f"files: {', '.join(sorted(cfg['files'].values()))}")
    return 0

