"""Figures for feedback pages (SVG, embedded) and the class report (PNG files), drawn on bare Agg
figures (no pyplot state, so nothing global changes in the process that draws them).

The learning curve is drawn from what an assignment's checks record as artifacts: a history of
four totals per epoch (``training_loss``, ``training_accurate_pred``, ``test_loss``,
``test_accurate_pred``) and the number of examples each set counts; the figure shows them per
example. No assignment's own code is imported here.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

HISTORY = ("training_loss", "training_accurate_pred", "test_loss", "test_accurate_pred")


def figure_bytes(figure: Figure, file_format: str) -> bytes:
    """Render ``figure`` as ``"png"`` (100 dpi) or ``"svg"`` (cheaper to draw, sharp at any zoom)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format, dpi=100, metadata={"Date": None})  # no timestamp in the file
    return buffer.getvalue()


def data_uri(data: bytes, media_type: str = "image/svg+xml") -> str:
    """A ``data:`` URI, to embed a figure in a self-contained HTML page."""
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")


def per_example(history: Mapping[str, Sequence[float]], n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """Each total of ``history`` divided by its set's size: four arrays of shape (epochs,).
    ``ValueError`` for a history that is not one entry per epoch of each key, or empty sets."""
    if any(key not in history for key in HISTORY) or n_train <= 0 or n_test <= 0:
        raise ValueError("a history needs every key of HISTORY and two positive set sizes")
    series = {key: np.asarray(history[key], dtype=float) for key in HISTORY}
    if len({line.shape for line in series.values()}) != 1 or series["test_loss"].ndim != 1:
        raise ValueError("a history holds one number per epoch, as many for every key")
    if not len(series["test_loss"]):
        raise ValueError("a history of no epoch")
    return {key: line / (n_train if key.startswith("training") else n_test) for key, line in series.items()}


def learning_curve_svg(history: Mapping[str, Sequence[float]], n_train: int, n_test: int) -> bytes:
    """Accuracy and error per epoch, the training set left and the test set right, as SVG."""
    series = per_example(history, n_train, n_test)
    epochs = np.arange(1, len(series["test_loss"]) + 1)
    figure = Figure(figsize=(12, 4.5))
    FigureCanvasAgg(figure)
    # Fixed margins, not a layout engine: the panels never change shape, and an engine would
    # double what every page's figure costs.
    figure.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.92, wspace=0.12)
    for axes, split, title, count in zip(figure.subplots(1, 2), ("training", "test"),
                                         ("Training set", "Test set"), (n_train, n_test), strict=True):
        axes.plot(epochs, series[f"{split}_accurate_pred"], marker="o", label="Accuracy")
        axes.plot(epochs, series[f"{split}_loss"], marker="o", label="Error")
        axes.set_title(f"{title} ({count:,} examples)")
        axes.set_xlabel("Epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.grid(alpha=0.3)
        axes.legend()
    return figure_bytes(figure, "svg")


def histogram_png(scores: Sequence[float], max_score: float, bins: int = 20) -> bytes:
    """Histogram of total scores between 0 and ``max_score``."""
    figure = Figure(figsize=(7, 3.8))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(left=0.1, right=0.98, bottom=0.14, top=0.91)
    axes = figure.subplots()
    step = (max_score or 1) / bins
    edges = np.arange(bins + 2) * step - step / 2  # each multiple of the step in the middle of a bar
    axes.hist(np.asarray(scores, dtype=float), bins=edges, color="#4c72b0", edgecolor="white")
    axes.set_xlabel(f"score (out of {max_score:g})")
    axes.set_ylabel("submissions")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title(f"Scores of {len(scores)} submissions")
    axes.grid(axis="y", alpha=0.3)
    return figure_bytes(figure, "png")
