"""Pictures of a run: loss/accuracy curves and the row-normalised confusion matrix."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

TICK_LABEL_CHARS = 18  # longer class names are shortened on the axes (the report has them whole)


def short_label(name: str, limit: int = TICK_LABEL_CHARS) -> str:
    """``name`` cut to ``limit`` characters with an ellipsis, so long class names fit the axes."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def plot_curves(history: list[dict], path: Path, best_epoch: int | None = None) -> None:
    """Train/validation loss and accuracy per epoch, side by side."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(epochs, [h[f"train_{metric}"] for h in history], "o-", label="train", ms=3)
        val = [h[f"val_{metric}"] for h in history]
        if any(v is not None for v in val):
            ax.plot(epochs, [np.nan if v is None else v for v in val], "o-", label="validation", ms=3)
        if best_epoch:
            ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"kept (epoch {best_epoch})")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[1].set_ylim(-0.02, 1.02)
    if not any(h.get("val_loss") is not None for h in history):  # say so: a caption may expect one
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.set_title(f"{metric} (training split only: no validation split in this fit)", fontsize=10)
    # Fixed margins (the labels here never change length): tight_layout drew the figure twice.
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.13, top=0.92, wspace=0.18)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(matrix: list[list[int]], classes: list[str], path: Path,
                   title: str = "test split") -> None:
    """Row-normalised confusion matrix with class names and counts in each cell (a PNG file)."""
    fig = confusion_figure(matrix, classes, title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_figure(matrix: list[list[int]], classes: list[str], title: str = "test split"):
    """The confusion matrix as a matplotlib figure (see :func:`plot_confusion`).

    Empty cells stay blank (a grid of "0.00 (0)" hides the few mistakes); long class names are
    shortened on the axes; the title sits above the plot area, apart from the colour bar.
    """
    cm = np.asarray(matrix, dtype=float)
    rows = cm.sum(1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    n = len(classes)
    size = min(2.6 + 0.6 * n, 16)
    fig, ax = plt.subplots(figsize=(size + 1.5, size + 0.4), layout="constrained")
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = [short_label(c) for c in classes]
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.suptitle(f"Confusion matrix ({title})\nrows sum to 1; (count)", fontsize=10)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j] == 0:
                    continue
                ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center",
                        fontsize=8, color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig
