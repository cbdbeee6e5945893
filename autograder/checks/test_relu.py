"""relu(x): x where x > 0, else 0, for any shape."""

import numpy as np

from autograder.expect import as_array, expect_close, expect_shape
from solutions import network

HINT = "keep positive values and replace negative ones (and zero) by 0, e.g. with np.maximum"


def apply(student, x):
    return as_array(student.call("relu", [x]).values[0], "relu(x)", HINT)


def test_values_and_shape(student, rng):
    x = rng.normal(size=(6, 7))
    x[0, :3] = 0.0
    out = apply(student, x)
    what = "relu of a (6, 7) array of normal values"
    expect_shape(out, x.shape, what, "return an array of the input's shape")
    expect_close(out, network.relu(x), what, HINT, rtol=0, atol=0)


def test_one_dimensional_with_zero(student, rng):
    x = np.concatenate([[-0.0, 0.0, -1e-12, 1e-12], rng.uniform(-5, 5, size=8)])
    out = apply(student, x)
    what = "relu of a (12,) array with zeros and tiny values"
    expect_shape(out, x.shape, what, "return an array of the input's shape")
    expect_close(out, network.relu(x), what, HINT, rtol=0, atol=0)
