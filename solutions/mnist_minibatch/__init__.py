"""Reference implementation of the second assignment, ``mnist_minibatch``.

The network of the first assignment, grown along the tutorial's "next steps": biases,
He initialisation, softmax with cross-entropy, mini-batch SGD with momentum on all
60,000 training images (50,000 to train, 10,000 to validate) and early stopping on the
validation accuracy. An image batch ``images`` of shape ``(n, 784)`` goes through::

    hidden = relu(images @ W1 + b1)      # (n, hidden_size)
    scores = hidden @ W2 + b2            # (n, 10)
    loss   = mean cross-entropy of softmax(scores) against the integer labels (n,)

Every layer is a forward/backward pair in the style of Stanford's cs231n: the forward
function returns its output and a *cache* of what its backward function needs; the
backward function turns the gradient of the loss with respect to the output into the
gradients with respect to the inputs and parameters.

The eight functions of ``__all__``'s first block are what the released notebook asks
students to write (their names and positional parameters are the contract; the grader reads
from this file which of them each one calls); the ReLU pair, ``predict`` and ``accuracy`` are
given in the notebook. Everything is float64. Training the reference on all of MNIST is
``python -m solutions mnist_minibatch`` (``training``); what the grader uses besides these
functions is in ``grading``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    # the student contract
    "init_params",
    "affine_forward",
    "affine_backward",
    "softmax_cross_entropy",
    "loss_and_gradients",
    "minibatch_indices",
    "sgd_step",
    "train",
    # given in the notebook
    "relu_forward",
    "relu_backward",
    "predict",
    "accuracy",
    # for the grader
    "given_values",
]

Params = dict[str, np.ndarray]
AffineCache = tuple[np.ndarray, np.ndarray]


# ------------------------------------------------------------------------ the student contract


def init_params(input_size: int, hidden_size: int, output_size: int, rng: np.random.Generator) -> Params:
    """He initialisation of a one-hidden-layer network.

    Returns a dict of float64 arrays: ``"W1"`` ``(input_size, hidden_size)`` and ``"W2"``
    ``(hidden_size, output_size)`` drawn (in that order) from ``rng`` as normal numbers with
    mean 0 and standard deviation ``sqrt(2 / fan_in)``, where ``fan_in`` is the number of rows;
    ``"b1"`` ``(hidden_size,)`` and ``"b2"`` ``(output_size,)`` all zeros.
    """
    weights_1 = rng.standard_normal((input_size, hidden_size)) * np.sqrt(2.0 / input_size)
    weights_2 = rng.standard_normal((hidden_size, output_size)) * np.sqrt(2.0 / hidden_size)
    return {
        "W1": weights_1,
        "b1": np.zeros(hidden_size),
        "W2": weights_2,
        "b2": np.zeros(output_size),
    }


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, AffineCache]:
    """Fully connected layer: ``x`` ``(n, d)``, ``w`` ``(d, m)``, ``b`` ``(m,)``.

    Returns ``(out, cache)``: ``out = x @ w + b`` of shape ``(n, m)``, and ``cache = (x, w)``
    for :func:`affine_backward`.
    """
    return x @ w + b, (x, w)


def affine_backward(dout: np.ndarray, cache: AffineCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a fully connected layer, from ``dout`` ``(n, m)`` = dLoss/dout.

    ``cache`` is ``(x, w)`` from :func:`affine_forward`. Returns ``(dx, dw, db)`` with the
    shapes of ``x`` ``(n, d)``, ``w`` ``(d, m)`` and ``b`` ``(m,)``.
    """
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of the softmax of ``scores`` ``(n, c)`` against integer ``labels`` ``(n,)``.

    Returns ``(loss, dscores)``: the loss averaged over the ``n`` rows (a float) and its
    gradient with respect to ``scores``, ``(softmax(scores) - one_hot(labels)) / n``, shape
    ``(n, c)``. Each row's maximum is subtracted before exponentiating, so scores in the
    thousands neither overflow nor produce nan.
    """
    count = scores.shape[0]
    rows = np.arange(count)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -float(np.mean(log_probabilities[rows, labels]))
    dscores = np.exp(log_probabilities)
    dscores[rows, labels] -= 1.0
    return loss, dscores / count


def loss_and_gradients(params: Params, images: np.ndarray, labels: np.ndarray) -> tuple[float, Params]:
    """Forward and backward pass of the whole network on one batch.

    ``images`` ``(n, input_size)``, integer ``labels`` ``(n,)``, ``params`` as from
    :func:`init_params`. Returns ``(loss, grads)``: the mean cross-entropy, and a dict with
    the gradient of the loss for each key of ``params`` (same shapes).
    """
    hidden_input, first_cache = affine_forward(images, params["W1"], params["b1"])
    hidden, relu_cache = relu_forward(hidden_input)
    scores, second_cache = affine_forward(hidden, params["W2"], params["b2"])
    loss, dscores = softmax_cross_entropy(scores, labels)

    dhidden, dweights_2, dbias_2 = affine_backward(dscores, second_cache)
    dhidden_input = relu_backward(dhidden, relu_cache)
    _, dweights_1, dbias_1 = affine_backward(dhidden_input, first_cache)
    return loss, {"W1": dweights_1, "b1": dbias_1, "W2": dweights_2, "b2": dbias_2}


def minibatch_indices(count: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's mini-batches: the indices ``0 .. count - 1`` in an order drawn from ``rng``.

    Returns a list of integer arrays, each of shape ``(batch_size,)`` except the last, which
    holds the ``count % batch_size`` left over (when that is not 0). Every index appears in
    exactly one batch, once.
    """
    order = rng.permutation(count)
    return [order[start : start + batch_size] for start in range(0, count, batch_size)]


def sgd_step(
    params: Params, grads: Params, velocity: Params, learning_rate: float, momentum: float
) -> None:
    """One step of SGD with (classical) momentum, in place.

    For every key: ``velocity = momentum * velocity - learning_rate * grad``, then
    ``param += velocity``. ``params``, ``grads`` and ``velocity`` share keys and shapes;
    the arrays of ``params`` and ``velocity`` are modified in place. Returns None.
    """
    for key, param in params.items():
        velocity[key] *= momentum
        velocity[key] -= learning_rate * grads[key]
        param += velocity[key]


def train(
    params: Params,
    training_images: np.ndarray,
    training_labels: np.ndarray,
    validation_images: np.ndarray,
    validation_labels: np.ndarray,
    rng: np.random.Generator,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    momentum: float,
    patience: int,
) -> tuple[Params, dict[str, list[float] | int]]:
    """Mini-batch SGD with momentum and early stopping on the validation accuracy.

    Images are ``(n, input_size)`` and ``(v, input_size)``, labels integer ``(n,)`` and
    ``(v,)``. Each epoch trains on the batches of ``minibatch_indices(n, batch_size, rng)``
    (one :func:`loss_and_gradients` and one :func:`sgd_step` per batch, the velocity starting
    at zero), then measures ``accuracy(params, validation_images, validation_labels)``.
    Training stops after ``epochs`` epochs, or earlier once ``patience`` epochs in a row
    have not beaten the best validation accuracy so far. ``params`` is updated in place.

    Returns ``(best_params, history)``: copies of the weights after the epoch with the best
    validation accuracy (the first such epoch), and a dict with ``"training_loss"`` (per
    epoch, the mean of its batch losses), ``"validation_accuracy"`` (per epoch) and
    ``"best_epoch"`` (the index of the best epoch in those lists).
    """
    velocity = {key: np.zeros_like(value) for key, value in params.items()}
    best_params = {key: value.copy() for key, value in params.items()}
    best_accuracy, best_epoch = -np.inf, -1
    history: dict[str, list[float] | int] = {"training_loss": [], "validation_accuracy": []}
    for epoch in range(epochs):
        batch_losses = []
        for batch in minibatch_indices(len(training_images), batch_size, rng):
            loss, grads = loss_and_gradients(params, training_images[batch], training_labels[batch])
            sgd_step(params, grads, velocity, learning_rate, momentum)
            batch_losses.append(loss)
        validation_accuracy = accuracy(params, validation_images, validation_labels)
        history["training_loss"].append(float(np.mean(batch_losses)))
        history["validation_accuracy"].append(validation_accuracy)
        if validation_accuracy > best_accuracy:
            best_accuracy, best_epoch = validation_accuracy, epoch
            best_params = {key: value.copy() for key, value in params.items()}
        elif epoch - best_epoch >= patience:
            break
    history["best_epoch"] = best_epoch
    return best_params, history


# ------------------------------------------------------------------- given in the notebook


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ReLU layer: returns ``(out, cache)``, ``out = max(x, 0)`` of ``x``'s shape and ``cache = x``."""
    return np.maximum(x, 0.0), x


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Gradient through ReLU: ``dout`` where the input ``cache`` was positive, else 0 (same shape)."""
    return dout * (cache > 0)


def predict(params: Params, images: np.ndarray) -> np.ndarray:
    """Predicted digits for ``images`` ``(n, input_size)``: integer array ``(n,)``, no softmax needed."""
    hidden = np.maximum(images @ params["W1"] + params["b1"], 0.0)
    return np.argmax(hidden @ params["W2"] + params["b2"], axis=1)


def accuracy(params: Params, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` ``(n, input_size)`` whose prediction equals ``labels`` ``(n,)``."""
    return float(np.mean(predict(params, images) == labels))


# -------------------------------------------------------------------------------- for the grader


def given_values(grade_id: str) -> dict[str, np.ndarray] | None:
    """The notebook's data cell as the grader hands it to the student's process (see ``grading``)."""
    from solutions.mnist_minibatch.grading import given_values as values

    return values(grade_id)
