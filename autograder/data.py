"""The data the training check uses: the tutorial's first MNIST images and initial weights."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from solutions.data import load_mnist
from solutions.network import initial_weights, one_hot_encoding

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
