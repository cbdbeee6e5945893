"""relu(x): x where x > 0, else 0, for any shape; x left unchanged."""

import numpy as np
from mnist_checks import tasks, visible


def test_visible_inputs(student, rng):
    visible.relu(student)


def test_values_and_shape(student, rng):
    x = rng.normal(size=(6, 7))
    x[0, :3] = 0.0
    tasks.check_relu(student, x)


def test_one_dimensional_with_zero(student, rng):
    tasks.check_relu(student, np.concatenate([[-0.0, 0.0, -1e-12, 1e-12], rng.uniform(-5, 5, size=8)]))
