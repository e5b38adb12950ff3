"""The worker's parent watch must not break libraries that fork (cleanlab's process pool did)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import multiprocessing, sys, time
    from konstrukt.service.worker_process import watch_parent
    watch_parent(sys.stdin.fileno())
    time.sleep(0.2)  # the watch thread is now blocked reading stdin
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(sum(pool.map(abs, [-1, -2, -3])), flush=True)
    time.sleep(60)  # until the parent closes our stdin
""")


def test_a_forking_library_works_beside_the_parent_watch_and_eof_still_stops_the_worker():
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # hung forever when the watch held sys.stdin's lock
        assert line.strip() == "6"
        proc.stdin.close()  # the server is gone
        assert proc.wait(timeout=20) != 0  # stopped by its SIGTERM, not after the 60 s sleep
    finally:
        proc.kill()
