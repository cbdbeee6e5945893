"""The data the checks and the grader use: the tutorial's first MNIST images and initial weights."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from solutions.data import load_mnist
from solutions.mnist_mlp import initial_weights, one_hot_encoding

TUTORIAL_SEED = 884736743


@dataclass(frozen=True)
class TrainingData:
    """Images ``(n, 784)`` scaled to [0, 1] and one-hot labels ``(n, 10)``, float64."""

    training_images: np.ndarray
    training_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@cache
def mnist_subset(train_count: int, test_count: int) -> TrainingData:
    """The first ``train_count`` training and ``test_count`` test images, as in the tutorial."""
    raw = load_mnist(train_count=train_count, test_count=test_count)
    return TrainingData(
        raw["training_images"] / 255,
        one_hot_encoding(raw["training_labels"]),
        raw["test_images"] / 255,
        one_hot_encoding(raw["test_labels"]),
    )


def tutorial_start(seed: int = TUTORIAL_SEED, hidden_size: int = 100) -> tuple[np.ndarray, np.ndarray, int]:
    """The tutorial's initial weights for ``seed`` and the rng state to continue from.

    Returns ``weights_1`` (784, hidden), ``weights_2`` (hidden, 10) and the number of
    values drawn, so that a fresh ``default_rng(seed)`` can be advanced to the same point.
    """
    rng = np.random.default_rng(seed)
    weights_1, weights_2 = initial_weights(rng, hidden_size=hidden_size)
    return weights_1, weights_2, weights_1.size + weights_2.size


CONTEXT_IMAGES = 1000  # the data cell's arrays handed to the student's process: the first 1,000 of each
DATA_CELL_NAMES = {"x_train": "training_images", "y_train": "training_labels",
                   "x_test": "test_images", "y_test": "test_labels"}


def given_values(grade_id: str) -> dict[str, np.ndarray] | None:
    """What the notebook's data cell (``load_data``) defines, as far as the student's answers and
    the given cells after it use it: the first 1,000 images and labels of each set, read straight
    from the files (the cell itself reads all 70,000). Other cells: None (run them)."""
    if grade_id != "load_data":
        return None
    raw = load_mnist(train_count=CONTEXT_IMAGES, test_count=CONTEXT_IMAGES)
    return {name: np.ascontiguousarray(raw[key]) for name, key in DATA_CELL_NAMES.items()}

