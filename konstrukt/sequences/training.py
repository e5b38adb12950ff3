"""The CTC training loop: length-bucketed batches, ``torch.nn.CTCLoss(blank=0, zero_infinity=True)``,
AdamW with a cosine schedule and gradient clipping (from :mod:`konstrukt.training`), AMP on CUDA,
early stopping on the validation CTC loss with the best checkpoint restored.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..config import build_config
from ..training import _amp_dtype, make_optimizer, make_scheduler
from .ctc import decode
from .metrics import error_rate


@dataclass
class Item:
    """One example ready for the model: (C, T) float32 and its target ids (may be empty)."""

    x: np.ndarray
    ids: list[int]


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False
    seconds: float = 0.0  # the whole fit, validation included
    examples_per_second: float = 0.0  # training throughput (forward + backward + step)


def batches(items: list[Item], size: int, rng: random.Random | None) -> list[list[int]]:
    """Index batches of similar length (little padding); shuffled when ``rng`` is given."""
    order = sorted(range(len(items)), key=lambda i: items[i].x.shape[1])
    if rng is not None:  # shuffle within a few neighbouring lengths, then the batch order
        order = [i for chunk in (order[k:k + 4 * size] for k in range(0, len(order), 4 * size))
                 for i in rng.sample(chunk, len(chunk))]
    out = [order[k:k + size] for k in range(0, len(order), size)]
    if rng is not None:
        rng.shuffle(out)
    return out


def collate(items: list[Item], idx: list[int], model, device) -> tuple:
    """(x (B, C, T) zero-padded, targets (sum L,), input frames (B,), target lengths (B,))."""
    longest = max(items[i].x.shape[1] for i in idx)
    x = np.zeros((len(idx), items[idx[0]].x.shape[0], longest), dtype=np.float32)
    for row, i in enumerate(idx):
        x[row, :, :items[i].x.shape[1]] = items[i].x
    frames = [model.frames(items[i].x.shape[1]) for i in idx]
    targets = [t for i in idx for t in items[i].ids]
    return (torch.from_numpy(x).to(device), torch.tensor(targets, dtype=torch.long),
            torch.tensor(frames, dtype=torch.long), torch.tensor([len(items[i].ids) for i in idx], dtype=torch.long))


def _loss(model, batch, loss_fn, amp_dtype, device) -> torch.Tensor:
    x, targets, frames, lengths = batch
    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        log_probs = model(x)  # (B, T', V)
    frames = frames.clamp(max=log_probs.shape[1])
    return loss_fn(log_probs.float().transpose(0, 1), targets, frames, lengths)  # CTC wants (T', B, V)


def run_epoch(model, items, idx_batches, loss_fn, device, optimizer=None, amp_dtype=None,
              grad_clip: float = 0.0) -> float:
    """One pass (trains when ``optimizer`` is given); the mean CTC loss per example."""
    training = optimizer is not None
    model.train(training)
    total, seen = 0.0, 0
    with torch.set_grad_enabled(training):
        for idx in idx_batches:
            loss = _loss(model, collate(items, idx, model, device), loss_fn, amp_dtype, device)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
            total, seen = total + loss.item() * len(idx), seen + len(idx)
    return total / max(seen, 1)


@torch.inference_mode()
def frame_log_probs(model, arrays: list[np.ndarray], device, batch_size: int = 16) -> list[np.ndarray]:
    """Each recording's (T', V) log-probabilities, cut to its own frames (no padding frames)."""
    model.eval().to(device)
    items = [Item(a, []) for a in arrays]
    out: list[np.ndarray | None] = [None] * len(items)
    for idx in batches(items, batch_size, None):
        x, _, frames, _ = collate(items, idx, model, device)
        lp = model(x).float().cpu().numpy()
        for row, i in enumerate(idx):
            out[i] = lp[row, :min(int(frames[row]), lp.shape[1])]
    return out  # type: ignore[return-value]


def greedy_cer(model, items: list[Item], device) -> float:
    """CER of greedy decoding on ``items`` (ids compared; the per-epoch validation score)."""
    hyps = [decode(lp)[0] for lp in frame_log_probs(model, [it.x for it in items], device)]
    return error_rate([it.ids for it in items], hyps)


def fit(model: nn.Module, train: list[Item], val: list[Item], settings, device: torch.device,
        epochs: int | None = None, on_epoch: Callable[[dict], None] | None = None) -> FitResult:
    """Train with CTC; with a validation split, stop when its loss has not improved for
    ``settings.patience`` epochs and keep the best epoch's weights."""
    epochs = epochs or settings.num_epochs
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    model.to(device)
    if getattr(model.frontend, "frozen", False):  # its features once per recording, not every epoch
        from .frozen import on_features
        model, train, val = on_features(model, train, val)
    opt_cfg = build_config({"learning_rate": settings.learning_rate, "weight_decay": settings.weight_decay,
                            "optimizer": {"name": "adamw"}, "lr_schedule": {"name": "cosine", "warmup_epochs": 2}})
    optimizer = make_optimizer(model.parameters(), opt_cfg)
    scheduler = make_scheduler(optimizer, opt_cfg, epochs)
    amp_dtype = _amp_dtype(device)
    loss_fn = nn.CTCLoss(blank=0, zero_infinity=True)
    result, best, best_state, waited = FitResult(), None, None, 0
    started, seen, train_time = time.perf_counter(), 0, 0.0
    val_batches = batches(val, settings.batch_size, None) if val else []
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_loss = run_epoch(model, train, batches(train, settings.batch_size, rng), loss_fn, device,
                               optimizer, amp_dtype, settings.grad_clip)
        seen, train_time = seen + len(train), train_time + time.perf_counter() - t0
        row = {"epoch": epoch, "train_loss": train_loss, "val_loss": None, "val_cer": None,
               "lr": optimizer.param_groups[0]["lr"]}
        if val:
            row["val_loss"] = run_epoch(model, val, val_batches, loss_fn, device, amp_dtype=amp_dtype)
            row["val_cer"] = round(greedy_cer(model, val, device), 4)
        scheduler.step()
        result.history.append(row)
        if on_epoch:
            on_epoch(row)
        if not val:
            result.best_epoch = epoch
            continue
        if best is None or row["val_loss"] < best - 1e-6:
            best, waited, result.best_epoch = row["val_loss"], 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if waited >= settings.patience:
                result.stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - started
    result.examples_per_second = seen / max(train_time, 1e-9)  # training passes only
    return result
