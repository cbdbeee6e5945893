"""Learning-curve figures for a training history such as the one ``train`` returns."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["learning_curve_figure", "plot_learning_curves"]

_KEYS = ("training_loss", "training_accurate_pred", "test_loss", "test_accurate_pred")


def learning_curve_figure(history: Mapping[str, Sequence[float]], n_train: int, n_test: int) -> Figure:
    """Accuracy and error per epoch, training set left and test set right, on a bare Figure.

    ``history`` holds four sequences of equal length (one entry per epoch):
    ``training_loss`` and ``training_accurate_pred`` are totals over ``n_train``
    images, ``test_loss`` and ``test_accurate_pred`` totals over ``n_test`` images;
    the curves show them divided by those counts.
    """
    curves = _per_image(history, n_train, n_test)
    epochs = np.arange(1, len(curves["training_loss"]) + 1)

    # A bare Figure on the Agg canvas needs no display and leaves pyplot's global
    # backend alone, so this also works inside a running notebook or a grader.
    # Fixed margins rather than a layout engine: the panels' contents never change shape,
    # and a layout engine doubles the cost of every feedback page's figure.
    figure = Figure(figsize=(12, 4.5))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.92, wspace=0.12)
    panels = figure.subplots(1, 2)
    for axes, split, title, count in (
        (panels[0], "training", "Training set", n_train),
        (panels[1], "test", "Test set", n_test),
    ):
        axes.plot(epochs, curves[f"{split}_accurate_pred"], marker="o", label="Accuracy")
        axes.plot(epochs, curves[f"{split}_loss"], marker="o", label="Error")
        axes.set_title(f"{title} ({count:,} images)")
        axes.set_xlabel("Epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    return figure


def plot_learning_curves(
    history: Mapping[str, Sequence[float]],
    n_train: int,
    n_test: int,
    path: str | os.PathLike[str],
) -> Path:
    """Draw ``learning_curve_figure(history, n_train, n_test)`` and save it as a PNG.

    Parent directories of ``path`` are created. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    figure = learning_curve_figure(history, n_train, n_test)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path


def _per_image(history: Mapping[str, Sequence[float]], n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """Check ``history`` and divide each total by its set's size: four arrays (epochs,)."""
    missing = [key for key in _KEYS if key not in history]
    if missing:
        raise ValueError(f"history lacks {', '.join(missing)}; expected keys {', '.join(_KEYS)}")
    lengths = {len(history[key]) for key in _KEYS}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError("history must hold one entry per epoch, the same number for every key")
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"image counts must be positive, got n_train={n_train}, n_test={n_test}")
    return {
        key: np.asarray(history[key], dtype=float) / (n_train if key.startswith("training") else n_test)
        for key in _KEYS
    }
