"""Concurrent requests for one export build it once (the others wait and reuse the zip)."""
from __future__ import annotations

import threading
import time

from konstrukt.service.exports import build_lock


def test_concurrent_requests_for_one_export_build_it_once(tmp_path):
    target, builds = tmp_path / "export-onnx.zip", []

    def request():
        if not target.exists():
            with build_lock(target):
                if not target.exists():  # checked again under the lock, as the route does
                    builds.append(threading.get_ident())
                    time.sleep(0.2)  # a slow export: the others arrive meanwhile
                    target.write_bytes(b"zip")

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and target.read_bytes() == b"zip"
