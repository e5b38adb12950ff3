"""Wall time, CPU time and peak memory of ``konstrukt demo`` (issue 19's bar: ≤ 30 s wall, ≤ 1 GB peak
RSS), each part and the whole, in fresh processes with an empty embedding cache, offline.

Peak RSS is the largest single process of the run (``ru_maxrss`` of the waited-for children: the
demo process itself, the process forked for each of its parts, or an augmenting worker). Where a
part runs several processes at once (the CV folds forked beside the final fit), the largest one
says too little: "all PSS" is the peak, sampled every 50 ms, of the proportional set size summed
over the demo's whole process tree (pages shared by forked processes counted once in all) — the
memory the demo takes from the machine. The machine may be shared, so the load average before and
after each run is printed beside it: read the wall seconds with it, the CPU seconds and the memory
hold whatever the load.

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
import threading
import time
from pathlib import Path


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def tree_pss_mb(root: int) -> float:
    """Proportional set size (MB) summed over ``root`` and every process below it (Linux)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {root}, True
    while grew:
        below = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        grew = bool(below)
        tree |= below
    total = 0
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total / 1024


def measure(args: list[str], workdir: Path) -> tuple[float, float, float, float, str]:
    """(wall s, CPU s, peak RSS MB of the largest process, peak PSS MB of all the demo's processes,
    load averages before → after) of ``konstrukt demo ARGS``."""
    env = {**os.environ, "KONSTRUKT_CACHE": str(workdir / "cache"), "KONSTRUKT_OFFLINE": "1"}
    before_load = load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "konstrukt", "demo", "--out", str(workdir / "demo"), "--quiet",
                             *args], env=env, stdout=subprocess.DEVNULL)
    peak_pss, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak_pss[0] = max(peak_pss[0], tree_pss_mb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    done.set()
    sampler.join()
    wall = time.perf_counter() - t0
    if code:
        raise SystemExit(f"konstrukt demo {' '.join(args)} failed (exit code {code})")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of children is the largest child so far: measure the whole demo first, then parts
    return wall, cpu, after.ru_maxrss / 1024, peak_pss[0], f"{before_load} → {load()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--whole", action="store_true", help="the whole demo only")
    args = ap.parse_args()
    runs = [("whole demo", [])] + ([] if args.whole else [(p, ["--only", p]) for p in ("image", "sound", "signal")])
    print(f"{'what':12}{'wall s':>8}{'CPU s':>8}{'peak RSS MB':>13}{'all PSS MB':>12}   "
          "load average (1, 5, 15 min) before → after")
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
    wall, cpu, rss, pss, loads = measure(["--only", a.only] if a.only else [], Path(a.tmp))
    print(f"{wall:8.1f}{cpu:8.1f}{rss:13.0f}{pss:12.0f}   {loads}")


if __name__ == "__main__":
    one(sys.argv[1:]) if "--one" in sys.argv else main()
