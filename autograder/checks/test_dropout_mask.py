"""dropout_mask(shape, rng): 0s and 1s, each 1 with probability 1/2, drawn from rng only."""

import numpy as np

from autograder.expect import as_array, describe, fail
from autograder.worker import Rng

HINT = "draw from the generator you are given, e.g. rng.integers(0, 2, size=shape)"
DRAWS, SIZE = 200, 100


def masks(student, shape, seed, repeat=1):
    result = student.call("dropout_mask", [shape, Rng(seed)], repeat=repeat)
    return [as_array(v, f"dropout_mask({shape!r}, rng)", HINT) for v in result.values]


def test_zeros_and_ones_of_the_shape(student, rng):
    seed = int(rng.integers(2**32))
    for shape, expected in ((100, (100,)), ((4, 25), (4, 25))):
        (mask,) = masks(student, shape, seed)
        what = f"dropout_mask({shape!r}, rng)"
        if mask.shape != expected:
            raise fail(what, f"shape {expected}", describe(mask), "pass shape on as size=shape")
        if mask.dtype.kind not in "biuf" or not np.isin(mask, (0, 1)).all():
            raise fail(what, "only 0s and 1s", describe(mask), HINT)


def test_half_are_ones(student, rng):
    drawn = np.stack(masks(student, SIZE, int(rng.integers(2**32)), repeat=DRAWS)).astype(float)
    mean = drawn.mean()
    tolerance = 5 * 0.5 / np.sqrt(drawn.size)  # five standard errors of a fair coin
    if abs(mean - 0.5) > tolerance:
        raise fail(
            f"the fraction of 1s over {DRAWS} masks of {SIZE}",
            f"0.5 +/- {tolerance:.3f}",
            f"{mean:.3f}",
            "each entry must be 1 with probability 1/2",
        )
    per_unit = drawn.mean(axis=0)
    if per_unit.min() == per_unit.max():
        raise fail(
            "the masks",
            "different units dropped in different draws",
            f"every mask equal to {describe(drawn[0])}",
            "draw a new random mask on every call",
        )


def test_reproducible_from_the_generator(student, rng):
    seed = int(rng.integers(2**32))
    first, second = masks(student, SIZE, seed, repeat=2)
    (again,) = masks(student, SIZE, seed)
    if not np.array_equal(first, again):
        raise fail(
            "two masks from generators with the same seed",
            "the same mask",
            "different masks",
            "draw only from the rng argument, never from np.random or a new generator",
        )
    if np.array_equal(first, second):
        raise fail(
            "two masks drawn one after the other from one generator",
            "different masks",
            "the same mask twice",
            "do not re-seed or re-create the generator inside dropout_mask",
        )
