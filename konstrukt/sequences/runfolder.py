"""A trained sequence run on disk: scoring, loading, ``predict`` and ``evaluate``.

The folder holds ``config.json`` (the :class:`SequenceConfig` it was trained with, task and rate
filled in), ``report.json`` (``"kind": "sequence"``, the alphabet, every metric), ``model.safetensors``
(the network, with the front end's training statistics) and ``summary.md``; the model is rebuilt
from those alone.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import RunError
from ..runtime import select_device
from .config import SequenceConfig
from .ctc import decode
from .data import Alphabet
from .dataset import hooks_of, load
from .metrics import sequence_metrics
from .models import build_model
from .training import frame_log_probs

KIND = "sequence"
REPORT, CONFIG, WEIGHTS, SUMMARY = "report.json", "config.json", "model.safetensors", "summary.md"


def decode_all(model, arrays: list[np.ndarray], alphabet: Alphabet, device, beam: int = 1,
               batch_size: int = 16) -> tuple[list[str], list[float], float]:
    """(texts, confidences, decode milliseconds per example) of ``arrays``."""
    lps = frame_log_probs(model, arrays, device, batch_size)
    t0 = time.perf_counter()
    out = [decode(lp, beam=beam) for lp in lps]
    ms = 1000 * (time.perf_counter() - t0) / max(len(lps), 1)
    return [alphabet.decode(ids) for ids, _ in out], [c for _, c in out], ms


def score(model, arrays: list[np.ndarray], texts: list[str], files: list[str], alphabet: Alphabet,
          device, beam: int = 1) -> dict:
    """Every metric of one split: CER (WER), exact match, edit operations, the worst examples,
    the tokens never seen in training, decode time; greedy's CER beside the beam's."""
    hyps, conf, ms = decode_all(model, arrays, alphabet, device, beam)
    out = sequence_metrics(texts, hyps, files, alphabet.mode, confidences=conf)
    out["unseen_tokens"] = alphabet.unseen(texts)
    out["decoding"] = "greedy" if beam <= 1 else f"beam {beam}"
    out["decode_ms_per_example"] = round(ms, 3)
    if beam > 1:
        greedy, _, gms = decode_all(model, arrays, alphabet, device, 1)
        out["greedy_cer"] = sequence_metrics(texts, greedy, files, alphabet.mode)["cer"]
        out["greedy_decode_ms_per_example"] = round(gms, 3)
    return out


def is_sequence_run(path: str | Path) -> bool:
    """Is ``path`` a run folder written by a sequence run? (An exported sequence bundle is refused
    with what to run instead: its own predict.py.)"""
    report = Path(path) / REPORT
    if not report.is_file():
        _refuse_bundle(Path(path))
        return False
    try:
        return json.loads(report.read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError):
        return False


def _refuse_bundle(path: Path) -> None:
    try:
        kind = json.loads((path / CONFIG).read_text(encoding="utf-8")).get("kind") if (path / CONFIG).is_file() else None
    except (OSError, ValueError, AttributeError):
        return
    if kind == KIND:
        raise RunError(f"{path.name} is an exported sequence bundle, not a run folder",
                       [f"Fix: run its own script (python {path.name}/predict.py FILE... --json), or give the run folder"])


class SequenceRun:
    """A trained sequence run: ``predict`` (files → text) and ``evaluate`` (labels CSV → CER)."""

    def __init__(self, path: Path, report: dict, settings: SequenceConfig, model, alphabet: Alphabet):
        self.path, self.report, self.settings, self.model, self.alphabet = path, report, settings, model, alphabet
        self.hooks = hooks_of(settings.task)
        self.device = select_device(settings.device)

    @classmethod
    def load(cls, path: str | Path) -> "SequenceRun":
        from safetensors.torch import load_file

        path = Path(path)
        try:
            report = json.loads((path / REPORT).read_text(encoding="utf-8"))
            saved = json.loads((path / CONFIG).read_text(encoding="utf-8"))
            # runs written before front ends had names (or by `compare` before it saved the resolved
            # name: "auto") used the modality's default one
            if saved.get("frontend") in (None, "auto") and saved.get("task"):
                saved["frontend"] = hooks_of(saved["task"]).default_name
            settings = SequenceConfig.model_validate(saved)
            state = load_file(str(path / WEIGHTS))
        except (OSError, ValueError) as exc:
            raise RunError(f"{path.name}: not a readable sequence run ({type(exc).__name__})",
                           ["Fix: give a run folder written by `konstrukt train` on a labels CSV with text"]) from None
        alphabet = Alphabet(report["alphabet"]["tokens"], report["alphabet"]["mode"])
        model = build_model(hooks_of(settings.task), report["channels"], settings.sample_rate, len(alphabet), settings)
        model.load_state_dict(state)
        return cls(path, report, settings, model.eval(), alphabet)

    @property
    def rate(self) -> float:
        return float(self.settings.sample_rate)

    def predict(self, paths: Iterable[str | Path], beam: int | None = None, **_) -> list[dict]:
        """Each whole file decoded: ``{"file", "text", "confidence"}`` (confidence: the geometric
        mean of the decoded path's frame probabilities, 0..1)."""
        paths = [Path(p) for p in paths]
        arrays = [self.hooks.read(p, self.rate)[0] for p in paths]
        # one file at a time, as an exported bundle runs it: in a padded batch the padding reaches
        # the BiLSTM's backward pass (and audio's per-recording standardisation), so a file's text
        # could depend on the files beside it
        texts, conf, _ = decode_all(self.model, arrays, self.alphabet, self.device,
                                    beam or self.settings.beam, batch_size=1)
        return [{"file": str(p), "text": t, "confidence": round(c, 4)} for p, t, c in zip(paths, texts, conf)]

    def evaluate(self, data: str | Path) -> dict:
        """Score the run on another sequence labels CSV (read at the run's task and rate)."""
        loaded = load(data, self.settings, task=self.settings.task, rate=self.rate)
        if loaded.channels != self.report["channels"]:
            raise RunError(f"{Path(data).name}: the recordings have {loaded.channels} channels, the run "
                           f"was trained on {self.report['channels']}", ["Fix: evaluate on data of the same sensors"])
        metrics = score(self.model, loaded.arrays, loaded.texts(), [e.path.name for e in loaded.examples],
                        self.alphabet, self.device, self.settings.beam)
        metrics["kind"] = KIND
        metrics["data"] = {"source": str(data), "examples": len(loaded.examples), "warnings": loaded.warnings}
        return metrics


def write_run(folder: Path, report: dict, settings: SequenceConfig, model) -> None:
    """The run's files (see the module docstring), then a summary and the curves picture."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    (folder / CONFIG).write_text(json.dumps(settings.model_dump(), indent=2), encoding="utf-8")
    (folder / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / SUMMARY).write_text(summary_text(report), encoding="utf-8")
    plot_history(report["history"], report.get("best_epoch"), folder / "curves.png")


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def summary_text(report: dict) -> str:
    """summary.md: what was trained, the test CER, CV mean ± std and the worst examples."""
    lines = [f"# Sequence run: {report['pipeline']} on {report['task']}", "",
             f"{report['examples']} examples ({report['layout']}), alphabet of {len(report['alphabet']['tokens'])} "
             f"tokens ({report['alphabet']['mode']}), splits {report['split_sizes']}.", ""]
    test, cv = report.get("test"), report.get("cv")
    if test:
        wer = f", WER {_pct(test['wer'])}" if "wer" in test else ""
        lines += [f"**Test CER {_pct(test['cer'])}**{wer}, exact sequences {_pct(test['exact_match'])} "
                  f"(n = {test['n']}; {test['substitutions']} substitutions, {test['insertions']} insertions, "
                  f"{test['deletions']} deletions; decoding {test['decoding']}).", ""]
        if test["unseen_tokens"]:
            lines += [f"Tokens in the test split never seen in training: {test['unseen_tokens']}", ""]
    if cv and "cer_mean" in cv:
        lines += [f"Cross-validation ({cv['k']} folds): CER {_pct(cv['cer_mean'])} ± {_pct(cv['cer_std'])}", ""]
    if test and test["worst"]:
        lines += ["## Worst test examples", "", "| file | text | decoded | CER |", "|---|---|---|---|"]
        lines += [f"| {w['file']} | {w['text']} | {w['decoded']} | {_pct(w['cer'])} |" for w in test["worst"]]
    return "\n".join(lines) + "\n"


def plot_history(history: list[dict], best_epoch: int | None, path: Path) -> None:
    """CTC loss (train, validation) and validation CER per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    axes[0].plot(epochs, [h["train_loss"] for h in history], "o-", ms=3, label="train")
    if any(h["val_loss"] is not None for h in history):
        axes[0].plot(epochs, [h["val_loss"] for h in history], "o-", ms=3, label="validation")
        axes[1].plot(epochs, [h["val_cer"] for h in history], "o-", ms=3, label="validation CER")
    for ax, title in zip(axes, ("CTC loss", "character error rate")):
        if best_epoch:
            ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"kept (epoch {best_epoch})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.13, top=0.92, wspace=0.18)
    fig.savefig(path, dpi=100)
    plt.close(fig)
