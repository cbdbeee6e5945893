"""dropout_mask(shape, rng): 0s and 1s, each 1 with probability 1/2, drawn from rng only."""

from mnist_checks import tasks, visible

DRAWS, SIZE = 200, 100


def test_visible_inputs(student, rng):
    visible.dropout_mask(student)


def test_zeros_and_ones_of_the_shape(student, rng):
    seed = int(rng.integers(2**32))
    for shape in (100, (4, 25)):
        tasks.check_mask_values(student, shape, seed)


def test_half_are_ones(student, rng):
    tasks.check_mask_fraction(student, SIZE, int(rng.integers(2**32)), DRAWS)


def test_reproducible_from_the_generator(student, rng):
    tasks.check_mask_reproducible(student, SIZE, int(rng.integers(2**32)))
