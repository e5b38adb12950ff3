"""``konstrukt check``: the data-health check without training."""
from __future__ import annotations

import json
import textwrap

from .output import print_health
from .parsers import add_data_arguments, command_parser


def add_check(sub) -> None:
    p = command_parser(
        sub, "check", help="check data before training: duplicates, leakage, label conflicts, imbalance …",
        description="Check labelled examples without training: exact and near duplicates (within a class, "
                    "across classes, across train/validation/test), too few examples, class imbalance, "
                    "unusual sizes/durations/sample rates, blank images and silent clips. `train` runs the "
                    "same checks and, after cross-validation, lists likely mislabelled examples too.",
        epilog=textwrap.fill("exit status: 0 when the check ran (1 with --strict when there is leakage "
                             "or a label conflict), 2 when the data cannot be read at all.", 90)
               + "\n\nexamples:\n"
               "  konstrukt check photos/\n  konstrukt check sounds/ --task sound --json > health.json\n"
               "  konstrukt check keys/labels.csv      (path,text: durations, texts, alphabet, texts too long)")
    add_data_arguments(p, data="folder of class folders, .zip or .csv (as for train; a CSV with text: "
                               "recordings with their text)",
                       config="the config you train with (its split and cv decide what is checked)")
    p.add_argument("--strict", action="store_true", help="exit 1 on leakage or label conflicts")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from ..data.health import check
    from ..experiment import resolve_config
    from ..progress import Progress
    from ..sequences.data import is_text_csv

    if is_text_csv(args.data):  # recordings with their text: konstrukt/sequences/health.py
        return _check_sequences(args)
    task = args.task or "image"
    config, _ = resolve_config(task, None, args.config)
    report = check(args.data, task, config, Progress(verbose=not args.quiet))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_health(report.to_dict())
    return 1 if args.strict and report.blocking else 0



def _check_sequences(args) -> int:
    from ..sequences.config import build_sequence_config
    from ..sequences.health import check_text_csv, stats_lines

    health = check_text_csv(args.data, build_sequence_config(args.config, {"task": args.task}))
    if args.json:
        print(json.dumps(health, indent=2, ensure_ascii=False))
        return 1 if args.strict and health["counts"].get("label_conflict") else 0
    for line in stats_lines(health["stats"]):
        print(line)
    print_health(health)
    return 1 if args.strict and health["counts"].get("label_conflict") else 0
