"""Try it: trained models held warm in the server process, with requests batched together.

Each loaded run gets one inference thread. Concurrent requests queue their files; the thread takes
whatever has queued up and calls the core's ``Run.predict`` once for all of them, so under load
the model sees batches (fast) and at rest a single request goes straight through (no added wait).
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path

from starlette.concurrency import run_in_threadpool

MAX_BATCH = 32


class _Batcher:
    def __init__(self, run):
        self.run = run
        self.inbox: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._loop, daemon=True, name="konstrukt-predict")
        self.thread.start()

    def submit(self, path: Path) -> Future:
        fut: Future = Future()
        self.inbox.put((path, fut))
        return fut

    def close(self) -> None:
        self.inbox.put(None)

    def _loop(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.inbox.put(None)
                    break
                batch.append(nxt)
            self._predict(batch)

    def _predict(self, batch) -> None:
        try:
            results = self.run.predict([p for p, _ in batch])
        except Exception:
            if len(batch) == 1:
                import sys

                batch[0][1].set_exception(sys.exc_info()[1])
                return
            for one in batch:  # one bad file must not fail its neighbours
                self._predict([one])
            return
        for (_, fut), result in zip(batch, results):
            fut.set_result(result)


class RunCache:
    """An LRU of loaded runs (``konstrukt.load_run``), each with its batcher.

    Entries are keyed by the job's random ``run_key``, never by its id or folder: ids and paths of a
    deleted project could come back for another user's job, and must not bring its model along.
    Deleting a job or project evicts its entries (:meth:`forget`)."""

    def __init__(self, size: int = 4):
        self.size = size
        self._items: OrderedDict[str, _Batcher] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def _get(self, key: str, run_dir: Path) -> _Batcher:
        import konstrukt

        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:  # one load per run even when many requests arrive at once
            with self._lock:
                if key in self._items:
                    return self._items[key]
            batcher = _Batcher(konstrukt.load_run(run_dir))
            with self._lock:
                self._items[key] = batcher
                self._loading.pop(key, None)
                while len(self._items) > self.size:
                    _, old = self._items.popitem(last=False)
                    old.close()
            return batcher

    def predict_one(self, key: str, run_dir: Path, path: Path, timeout: float = 120.0) -> dict:
        return self._get(key, run_dir).submit(path).result(timeout)

    async def apredict(self, key: str, run_dir: Path, path: Path, timeout: float = 120.0) -> dict:
        """``predict_one`` for async routes: waits without holding a thread."""
        with self._lock:
            batcher = self._items.get(key)
        if batcher is None:  # loading reads the weights: off the event loop
            batcher = await run_in_threadpool(self._get, key, run_dir)
        return await asyncio.wait_for(asyncio.wrap_future(batcher.submit(path)), timeout)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def forget(self, *keys: str | None) -> None:
        with self._lock:
            old = [b for k in keys if k and (b := self._items.pop(k, None))]
        for b in old:
            b.close()

    def clear(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), OrderedDict()
        for b in items:
            b.close()
