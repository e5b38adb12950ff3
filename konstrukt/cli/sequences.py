"""What the CLI prints for sequence runs (recording → text; konstrukt/sequences/)."""
from __future__ import annotations

from pathlib import Path

from .output import pct

KIND = "sequence"


def is_sequence(result) -> bool:
    """Is ``result`` (a report, metrics or prediction list) from a sequence run?"""
    if isinstance(result, list):
        return bool(result) and "text" in result[0] and "label" not in result[0]
    return isinstance(result, dict) and result.get("kind") == KIND


def _metrics_line(m: dict) -> str:
    wer = f"   WER {pct(m['wer'])}" if "wer" in m else ""
    return (f"CER {pct(m['cer'])}{wer}   exact sequences {pct(m['exact_match'])}   n = {m['n']}   "
            f"({m['substitutions']} substitutions, {m['insertions']} insertions, {m['deletions']} deletions; "
            f"{m['decoding']})")


def print_metrics(m: dict) -> None:
    """A scored split: the CER line, unseen tokens and the worst examples with their decoded text."""
    print(_metrics_line(m))
    if m.get("unseen_tokens"):
        print(f"never seen in training (counted as errors): {m['unseen_tokens']}")
    if m.get("worst"):
        print("worst examples:")
        for w in m["worst"]:
            print(f"  {w['file']}: {w['text']!r} → {w['decoded']!r}  (CER {pct(w['cer'])})")


def print_results(report: dict, path: Path) -> None:
    """After ``train``: the test CER, CV mean ± std and where the run is."""
    for w in report.get("warnings", []):
        print(f"warning: {w}")
    print(f"\n{report['pipeline']} (CTC) on {report['examples']} {report['task']} examples, "
          f"{len(report['alphabet']['tokens'])} tokens, best epoch {report['best_epoch']}")
    if report.get("test"):
        print("test:  ", end="")
        print_metrics(report["test"])
    cv = report.get("cv")
    if cv and "cer_mean" in cv:
        print(f"cross-validation ({cv['k']} folds): CER {pct(cv['cer_mean'])} ± {pct(cv['cer_std'])}")
    print(f"\nrun folder: {path}  (report.json, summary.md, curves.png, model.safetensors)")
    print(f"use it:     konstrukt predict {path} FILES --json")


def print_predictions(results: list[dict]) -> None:
    for r in results:
        print(f"{r['file']}: {r['text']!r}    (confidence {100 * r['confidence']:.1f}%)")


def print_board(board: dict) -> None:
    """After ``compare`` on a text CSV: the CER table and the recommendation."""
    from ..sequences.compare import table_markdown

    print("\n" + table_markdown(board))
    rec = board.get("recommendation")
    if rec:
        print(rec["reason"])
    print(f"\nout folder: {board['out']}  (leaderboard.json, leaderboard.md, leaderboard.png, runs/)")
    if rec:
        print(f"use it:     konstrukt predict {Path(board['out']) / rec['run']} FILES --json")
