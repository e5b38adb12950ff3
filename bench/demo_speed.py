"""Wall time, CPU time and peak memory of ``konstrukt demo`` (issue 19's bar: ≤ 30 s wall, ≤ 1 GB peak
RSS), each part and the whole, in fresh processes with an empty embedding cache, offline.

Peak RSS is the largest single process of the run (``ru_maxrss`` of the waited-for children: the
demo process itself, the process forked for each of its parts, or an augmenting worker). The machine may be shared, so
the load average before and after each run is printed beside it: read the wall seconds with it,
the CPU seconds and the RSS hold whatever the load.

    python bench/demo_speed.py              # the whole demo, then each part alone
    python bench/demo_speed.py --whole      # the whole demo only
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure(args: list[str], workdir: Path) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MB, load averages before → after) of ``konstrukt demo ARGS``."""
    env = {**os.environ, "KONSTRUKT_CACHE": str(workdir / "cache"), "KONSTRUKT_OFFLINE": "1"}
    before_load = load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "konstrukt", "demo", "--out", str(workdir / "demo"), "--quiet", *args],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of children is the largest child so far: measure the whole demo first, then parts
    return wall, cpu, after.ru_maxrss / 1024, f"{before_load} → {load()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--whole", action="store_true", help="the whole demo only")
    args = ap.parse_args()
    runs = [("whole demo", [])] + ([] if args.whole else [(p, ["--only", p]) for p in ("image", "sound", "signal")])
    print(f"{'what':12}{'wall s':>8}{'CPU s':>8}{'peak RSS MB':>13}   load average (1, 5, 15 min) before → after")
    for label, extra in runs:
        with tempfile.TemporaryDirectory(prefix="konstrukt-demo-") as tmp:
            # each part in its own interpreter so that its peak is its own (ru_maxrss only grows)
            out = subprocess.run([sys.executable, __file__, "--one", *extra, "--tmp", tmp],
                                 check=True, capture_output=True, text=True).stdout.strip()
        print(f"{label:12}{out}")


def one(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", action="store_true")
    ap.add_argument("--only", default=None)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args(argv)
    wall, cpu, rss, loads = measure(["--only", a.only] if a.only else [], Path(a.tmp))
    print(f"{wall:8.1f}{cpu:8.1f}{rss:13.0f}   {loads}")


if __name__ == "__main__":
    one(sys.argv[1:]) if "--one" in sys.argv else main()
