"""evaluate(images, labels, weights_1, weights_2): total squared error and correct count."""

import numpy as np
from mnist_checks import loop, visible

from solutions import mnist_mlp as network


def test_visible_inputs(student, rng):
    loop.check_evaluate(student, *visible.EVALUATE_CASE, network.relu)


def test_against_direct_computation(student, rng):
    for count in (50, 1):
        images = rng.random((count, 784))
        labels = np.eye(10)[rng.integers(10, size=count)]
        weights_1 = 0.2 * rng.random((784, 30)) - 0.1
        weights_2 = 0.2 * rng.random((30, 10)) - 0.1
        loop.check_evaluate(student, images, labels, weights_1, weights_2, network.relu)
