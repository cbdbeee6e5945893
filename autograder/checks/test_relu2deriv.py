"""relu2deriv(output): 1 where the ReLU unit fired (output > 0), else 0."""

import numpy as np

from autograder.expect import as_array, describe, expect_close, expect_shape, fail

HINT = (
    "the derivative is 1 where the unit fired (output > 0) and 0 elsewhere; "
    "a unit whose output is exactly 0 did not fire, so compare with > rather than >="
)


def derivative(student, output):
    value = student.call("relu2deriv", [output]).values[0]
    return as_array(value, "relu2deriv(output)", HINT)


def test_fired_units_only(student, rng):
    output = np.maximum(rng.normal(size=(5, 8)), 0.0)
    got = derivative(student, output)
    what = "relu2deriv of ReLU outputs (about half exactly 0)"
    expect_shape(got, output.shape, what, "return an array of the input's shape")
    if got.dtype.kind not in "biuf":
        raise fail(what, "a boolean or numeric array", describe(got), HINT)
    expect_close(got.astype(np.float64), (output > 0).astype(np.float64), what, HINT, 0, 0)


def test_exact_zero_blocks_gradient(student, rng):
    output = np.array([0.0, 0.0, 3.5, 1e-9, 0.0, 2.0])
    got = derivative(student, output)
    what = "relu2deriv([0, 0, 3.5, 1e-9, 0, 2])"
    expect_close(got.astype(np.float64), (output > 0).astype(np.float64), what, HINT, 0, 0)
