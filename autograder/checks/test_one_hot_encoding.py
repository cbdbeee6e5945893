"""one_hot_encoding(labels, dimension=10): float64 rows with a single 1.0 at each label."""

import numpy as np

from autograder.expect import as_array, describe, expect_close, expect_shape, fail
from solutions import network

HINT = "make an all-zero float array of shape (len(labels), dimension) and set one 1.0 per row"


def encode(student, labels, **kwargs):
    result = student.call("one_hot_encoding", [labels], kwargs)
    return as_array(result.values[0], "one_hot_encoding(labels)", HINT)


def test_shape_dtype_and_values(student, rng):
    labels = rng.integers(0, 10, size=37).astype(np.uint8)
    encoded = encode(student, labels)
    what = "one_hot_encoding of 37 uint8 labels"
    expect_shape(encoded, (37, 10), what, HINT)
    if encoded.dtype != np.float64:
        raise fail(what, "dtype float64", describe(encoded), "convert with .astype(np.float64)")
    expect_close(encoded, network.one_hot_encoding(labels), what, HINT)


def test_other_dimension(student, rng):
    labels = rng.integers(0, 4, size=9)
    encoded = encode(student, labels, dimension=4)
    what = "one_hot_encoding(labels, dimension=4)"
    hint = "use the dimension argument instead of a fixed 10"
    expect_shape(encoded, (9, 4), what, hint)
    expect_close(encoded, network.one_hot_encoding(labels, 4), what, hint)


def test_every_label_value(student, rng):
    labels = rng.permutation(10)
    encoded = encode(student, labels)
    what = "one_hot_encoding of the labels 0 to 9 in random order"
    expect_close(encoded, network.one_hot_encoding(labels), what, HINT)
