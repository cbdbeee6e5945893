"""Reference implementation of the student contract: a one-hidden-layer network in NumPy.

The network maps an image ``layer_0`` of shape ``(784,)`` to ten scores::

    layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2     # (hidden,)
    layer_2 = layer_1 @ weights_2                              # (10,)

and is trained one image at a time on the summed squared error
``sum((label - layer_2) ** 2)``. The functions below are the seven the released
notebook asks students to write; the grader and every test rely on their names.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "one_hot_encoding",
    "relu",
    "relu2deriv",
    "dropout_mask",
    "train_step",
    "evaluate",
    "train",
    "initial_weights",
    "given_values",
]


def one_hot_encoding(labels: np.ndarray, dimension: int = 10) -> np.ndarray:
    """Encode integer labels ``(n,)`` as float64 rows ``(n, dimension)`` with one 1.0 each."""
    labels = np.asarray(labels)
    return (labels[:, None] == np.arange(dimension)).astype(np.float64)


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit: ``x`` where ``x > 0``, else 0; same shape as ``x``."""
    return np.where(x > 0, x, 0.0)


def relu2deriv(output: np.ndarray) -> np.ndarray:
    """Derivative of ReLU from its output: 1.0 where the unit fired (``output > 0``), else 0.0.

    The tutorial tests ``output >= 0``, which is true for every ReLU output and so
    never blocks a gradient; ``>`` is the derivative.
    """
    return (output > 0).astype(np.float64)


def dropout_mask(shape: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Draw a mask of ``shape`` whose entries are 0 or 1, each 1 with probability 1/2, from ``rng``."""
    return rng.integers(low=0, high=2, size=shape)


def train_step(
    layer_0: np.ndarray,
    label: np.ndarray,
    weights_1: np.ndarray,
    weights_2: np.ndarray,
    learning_rate: float,
    dropout_mask: np.ndarray,
) -> tuple[float, bool]:
    """Train on one image; update both weight arrays in place.

    Shapes: ``layer_0`` (784,), ``label`` (10,) one-hot, ``weights_1`` (784, hidden),
    ``weights_2`` (hidden, 10), ``dropout_mask`` (hidden,) of 0s and 1s.
    Returns ``(loss, correct)``: the squared error summed over the 10 outputs, and
    whether the arg-max of the output matches the label's.
    """
    layer_1 = relu(layer_0 @ weights_1) * (dropout_mask * 2)
    layer_2 = layer_1 @ weights_2

    layer_2_delta = label - layer_2
    layer_1_delta = (weights_2 @ layer_2_delta) * relu2deriv(layer_1) * dropout_mask

    loss = float(np.sum(layer_2_delta**2))
    correct = bool(np.argmax(layer_2) == np.argmax(label))

    weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
    weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
    return loss, correct


def evaluate(
    images: np.ndarray, labels: np.ndarray, weights_1: np.ndarray, weights_2: np.ndarray
) -> tuple[float, int]:
    """Score a whole set without dropout.

    Shapes: ``images`` (n, 784), ``labels`` (n, 10) one-hot. Returns the total squared
    error over all images and outputs, and the number of correct arg-max predictions.
    """
    outputs = relu(images @ weights_1) @ weights_2
    loss = float(np.sum((labels - outputs) ** 2))
    accurate = int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))
    return loss, accurate


def train(
    training_images: np.ndarray,
    training_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    weights_1: np.ndarray,
    weights_2: np.ndarray,
    epochs: int,
    learning_rate: float,
    rng: np.random.Generator,
) -> dict[str, list[float]]:
    """Train for ``epochs`` passes over the training set, one image at a time.

    Shapes: images (n, 784), one-hot labels (n, 10), ``weights_1`` (784, hidden),
    ``weights_2`` (hidden, 10), both updated in place. Each image gets its own mask
    ``dropout_mask(hidden, rng)``. Returns a dict of four lists with one entry per
    epoch: ``training_loss``, ``training_accurate_pred`` (summed over the epoch's
    images), ``test_loss`` and ``test_accurate_pred`` (from ``evaluate`` after the epoch).
    """
    history: dict[str, list[float]] = {
        "training_loss": [],
        "training_accurate_pred": [],
        "test_loss": [],
        "test_accurate_pred": [],
    }
    hidden_size = weights_1.shape[1]
    for _ in range(epochs):
        epoch_loss, epoch_correct = 0.0, 0
        for image, label in zip(training_images, training_labels, strict=True):
            mask = dropout_mask(hidden_size, rng)
            loss, correct = train_step(image, label, weights_1, weights_2, learning_rate, mask)
            epoch_loss += loss
            epoch_correct += int(correct)
        test_loss, test_correct = evaluate(test_images, test_labels, weights_1, weights_2)
        history["training_loss"].append(epoch_loss)
        history["training_accurate_pred"].append(epoch_correct)
        history["test_loss"].append(test_loss)
        history["test_accurate_pred"].append(test_correct)
    return history


def initial_weights(
    rng: np.random.Generator, pixels: int = 784, hidden_size: int = 100, labels: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the tutorial's initial weights, uniform in [-0.1, 0.1).

    Returns ``weights_1`` of shape ``(pixels, hidden_size)`` and ``weights_2`` of
    shape ``(hidden_size, labels)``, drawn in that order from ``rng``.
    """
    weights_1 = 0.2 * rng.random((pixels, hidden_size)) - 0.1
    weights_2 = 0.2 * rng.random((hidden_size, labels)) - 0.1
    return weights_1, weights_2


def given_values(grade_id: str) -> dict[str, np.ndarray] | None:
    """The notebook's data cell as the grader hands it to the student's process (see ``grading``)."""
    from solutions.mnist_mlp.grading import given_values as values

    return values(grade_id)

