"""What every forked worker process of a job shares: how a child starts, how its messages travel,
how the parent relays its events and how it ends them (:mod:`.forked` for a comparison's
pipelines, :mod:`.forked_folds` for CV folds)."""
from __future__ import annotations

import os
import pickle
import signal
from typing import Any, Iterable

from ..progress import Progress
from ..runtime import die_with_parent


def become_child(parent: int) -> None:
    """In a freshly forked process: the parent's signal handlers are not ours, a Ctrl-C reaches the
    parent (which stops us), and we die with the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handlers (a worker's) are not ours
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def send(pipe, message: Any) -> None:
    """Plain pickle: multiprocessing's own would pass tensors as shared memory that dies with us."""
    pipe.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def relay(progress: Progress, event: dict) -> None:
    """A child's event, here: warnings said once (for all the children), the rest to the callback."""
    if event.get("stage") == "warning":
        progress.warn(event["message"])
    elif progress.callback:
        progress.callback(event)


def end(children: Iterable[tuple[Any, Any]]) -> None:
    """Stop the (process, receiving pipe) pairs: terminate, wait 5 s, kill; close the pipes."""
    children = list(children)
    for child, _ in children:
        if child.is_alive():
            child.terminate()
    for child, receive in children:
        child.join(5)
        if child.is_alive():
            child.kill()
            child.join()
        receive.close()
