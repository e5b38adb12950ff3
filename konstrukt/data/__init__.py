"""Data: find examples, check files, split them (the first stage of the flow)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..words import a
from .archive import safe_extract_zip
from .samples import Dataset, Sample, file_digest
from .sources import discover
from .split import stratified_folds, stratified_split

__all__ = ["Dataset", "Sample", "discover", "file_digest", "safe_extract_zip", "stratified_split",
           "stratified_folds", "check_file"]


def check_file(task: str, path: str | Path) -> None:
    """Decode ``path`` as the task's offline pipeline would; raise DataError naming it if it can't."""
    from ..errors import DataError
    from ..tasks import TASKS

    spec = TASKS.get(task)
    path = Path(path)
    if path.suffix.lower() not in spec.extensions:
        raise DataError(f"{path.name}: {a(task)} project takes {', '.join(sorted(spec.extensions))} "
                        "files", ["Fix: convert the file or add it to a project of another task."])
    _task_decoder(task).load(path)


@lru_cache(maxsize=None)
def _task_decoder(task: str):
    """One preprocessor per task for checking uploads (built once: uploads come in bulk)."""
    from ..config import TrainConfig
    from ..models.backbones import BACKBONES
    from ..pipelines import PIPELINES
    from ..preprocess import build_preprocessor
    from ..tasks import TASKS

    backbone = BACKBONES.get(PIPELINES.get(TASKS.get(task).offline_pipeline).backbone)
    return build_preprocessor(backbone, TrainConfig(task=task))
