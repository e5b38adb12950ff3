"""What the commands print: the results of a run, the per-class table, the data-health findings.

The words come from the core (:mod:`konstrukt.trust`, :mod:`konstrukt.verdict`, the report's
own reasons); these functions only lay them out for a terminal.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from ..trust import trust_notes
from ..verdict import verdict_text
from ..words import count


def pct(x) -> str:
    return "   –  " if x is None else f"{100 * x:5.1f}%"


def print_per_class(per_class: dict) -> None:
    print(f"\n  {'class':22}{'precision':>10}{'recall':>10}{'F1':>10}{'n':>6}")
    for c, m in per_class.items():
        print(f"  {c[:22]:22}{pct(m['precision']):>10}{pct(m['recall']):>10}{pct(m['f1']):>10}"
              f"{m['support']:>6}")


def print_results(report: dict, path: Path) -> None:
    """The results table at the end of ``train``."""
    from ..review import where_listed

    t, v, cv = report.get("test"), report.get("val"), report.get("cv")
    print(f"\n{report['pipeline']} ({report['strategy']}) — {len(report['classes'])} classes, "
          f"{report['data']['n']} examples, trained in {report['train_seconds']:.1f} s, "
          f"peak memory {report['peak_memory_mb']:.0f} MB")
    print(f"\n  {'':22}{'accuracy':>10}{'F1 macro':>10}{'n':>6}")
    for name, m in (("validation", v), ("test (held out)", t)):
        if m:
            print(f"  {name:22}{pct(m['accuracy']):>10}{pct(m['f1_macro']):>10}{m['n']:>6}")
    if cv:
        print(f"  {str(cv['folds']) + '-fold CV (mean ± std)':22}"
              f"{pct(cv['accuracy_mean']):>7} ± {100 * cv['accuracy_std']:.1f}"
              f"   F1 {pct(cv['f1_macro_mean'])} ± {100 * cv['f1_macro_std']:.1f}")
    if t:
        print_per_class(t["per_class"])
    for note in trust_notes(report):
        print(textwrap.fill("note: " + note["text"], width=90, initial_indent="\n  ", subsequent_indent="  "))
    if report.get("selection"):
        print(textwrap.fill("auto " + report["selection"]["reason"], width=90, initial_indent="\n  ",
                            subsequent_indent="  "))
    if verdict_text(report.get("baseline")):
        print(textwrap.fill(verdict_text(report["baseline"]), width=90, initial_indent="\n  ",
                            subsequent_indent="  "))
    health = report.get("data_health") or {"findings": []}
    issues = [f for f in health["findings"] if f["severity"] != "info"]
    if issues:
        print(f"\n  data health: {count(len(issues), 'finding')} — " + "; ".join(
            f"{n} {k.replace('_', ' ')}" for k, n in health["counts"].items() if k != "add_next")
              + f" ({where_listed(issues)})")
    for f in health["findings"]:
        if f["kind"] == "add_next":
            print(textwrap.fill("what to add next: " + f["message"], width=90, initial_indent="\n  ",
                                subsequent_indent="  "))
    print(f"\nrun folder: {path}  (report.json, summary.md, curves.png, confusion_matrix.png)")



def print_health(health: dict, limit: int = 20) -> None:
    """The findings of a data check, grouped by finding, with the files each names."""
    found = health["findings"]
    problems = [f for f in found if f["severity"] != "info"]
    print(f"checked {count(health['checked'], 'example')}: "
          + (count(len(problems), "finding") if problems else "no problems found"))
    for line in health.get("warnings", []):  # as `train` warns: files of other types, left out
        print(f"  warning: {line}")
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
        print(f"\n  … and {count(len(found) - limit, 'more finding', 'more findings')}; --json lists them all")
    for split, items in (health.get("removed_from_evaluation") or {}).items():
        print(f"\n  training leaves {count(len(items), 'leaked example')} out of the {split} split")
