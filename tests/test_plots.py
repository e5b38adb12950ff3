"""The run's pictures: readable with long class names, no wall of zero cells, whole-epoch ticks."""
import matplotlib.pyplot as plt

from konstrukt.plots import confusion_figure, plot_confusion, plot_curves, short_label


def test_confusion_matrix_leaves_empty_cells_blank_and_shortens_long_names(tmp_path):
    names = ["a very long class name that would run into the colour bar", "cat", "dog"]
    fig = confusion_figure([[5, 0, 1], [0, 6, 0], [2, 0, 3]], names)
    ax = fig.axes[0]
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == 5  # the five non-zero cells only
    assert not any(c.startswith("0.00") for c in cells)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == short_label(names[0]) and len(ticks[0]) <= 18 and ticks[0].endswith("…")
    assert "Confusion matrix" in fig._suptitle.get_text()
    plt.close(fig)
    plot_confusion([[1, 0], [0, 1]], ["a", "b"], tmp_path / "cm.png")
    assert (tmp_path / "cm.png").stat().st_size > 1000


def test_curves_use_whole_epochs_and_say_when_no_validation_is_drawn(tmp_path, monkeypatch):
    seen = {}
    real_close = plt.close

    def keep(fig):  # inspect the figure before it is closed
        seen["fig"] = fig
        real_close(fig)

    monkeypatch.setattr(plt, "close", keep)
    history = [{"epoch": i, "train_loss": 1 / i, "val_loss": None, "train_accuracy": 0.5,
                "val_accuracy": None} for i in range(1, 4)]
    plot_curves(history, tmp_path / "curves.png")
    fig = seen["fig"]
    ticks = [t for t in fig.axes[0].get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    assert "no validation" in fig.axes[0].get_title()
