"""Figures for feedback pages (SVG, embedded) and the class report (PNG files), drawn on bare
Agg figures (no pyplot state)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from solutions.plots import learning_curve_figure


def figure_bytes(figure: Figure, file_format: str) -> bytes:
    """Render ``figure`` as ``"png"`` (100 dpi) or ``"svg"`` (cheaper to draw, sharp at any zoom)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=file_format, dpi=100, metadata={"Date": None})  # no timestamp in the file
    return buffer.getvalue()


def data_uri(data: bytes, media_type: str = "image/svg+xml") -> str:
    """A ``data:`` URI, to embed a figure in a self-contained HTML page."""
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")


def learning_curve_svg(history: Mapping[str, Sequence[float]], n_train: int, n_test: int) -> bytes:
    """The learning curve of ``solutions.plots`` (accuracy and error per epoch), as SVG bytes."""
    return figure_bytes(learning_curve_figure(history, n_train, n_test), "svg")


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
