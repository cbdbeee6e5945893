"""one_hot_encoding(labels, dimension=10): float64 rows with a single 1.0 at each label."""

import numpy as np
from mnist_checks import tasks, visible


def test_visible_inputs(student, rng):
    visible.one_hot_encoding(student)


def test_shape_dtype_and_values(student, rng):
    tasks.check_one_hot_encoding(student, rng.integers(0, 10, size=37).astype(np.uint8), None)


def test_other_dimension(student, rng):
    tasks.check_one_hot_encoding(student, rng.integers(0, 4, size=9), 4)


def test_every_label_value(student, rng):
    tasks.check_one_hot_encoding(student, rng.permutation(10), None)
