"""train_step(...): one forward and backward pass, weights updated in place.

The gradient check: with the dropout mask held fixed and E = half the squared error, the
update of ``weights_2`` must be ``-learning_rate * dE/dweights_2``. For ``weights_1`` the
tutorial's hidden delta is gated by the mask but does not repeat the forward pass's factor
2, so its step is half the gradient step; the exact gradient step is accepted too. Both are
measured by central differences (``mnist_checks.tasks.check_step_updates``).
"""

import numpy as np
from mnist_checks import tasks, visible

from solutions import mnist_mlp as network

RATES = (0.0173, 0.0419)  # learning rates nobody would type


def make_case(rng, hidden):
    """An image, its label, weights and a mask with units of every kind (fired and kept, not fired,
    dropped), so that both weight arrays must change and every kind of unit is checked."""
    while True:
        layer_0 = rng.random(784)
        label = np.eye(10)[rng.integers(10)]
        weights_1 = 0.2 * rng.random((784, hidden)) - 0.1
        weights_2 = 0.2 * rng.random((hidden, 10)) - 0.1
        mask = rng.integers(0, 2, size=hidden)
        fired = layer_0 @ weights_1 > 0
        if all(kind.sum() >= 2 for kind in (fired & (mask == 1), ~fired & (mask == 1), mask == 0)):
            return layer_0, label, weights_1, weights_2, mask


def test_visible_inputs(student, rng):
    tasks.check_step_loss(student, visible.STEP_CASE, visible.STEP_RATE, network.relu)
    tasks.check_step_updates(student, visible.STEP_CASE, visible.STEP_RATE, network.relu,
                             network.relu2deriv, rng)


def test_loss_and_correct(student, rng):
    for hidden, rate in zip((100, 16), RATES, strict=True):
        tasks.check_step_loss(student, make_case(rng, hidden), rate, network.relu)


def test_gradient_check(student, rng):
    for hidden, rate in zip((100, 16), RATES, strict=True):
        tasks.check_step_updates(student, make_case(rng, hidden), rate, network.relu, network.relu2deriv, rng)
