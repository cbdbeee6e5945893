"""relu2deriv(output): 1 where the ReLU unit fired (output > 0), else 0; output left unchanged."""

import numpy as np
from mnist_checks import tasks, visible


def test_visible_inputs(student, rng):
    visible.relu2deriv(student)


def test_fired_units_only(student, rng):
    tasks.check_relu2deriv(student, np.maximum(rng.normal(size=(5, 8)), 0.0))


def test_exact_zero_blocks_gradient(student, rng):
    tasks.check_relu2deriv(student, np.array([0.0, 0.0, 3.5, 1e-9, 0.0, 2.0]))
