"""A sequence run: labels CSV with text → grouped split → CTC fit (early stopping on validation)
→ test CER once → CV mean ± std on train+val → the run folder. What ``konstrukt train`` calls when
the CSV has a text column (:func:`konstrukt.experiment.train` hands it over)."""
from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import artifacts
from ..errors import DataError
from ..runtime import peak_memory_mb, seed_everything, select_device
from .config import SequenceConfig, build_sequence_config, with_defaults
from .data import Alphabet, group_folds, group_split
from .dataset import Loaded, hooks_of, load
from .augment import augmented_views, waveform_augment
from .frozen import frozen_features
from .metrics import summarize_cv
from .models import build_model, parse_variant, time_stripe
from .runfolder import KIND, SequenceRun, score, write_run
from .training import FitResult, Item, fit


def _say(verbose: bool, text: str) -> None:
    if verbose:
        print(text, flush=True)


def items_of(loaded: Loaded, idx: list[int], alphabet: Alphabet) -> list[Item]:
    return [Item(loaded.arrays[i], alphabet.encode(loaded.examples[i].text)[0]) for i in idx]


def too_long(model, items: list[Item]) -> int:
    """Examples whose text needs more output frames than the model gives (CTC cannot align them:
    one frame per token plus a blank between repeats)."""
    def need(ids):
        return len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))
    return sum(need(it.ids) > model.frames(it.x.shape[1]) for it in items)


def fit_model(loaded: Loaded, train: list[int], val: list[int], settings: SequenceConfig, device,
              epochs: int | None = None, alphabet: Alphabet | None = None, verbose: bool = False,
              progress=None) -> tuple[torch.nn.Module, Alphabet, FitResult, list[str]]:
    """A fresh model fitted on ``train`` (early stopping on ``val`` when given); the alphabet is
    the training texts' unless given. ``progress`` gets a ``train`` event per epoch (losses)."""
    alphabet = alphabet or Alphabet.from_texts(loaded.texts(train), settings.tokens)
    if not alphabet.tokens:
        raise DataError("the training split holds no text: nothing to learn",
                        ["Fix: check the `text` column (or the events inside the windows)"])
    seed_everything(settings.seed)
    model = build_model(hooks_of(loaded.task), loaded.channels, loaded.rate, len(alphabet), settings)
    train_items, val_items = items_of(loaded, train, alphabet), items_of(loaded, val, alphabet)
    # a front end that sizes itself by the texts (e.g. a window about one token long) takes their lengths
    sized = "token_counts" in inspect.signature(model.frontend.fit).parameters
    model.frontend.fit([loaded.arrays[i] for i in train],
                       **({"token_counts": [len(it.ids) for it in train_items]} if sized else {}))
    model.mask.time_mask = time_stripe(settings, model.frontend)  # at the fitted front end's frame rate
    notes = []
    short = too_long(model, train_items)
    if short:
        notes.append(f"{short} training example(s) are too short for their text at this model's frame rate "
                     f"(CTC ignores them): use longer windows or fewer CNN blocks (`widths`)")

    def show(row):
        line = f"  epoch {row['epoch']:3d}  train loss {row['train_loss']:.3f}" + (
            f"  val loss {row['val_loss']:.3f}  val CER {row['val_cer']:.3f}" if row["val_loss"] is not None else "")
        _say(verbose, line)
        if progress:  # the same figures as events (the web service's live chart)
            progress({"stage": "train", "message": line.strip(), "epoch": row["epoch"],
                      "epochs": epochs or settings.num_epochs, "train_loss": row["train_loss"],
                      "val_loss": row["val_loss"], "val_cer": row.get("val_cer")})

    augment = waveform_augment(settings, loaded.rate, model.frontend)
    with frozen_features(model, train_items, val_items, device=device,
                         views=lambda items: augmented_views(items, augment, settings.views)) as (train_items, val_items):
        result = fit(model, train_items, val_items, settings, device, epochs, show,
                     waveform_augment(settings, loaded.rate, model.frontend))  # None on cached features
    return model, alphabet, result, notes


def _files(loaded: Loaded, idx: list[int]) -> list[str]:
    ex = [loaded.examples[i] for i in idx]
    return [e.path.name + (f"@{e.start:g}-{e.end:g}s" if e.start is not None else "") for e in ex]


def score_split(model, loaded: Loaded, idx: list[int], alphabet: Alphabet, settings, device) -> dict:
    return score(model, [loaded.arrays[i] for i in idx], loaded.texts(idx), _files(loaded, idx),
                 alphabet, device, settings.beam)


def cross_validate(loaded: Loaded, pool: list[int], settings: SequenceConfig, device, epochs: int,
                   verbose: bool = False, progress=None) -> dict | None:
    """Group K-fold on the train+val pool (the test split untouched): a fresh model per fold for
    the final fit's number of epochs, scored on its held-out groups; CER mean ± std."""
    k = settings.cv if settings.cv is not None else (5 if len(pool) < settings.small_data else 0)
    folds = group_folds([loaded.examples[i].group for i in pool], k, settings.seed) if k >= 2 else []
    if not folds:
        return None
    scores = []
    for f, (tr, te) in enumerate(folds, start=1):
        _say(verbose, f"cross-validation fold {f}/{len(folds)}")
        if progress:
            progress({"stage": "cv", "message": f"cross-validation fold {f}/{len(folds)}", "fold": f,
                      "folds": len(folds)})
        model, alphabet, _, _ = fit_model(loaded, [pool[i] for i in tr], [], settings, device, epochs)
        s = score_split(model, loaded, [pool[i] for i in te], alphabet, settings, device)
        scores.append({k: s[k] for k in ("n", "cer", "wer", "exact_match") if k in s})
    out = summarize_cv(scores)
    out["epochs_per_fold"] = epochs
    return out


def latency_ms(model, x: np.ndarray, device, repeats: int = 5) -> float:
    """Batch-1 forward + greedy decode, median milliseconds (one warm-up call first)."""
    from .ctc import decode

    model.eval().to(device)
    t = torch.from_numpy(x[None]).to(device)
    times = []
    with torch.inference_mode():
        for r in range(repeats + 1):
            t0 = time.perf_counter()
            decode(model(t)[0].float().cpu().numpy())
            times.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(times[1:])), 3)


def run_sequences(loaded: Loaded, settings: SequenceConfig, verbose: bool = False,
                  progress=None) -> tuple[torch.nn.Module, dict]:
    """Fit, score and cross-validate ``loaded``: (model, report); ``progress`` gets event dicts."""
    device = select_device(settings.device)
    groups = [e.group for e in loaded.examples]
    split = group_split(groups, settings.val, settings.test, settings.seed)
    variant = parse_variant(settings.pipeline).name
    _say(verbose, f"training {variant} (CTC) on {len(split['train'])} {loaded.task} examples, device {device}")
    model, alphabet, result, notes = fit_model(loaded, split["train"], split["val"], settings, device, verbose=verbose,
                                               progress=progress)
    report: dict[str, Any] = {
        "kind": KIND, "task": loaded.task, "pipeline": variant, "layout": loaded.layout,
        "examples": len(loaded.examples), "channels": loaded.channels, "sample_rate": loaded.rate,
        "split_sizes": {k: len(v) for k, v in split.items()},
        "groups": {k: len({groups[i] for i in v}) for k, v in split.items()},
        "alphabet": alphabet.state(), "history": result.history, "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early, "train_seconds": round(result.seconds, 3),
        "train_examples_per_second": round(result.examples_per_second, 2),
        "warnings": loaded.warnings + notes, "device": str(device),
        # each split's recordings (a long one once): what export checks parity on and calibrates with
        "data_files": {k: list(dict.fromkeys(str(loaded.examples[i].path.resolve()) for i in v))
                       for k, v in split.items()}}
    for name in ("val", "test"):
        report[name] = score_split(model, loaded, split[name], alphabet, settings, device) if split[name] else None
    report["cv"] = cross_validate(loaded, split["train"] + split["val"], settings, device,
                                  max(1, result.best_epoch), verbose, progress)
    report["params"] = sum(p.numel() for p in model.parameters())
    report["latency_ms_batch1"] = latency_ms(model, loaded.arrays[split["test"][0] if split["test"] else 0], device)
    report["peak_memory_mb"] = peak_memory_mb(device)
    return model, report


def resolved(settings: SequenceConfig, loaded: Loaded) -> SequenceConfig:
    """The settings as trained and saved: task, rate, the concrete front end (``auto`` decided)
    and that front end's preferred settings where the config left them unset."""
    hooks = hooks_of(loaded.task)
    frontend = hooks.resolve(settings.frontend)
    settings = with_defaults(settings, hooks.defaults.get(frontend))
    return settings.model_copy(update={"task": loaded.task, "sample_rate": loaded.rate, "frontend": frontend})


def train_sequences(data: str | Path, *, out: str | Path, config: Any = None, overrides: dict | None = None,
                    task: str | None = None, pipeline: str | None = None, overwrite: bool = False,
                    verbose: bool = True, progress=None) -> SequenceRun:
    """Train a sequence run on ``data`` (a labels CSV with text) and write it to ``out``;
    ``progress`` receives event dicts (``train`` per epoch, ``cv`` per fold; see konstrukt.progress)."""
    extra = {k: v for k, v in {"task": task, "pipeline": pipeline}.items() if v}
    settings = build_sequence_config(config, {**(overrides or {}), **extra})
    parse_variant(settings.pipeline)  # an unknown model fails before any data is read
    started = time.perf_counter()
    staging = artifacts.start_run_dir(Path(out), overwrite)
    try:
        loaded = load(data, settings)
        settings = resolved(settings, loaded)
        model, report = run_sequences(loaded, settings, verbose, progress)
        report["wall_seconds"] = round(time.perf_counter() - started, 3)
        write_run(staging, report, settings, model)
        final = artifacts.finish_run_dir(staging, Path(out), overwrite)
    except BaseException:
        artifacts.abandon_run_dir(staging)
        raise
    _say(verbose, f"run written to {final}")
    return SequenceRun.load(final)
