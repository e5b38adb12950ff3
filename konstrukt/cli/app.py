"""Commands around the product: ``demo``, ``pipelines`` and ``serve``."""
from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path

from .output import print_results
from .tls import add_tls_flags, tls_options


def add_demo(sub) -> None:
    p = sub.add_parser("demo", help="train and try models on bundled data, offline, in about a minute",
                       description="Writes small datasets — scikit-learn's real handwritten digits "
                                   "(15 images per class), synthesised sounds (chirps, tones, "
                                   "noise bursts, clicks) and synthesised 6-channel gesture "
                                   "recordings of several subjects — trains each with auto (the "
                                   "pretrained or training-free features that work offline, in a CV "
                                   "contest with the simple model and a from-scratch model), "
                                   "evaluates them and predicts a few unseen files.")
    p.add_argument("--out", default="konstrukt-demo", help="folder for the data and the runs")
    p.add_argument("--only", choices=list(_demos()), default=None, help="run one part only")
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


def _demos() -> dict:
    """The tasks with a part in the demo (their ``TaskSpec.demo``), in registration order."""
    from ..tasks import TASKS

    return {name: task.demo for name, task in TASKS.items() if task.demo}


def cmd_demo(args) -> int:
    from ..demo_runner import run_apart

    def part(demo):
        return lambda: _demo_part(demo.title, demo.run(args.out, verbose=not args.quiet), demo.unseen)

    parts = [part(demo) for name, demo in _demos().items() if args.only in (None, name)]
    if len(parts) == 1:
        parts[0]()
        return 0
    return run_apart(parts)  # each part in its own process: peak memory is the largest part's


def add_list(sub) -> None:
    p = sub.add_parser("pipelines", help="list the pipelines for each task",
                       description="List registered pipelines with their backbone and strategy.")
    p.set_defaults(func=cmd_pipelines)


def cmd_pipelines(args) -> int:
    from ..auto import auto_plan, pipeline_available
    from ..pipelines import PIPELINES
    from ..tasks import TASKS

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


def add_serve(sub) -> None:
    p = sub.add_parser(
        "serve", help="start the web app: projects, uploads, training, results, try-it",
        description="Start the web service (REST API + browser UI) with a local worker that trains "
                    "in the background. Embedded default: SQLite and files under --data-dir.",
        epilog="examples:\n  konstrukt serve --demo            # demo account and project, then open "
               "http://127.0.0.1:8000/\n  konstrukt serve --database-url postgresql+psycopg://u:p@db/konstrukt"
               "\n  AWS_ENDPOINT_URL=http://minio:9000 konstrukt serve --storage-url s3://konstrukt/prod"
               "   # samples and runs in S3-compatible storage (docs/scale-out.md)"
               "\n  konstrukt serve --host 0.0.0.0 --tls-self-signed   # phones on the LAN: https, and a QR code "
               "on signal projects to record motion",
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
    add_tls_flags(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    from ..service import serve

    if (args.executor or os.environ.get("KONSTRUKT_EXECUTOR", "")).strip().lower() == "ray":
        from ..execution import require_ray

        require_ray()  # says how to install it, before the server starts
    serve(host=args.host, port=args.port, data_dir=args.data_dir, database_url=args.database_url,
          demo=args.demo, storage_url=args.storage_url, executor=args.executor,
          ray_address=args.ray_address, tls=tls_options(args))
    return 0

