"""The leaderboard written down: a terminal table, ``leaderboard.md`` and ``leaderboard.png``."""
from __future__ import annotations

import json
from pathlib import Path

from ..verdict import verdict_text

LEADERBOARD_JSON, LEADERBOARD_MD, LEADERBOARD_PNG = "leaderboard.json", "leaderboard.md", "leaderboard.png"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _cv(r: dict) -> str:
    return "–" if r.get("cv_mean") is None else f"{100 * r['cv_mean']:.1f} ± {100 * r['cv_std']:.1f}"


def _num(x, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


COLUMNS = [  # header, cell
    ("pipeline", lambda r: r["name"]),
    ("CV acc % (mean ± std)", _cv),
    ("test acc", lambda r: _pct(r.get("test_accuracy"))),
    ("test F1 macro", lambda r: _pct(r.get("test_f1_macro"))),
    ("train s", lambda r: _num(r.get("train_seconds"), ".1f")),
    ("peak MB", lambda r: _num(r.get("peak_memory_mb"), ".0f")),
    ("params total/trained", lambda r: "–" if r.get("params_total") is None
     else f"{r['params_total']:,}/{r['params_trainable']:,}"),
    ("model MB", lambda r: _num(r["model_bytes"] / 1e6 if r.get("model_bytes") else None, ".2f")),
    ("latency ms", lambda r: _num(r.get("latency_ms"), ".1f")),
]


def _status(r: dict) -> str:
    return "" if r["status"] == "ok" or r["kind"] == "reference" else f"{r['status']}: {r['reason']}"


def table_text(board: dict) -> str:
    """The leaderboard as a fixed-width table for the terminal."""
    cells = [[h for h, _ in COLUMNS]] + [[f(r) for _, f in COLUMNS] for r in board["rows"] if r["status"] == "ok"]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    for r in board["rows"]:
        if _status(r):
            lines.append(f"  {r['name']}: {_status(r)}")
    return "\n".join(lines)


def markdown(board: dict) -> str:
    rec = board["recommendation"]
    lines = [f"# Leaderboard — {board['task']}", "",
             f"Every pipeline was trained on the same split ({', '.join(f'{k} {v}' for k, v in board['splits'].items())}) "
             f"and cross-validated on the same {board['folds']} folds (fingerprint `{board['folds_fingerprint']}`); "
             "the recommendation uses cross-validation only, never the test split.", "",
             "| " + " | ".join(h for h, _ in COLUMNS) + " | note |", "|" + "---|" * (len(COLUMNS) + 1)]
    for r in board["rows"]:
        cells = [f(r) if r["status"] == "ok" else (r["name"] if i == 0 else "–") for i, (_, f) in enumerate(COLUMNS)]
        note = "**recommended**" if rec and r["name"] == rec["name"] else (
            "reference, not exported" if r["kind"] == "reference" else _status(r))
        lines.append("| " + " | ".join(cells + [note.replace("|", "/")]) + " |")
    lines.append("")
    if rec:
        lines += ["## Recommendation", "", rec["reason"], "", f"Run folder: `{rec['run']}`", ""]
    if verdict_text(board.get("verdict")):
        lines += ["## Compared with a simple baseline", "", verdict_text(board["verdict"]), ""]
    lines += ["Latency: one example at a time (batch 1), preprocessing included, on the machine that "
              "ran the comparison. Peak memory: GPU when used, else the process's resident set.", "",
              f"Picture: `{LEADERBOARD_PNG}` (CV accuracy with fold std error bars vs latency).", ""]
    return "\n".join(lines)


def plot(board: dict, path: Path) -> None:
    """CV accuracy (mean ± fold std) against latency; the reference as a band; the pick ringed."""
    from ..plots import plt

    rows = [r for r in board["rows"] if r["status"] == "ok" and r["kind"] == "pipeline" and r["cv_mean"] is not None]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in rows:
        ax.errorbar(r["latency_ms"], 100 * r["cv_mean"], yerr=100 * r["cv_std"], fmt="o", capsize=4, ms=7)
        ax.annotate(r["name"], (r["latency_ms"], 100 * r["cv_mean"]), textcoords="offset points",
                    xytext=(6, 6), fontsize=9)
    rec = board["recommendation"]
    if rec:
        r = next(x for x in rows if x["name"] == rec["name"])
        ax.plot(r["latency_ms"], 100 * r["cv_mean"], "o", ms=16, mfc="none", mec="tab:green", mew=2,
                label=f"recommended: {rec['name']}")
    for r in board["rows"]:
        if r["kind"] == "reference" and r.get("cv_mean") is not None:
            m, s = 100 * r["cv_mean"], 100 * r["cv_std"]
            ax.axhline(m, color="grey", ls="--", lw=1, label=r["name"])
            ax.axhspan(m - s, m + s, color="grey", alpha=0.12)
    if rows and max(r["latency_ms"] for r in rows) > 20 * min(r["latency_ms"] for r in rows):
        ax.set_xscale("log")
    ax.set_xlabel("latency per example, batch 1 (ms, this machine)")
    ax.set_ylabel(f"{board['folds']}-fold CV accuracy (%)")
    ax.set_title(f"{board['task']}: accuracy vs speed (error bars: fold std)")
    ax.set_ylim(max(-2, ax.get_ylim()[0]), min(102, max(ax.get_ylim()[1], 50)))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_leaderboard(folder: Path, board: dict) -> None:
    (folder / LEADERBOARD_JSON).write_text(json.dumps(board, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / LEADERBOARD_MD).write_text(markdown(board), encoding="utf-8")
    plot(board, folder / LEADERBOARD_PNG)

