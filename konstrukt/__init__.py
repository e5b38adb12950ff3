"""konstrukt — build a classifier from a few dozen examples per class, see honestly how good it is.

    import konstrukt
    run = konstrukt.train("photos/", task="image", out="runs/first")
    run.report["test"]["accuracy"]
    run.predict(["new.jpg"])
    run = konstrukt.load_run("runs/first")
    konstrukt.evaluate("runs/first", "more_photos/")
    konstrukt.export("runs/first", "first-bundle.zip", format="all")  # runs without konstrukt
    board = konstrukt.compare("photos/", pipelines="offline", out="runs/compare")
    board["recommendation"]["name"]
"""
from __future__ import annotations

from .version import __version__

__all__ = ["train", "compare", "load_run", "evaluate", "predict", "export", "Run", "TrainConfig",
           "__version__"]


def _registered() -> None:
    """Every public function registers the modalities first (once; see :mod:`konstrukt.modalities`)."""
    from .modalities import register_all

    register_all()


def train(data, **kwargs):
    """Train a model on ``data`` and write a run folder; see :func:`konstrukt.experiment.train`."""
    from .experiment import train as _train

    _registered()
    return _train(data, **kwargs)


def compare(data, **kwargs) -> dict:
    """Train several pipelines on the same split and folds; leaderboard + recommendation.

    See :func:`konstrukt.comparison.contest.compare`."""
    from .comparison.contest import compare as _compare

    _registered()
    return _compare(data, **kwargs)


def load_run(path):
    """Load a trained run folder; see :class:`konstrukt.inference.Run`."""
    from .inference import load_run as _load

    _registered()
    return _load(path)


def evaluate(run, data) -> dict:
    """Score a run (object or folder) on other labelled data."""
    return (run if hasattr(run, "evaluate") else load_run(run)).evaluate(data)


def predict(run, files, top_k=None) -> list[dict]:
    """Predict classes of ``files`` with a run (object or folder)."""
    return (run if hasattr(run, "predict") else load_run(run)).predict(files, top_k=top_k)


def export(run, out, format="bundle", **kwargs) -> dict:
    """Export a run (object, folder or bundle) as a bundle / ONNX / ONNX INT8; see
    :func:`konstrukt.exporting.writer.export`. Returns the bundle's config (with ``path``)."""
    from .exporting.writer import export as _export

    _registered()
    return _export(run, out, format, **kwargs)


def __getattr__(name):  # lazy: importing konstrukt stays cheap
    if name in ("Run", "TrainConfig"):
        _registered()
    if name == "Run":
        from .inference import Run

        return Run
    if name == "TrainConfig":
        from .config import TrainConfig

        return TrainConfig
    raise AttributeError(name)
