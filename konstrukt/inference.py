"""A trained run loaded from its folder: rebuilt from config + report + safetensors alone."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from .architecture import CONSTANTS
from .artifacts import CONFIG, REPORT, WEIGHTS, read_data_root
from .config import TrainConfig
from .errors import DataError, RunError
from .models.backbones import BACKBONES
from .models.classifier import Classifier
from .rebuild import architecture_of, read_tensors, rebuild
from .runtime import select_device
from .tasks import MODALITIES

# Below this top probability a prediction is called unsure (every face says so the same way): with
# two classes 0.5 is a coin toss; on small data a model is rarely calibrated better than that.
UNSURE_BELOW = 0.6


class Run:
    """A run directory with its model in memory: ``predict`` files, ``evaluate`` labelled data."""

    def __init__(self, path: Path, report: dict, config: TrainConfig, model: Classifier, pre):
        self.path = path
        self.report = report
        self.config = config
        self.model = model
        self.classes: list[str] = report["classes"]
        spec = BACKBONES.get(report["model"]["backbone"])
        self.modality = MODALITIES.get(spec.modality)
        self.pre = pre
        self.device = select_device(config.device)
        self.data_root: Path | None = None  # where the report's (relative) data files are here

    def data_files(self, split: str) -> list[Path]:
        """The files of ``split`` the run was trained/tested on, as paths on this machine."""
        files = ((self.report.get("data") or {}).get("files") or {}).get(split) or []
        return [Path(f) if Path(f).is_absolute() or self.data_root is None else self.data_root / f for f in files]

    @classmethod
    def load(cls, path: str | Path) -> "Run":
        """Load a run folder written by ``konstrukt train``, or an exported bundle (folder or .zip).

        Every run and bundle is rebuilt by :func:`konstrukt.rebuild.rebuild` from its saved
        architecture (older runs: described from the registry first). Weights are read with
        safetensors only: loading never unpickles.
        """
        from .exporting.bundle import is_bundle, load_bundle

        path = Path(path).expanduser()
        if is_bundle(path):
            return cls(*load_bundle(path))
        missing = [n for n in (REPORT, CONFIG, WEIGHTS) if not (path / n).is_file()]
        if missing:
            raise RunError(f"{path} is not a konstrukt run folder or bundle (missing {', '.join(missing)})",
                           ["Fix: give the --out folder of a finished `konstrukt train`, or an "
                            "exported bundle (folder or .zip)."])
        try:
            report = json.loads((path / REPORT).read_text(encoding="utf-8"))
            config = TrainConfig.model_validate(json.loads((path / CONFIG).read_text(encoding="utf-8")))
        except (ValueError, OSError) as exc:
            raise RunError(f"{path}: cannot read the run's report/config ({exc})") from None
        arch = architecture_of(report, config, path)
        state = read_tensors(path / WEIGHTS)
        if (path / CONSTANTS).is_file():  # runs before constants were saved: computed from the settings
            state.update(read_tensors(path / CONSTANTS))
        model, pre = rebuild(arch, state, str(path / WEIGHTS))
        report = {**report, "architecture": arch}
        run = cls(path, report, config, model, pre)
        run.data_root = read_data_root(path)
        return run

    @torch.inference_mode()
    def predict_proba(self, paths: Iterable[str | Path], batch_size: int = 16) -> np.ndarray:
        """Class probabilities (N, C) for files; DataError names every unreadable file.

        A modality may cut a long file into windows (audio with ``audio.long_files: windows``):
        every window is classified and the file gets the mean of their probabilities (a soft vote).
        """
        paths = list(paths)
        inputs, owner, problems = [], [], []  # owner[k]: which file input k belongs to
        for n, p in enumerate(paths):
            try:
                parts = self._inputs(Path(p))
            except DataError as exc:
                problems.append(exc.message)
                continue
            inputs += parts
            owner += [n] * len(parts)
        if problems:
            raise DataError("cannot read this file" if len(problems) == 1 else
                            f"cannot read {len(problems)} of the {len(paths)} files", problems)
        self.model.to(self.device).eval()
        out = []
        for start in range(0, len(inputs), batch_size):
            x = torch.stack([self.pre.tensor(r) for r in inputs[start:start + batch_size]])
            out.append(torch.softmax(self.model(x.to(self.device)).float(), dim=1).cpu().numpy())
        proba = np.concatenate(out) if out else np.zeros((0, len(self.classes)))
        if len(inputs) == len(paths):  # one input per file: nothing to vote over
            return proba
        owner_arr = np.asarray(owner)
        return np.stack([proba[owner_arr == n].mean(0) for n in range(len(paths))])

    def _inputs(self, path: Path) -> list:
        """The decoded model inputs of one file: its windows when the modality cuts it, else one."""
        windows = self.modality.windows(self.pre, path, self.config) if self.modality.windows else None
        return windows if windows is not None else [self.pre.load(path)]

    @torch.inference_mode()
    def _proba_of_samples(self, samples, batch_size: int = 16) -> np.ndarray:
        """Class probabilities of labelled windows of long recordings (one row per window)."""
        self.model.to(self.device).eval()
        out = []
        for start in range(0, len(samples), batch_size):
            x = torch.stack([self.pre.tensor(self.pre.load_sample(s)) for s in samples[start:start + batch_size]])
            out.append(torch.softmax(self.model(x.to(self.device)).float(), dim=1).cpu().numpy())
        return np.concatenate(out)

    def predict(self, paths: Iterable[str | Path], top_k: int | None = None) -> list[dict]:
        """``[{"file", "label", "probabilities": {class: p}, "unsure"}]``, probabilities sorted
        high → low; ``unsure`` when the top probability is below :data:`UNSURE_BELOW`."""
        paths = [Path(p) for p in paths]
        proba = self.predict_proba(paths)
        results = []
        for path, row in zip(paths, proba):
            order = np.argsort(-row)[: top_k or len(self.classes)]
            results.append({"file": str(path), "label": self.classes[int(order[0])],
                            "probabilities": {self.classes[int(i)]: float(row[i]) for i in order},
                            "unsure": bool(row[order[0]] < UNSURE_BELOW)})
        return results

    def predict_one(self, path: str | Path) -> dict:
        return self.predict([path])[0]

    def evaluate(self, data: str | Path) -> dict:
        """Metrics of this model on other labelled data (a folder of class folders, zip or CSV)."""
        from .data import discover
        from .evaluation import classification_metrics

        dataset = discover(data, self.report["task"], self.config)
        unknown = sorted(set(dataset.classes) - set(self.classes))
        if unknown:
            raise DataError(f"{data} has classes the model was not trained on",
                            [f"class `{c}` (known: {', '.join(self.classes)})" for c in unknown])
        proba = (self.predict_proba([s.path for s in dataset.samples]) if dataset.groups() is None
                 else self._proba_of_samples(dataset.samples))
        y = [self.classes.index(s.label) for s in dataset.samples]
        metrics = classification_metrics(y, proba, self.classes)
        metrics["data"] = {"source": str(data), "fingerprint": dataset.fingerprint(),
                           "warnings": dataset.warnings}
        return metrics


def load_run(path: str | Path) -> Run:
    """Load a trained run folder (see :class:`Run`)."""
    from .sequences.runfolder import SequenceRun, is_sequence_run

    if is_sequence_run(path):  # a recording → text run (konstrukt/sequences/)
        return SequenceRun.load(path)  # type: ignore[return-value]
    return Run.load(path)
