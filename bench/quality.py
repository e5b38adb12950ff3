"""Quality of the offline pipelines against the classical peer, on real held-out data, in one run.

For each set of bench/quality_data.py, trains ``--pipeline`` (default ``auto``: what a user gets,
offline here; ``offline``: the task's from-scratch pipeline) with its defaults — only ``cv`` is
set, so every set gets a 5-fold CV figure on its training examples — and prints its test accuracy
and CV mean ± std beside the run's own reference model (hand-made features + logistic regression,
fitted on the same examples, scored on the same test split and the same folds). For ``auto`` it
also prints which pipeline the CV contest kept and the other candidates' CV scores.

    nice python bench/quality.py                 # every set, auto
    nice python bench/quality.py --pipeline offline --only digits faces --config '{"num_epochs": 40}'
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import konstrukt  # noqa: E402
from konstrukt.tasks import TASKS  # noqa: E402
from konstrukt.modalities import register_all  # noqa: E402

from quality_data import SETS, build  # noqa: E402

register_all()  # what konstrukt's entry points do first


def _acc(m: dict | None) -> str:
    return "–" if not m else f"{m['accuracy']:.3f}"


def _cv(cv: dict | None) -> str:
    return "–" if not cv else f"{cv['accuracy_mean']:.3f} ± {cv['accuracy_std']:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/tmp/konstrukt-quality", help="where the sets are (built if missing)")
    ap.add_argument("--only", nargs="*", choices=list(SETS))
    ap.add_argument("--config", default="{}", help="JSON overrides for every run (default: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pipeline", default="auto",
                    help="auto (default), offline (the task's from-scratch pipeline) or a pipeline name")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: all cores); 1 is much faster on a busy shared machine")
    args = ap.parse_args()
    if args.threads:
        import konstrukt.experiment as experiment
        import torch

        experiment.use_all_cores = lambda: torch.set_num_threads(args.threads)
    overrides = {"cv": 5, "seed": args.seed, **json.loads(args.config)}
    sets = build(args.data, args.only)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (task, path) in sets.items():
            pipeline = TASKS.get(task).offline_pipeline if args.pipeline == "offline" else args.pipeline
            t0 = time.perf_counter()
            run = konstrukt.train(path, task=task, pipeline=pipeline, out=Path(tmp) / name,
                                  config=overrides, verbose=False)
            seconds = time.perf_counter() - t0
            r = run.report
            ref = r.get("reference") or {"name": "–", "test": None, "cv": None}  # older runs: none
            n = r["data"]["per_split"]
            per_class = {s: min(c.values()) for s, c in n.items() if c}
            kept = r["pipeline"] if pipeline == "auto" else pipeline
            rows.append((name, f"{pipeline} → {kept}" if pipeline == "auto" else kept, f"{per_class.get('train', 0)}+{per_class.get('val', 0)}"
                         f" → {per_class.get('test', 0)}", _acc(r["test"]), _cv(r["cv"]),
                         ref["name"], _acc(ref["test"]), _cv(ref["cv"]),
                         f"{100 * (r['test']['accuracy'] - ref['test']['accuracy']):+.1f}" if ref["test"] else "–",
                         f"{seconds:.0f}", r["best_epoch"]))
            verdict = (r.get("baseline") or {}).get("text") if isinstance(r.get("baseline"), dict) else r.get("baseline")
            why = (r.get("selection") or {}).get("reason", "")
            print(f"{name}: {' | '.join(str(c) for c in rows[-1])}\n  {verdict}\n  {why}", flush=True)
    head = ("set", "pipeline", "train+val → test /class", "test acc", "CV acc", "peer",
            "peer test", "peer CV", "gap (pts)", "seconds", "epochs")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print(f"\nconfig overrides: {json.dumps(overrides)}; konstrukt {konstrukt.__version__}")


if __name__ == "__main__":
    main()
