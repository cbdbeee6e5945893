"""PNG figures for feedback pages and the class report, drawn on bare Agg figures (no pyplot state)."""

from __future__ import annotations

import base64
import io
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from solutions.plots import plot_learning_curves


def png_bytes(figure: Figure) -> bytes:
    """Render ``figure`` to PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A ``data:`` URI, to embed a PNG in a self-contained HTML page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def learning_curve_png(history: Mapping[str, Sequence[float]], n_train: int, n_test: int) -> bytes:
    """The learning curve of ``solutions.plots`` (accuracy and error per epoch), as PNG bytes."""
    with tempfile.TemporaryDirectory(prefix="autograder-figure-") as folder:
        return plot_learning_curves(history, n_train, n_test, Path(folder) / "curve.png").read_bytes()


def histogram_png(scores: Sequence[float], max_score: float, bins: int = 20) -> bytes:
    """Histogram of total scores between 0 and ``max_score``."""
    figure = Figure(figsize=(7, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    step = (max_score or 1) / bins
    edges = np.arange(bins + 2) * step - step / 2  # each multiple of the step in the middle of a bar
    axes.hist(np.asarray(scores, dtype=float), bins=edges, color="#4c72b0", edgecolor="white")
    axes.set_xlabel(f"score (out of {max_score:g})")
    axes.set_ylabel("submissions")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title(f"Scores of {len(scores)} submissions")
    axes.grid(axis="y", alpha=0.3)
    return png_bytes(figure)


def pass_rate_png(labels: Sequence[str], rates: Sequence[float]) -> bytes:
    """Horizontal bars: the share of submissions that passed each check, first check on top."""
    figure = Figure(figsize=(8, 0.32 * len(labels) + 1.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    positions = np.arange(len(labels))
    axes.barh(positions, rates, color="#55a868")
    axes.set_yticks(positions, labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel("share of graded submissions that passed")
    for position, rate in zip(positions, rates, strict=True):
        axes.text(min(rate, 0.9) + 0.01, position, f"{rate:.0%}", va="center", fontsize=7)
    axes.grid(axis="x", alpha=0.3)
    return png_bytes(figure)
