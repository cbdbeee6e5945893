"""What the grader of ``mnist_minibatch`` uses besides the reference functions.

- ``given_values``: the arrays the notebook's data cell hands to the student's process, read
  straight from the MNIST files (only the rows handed over);
- ``calibrated_subset`` and ``CALIBRATED``: the data and settings of the accuracy check of
  ``train`` (``docs/calibration.md``, section ``mnist_minibatch``; ``bench/calibrate_minibatch.py``
  measures with the very same function);
- ``fail``, ``call``, ``describe``: the checks' messages (what was expected, what came back, and a
  hint on a line of its own).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from solutions.data import load_mnist

DATA_CELL = "load_data"  # the grade id of the notebook's given cell that loads MNIST
GIVEN_ROWS = 1000  # its metadata's "rows": what it hands to the student's process when grading
TRAINING_PART = 50_000  # the notebook trains on MNIST's first 50,000 training images, validates on the rest


def given_values(grade_id: str) -> dict[str, np.ndarray] | None:
    """What the notebook's data cell defines, for the student's process when grading.

    For ``"load_data"``: ``x_train`` (1000, 784) and ``x_test`` (1000, 784) uint8 pixels,
    ``y_train`` (1000,) and ``y_test`` (1000,) uint8 labels, the first rows of each file, the only
    bytes decompressed (the cell itself reads all 70,000 images). Other cells: None (run them).
    """
    if grade_id != DATA_CELL:
        return None
    raw = load_mnist(train_count=GIVEN_ROWS, test_count=GIVEN_ROWS)
    return {
        "x_train": raw["training_images"],
        "y_train": raw["training_labels"],
        "x_test": raw["test_images"],
        "y_test": raw["test_labels"],
    }


# ----------------------------------------------------------------------------- the accuracy check


@dataclass(frozen=True)
class CheckSettings:
    """One configuration of the accuracy check: which images, which network, how long."""

    train_images: int = 5000  # the first of the notebook's training part
    validation_images: int = 1000  # the first of its validation part (MNIST training images 50,000 on)
    test_images: int = 1000  # the first test images
    hidden_size: int = 64
    batch_size: int = 32
    learning_rate: float = 0.05
    momentum: float = 0.9
    epochs: int = 2
    patience: int = 2
    seed: int = 884736743  # default_rng(seed) draws the initial weights, then train's batches


CALIBRATED = CheckSettings()
MIN_TEST_ACCURACY = 0.80  # correct runs: 0.872 to 0.914 over 11 variants x 30 seeds (docs/calibration.md)


@dataclass(frozen=True)
class Subset:
    """Images float64 in [0, 1] ``(n, 784)`` and integer labels ``(n,)`` of the three sets."""

    training_images: np.ndarray
    training_labels: np.ndarray
    validation_images: np.ndarray
    validation_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@cache
def calibrated_subset(train_count: int, validation_count: int, test_count: int) -> Subset:
    """The first ``train_count`` images of the notebook's training part, the first
    ``validation_count`` of its validation part and the first ``test_count`` test images, scaled
    and typed as the notebook's ``split`` cell does (only those images are decompressed)."""
    raw = load_mnist(train_count=TRAINING_PART + validation_count, test_count=test_count)
    images, labels = raw["training_images"], raw["training_labels"].astype(np.int64)
    return Subset(
        images[:train_count] / 255,
        labels[:train_count],
        images[TRAINING_PART:] / 255,
        labels[TRAINING_PART:],
        raw["test_images"] / 255,
        raw["test_labels"].astype(np.int64),
    )


# ----------------------------------------------------------------------------- messages


class CheckFailure(AssertionError):
    """A check failed; the message says what was expected, what came back, and a hint."""

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows: the message alone, wrapped to 80 characters."""
        lines: list[str] = []
        for paragraph in str(self).splitlines():
            lines += textwrap.wrap(paragraph, 80, subsequent_indent="  ") or [""]
        return lines


def fail(what: str, expected: str, got: str, hint: str) -> CheckFailure:
    """``what: expected ..., got ...`` and the hint on a line of its own."""
    return CheckFailure(f"{what}: expected {expected}, got {got}.\nHint: {hint}")


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, at most ``limit`` characters (a value the student returned)."""
    text = repr(value).encode("ascii", "backslashreplace").decode()
    return text if len(text) <= limit else text[:limit] + "..."


def describe(value: Any) -> str:
    """A short description of a returned value (one line): type, shape, a few values."""
    if hasattr(value, "type_name"):  # an object that stayed in the student's process
        return f"an object of type {short(value.type_name)}"
    if isinstance(value, np.ndarray):
        shown = np.array2string(value.ravel()[:4], precision=4, separator=", ")
        more = ", ..." if value.size > 4 else ""
        return f"an array of shape {value.shape}, dtype {value.dtype}, values {shown[:-1]}{more}]"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with the keys {sorted(short(key, 30) for key in value)}"
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return short(value)
    return f"an object of type {short(type(value).__name__)}"


def call(student: Any, function: str, args: list, what: str, hint: str, stand_ins: bool = True) -> Any:
    """``student.call(function, args)``; an exception of the student's code fails the check, saying
    what was being done and the hint. ``stand_ins=False``: the student's own versions of the
    functions it calls run (the grader's versions stand in for them otherwise)."""
    try:
        return student.call(function, args, stand_ins=stand_ins)
    except student.Raised as error:
        raise CheckFailure(f"{what}: {error}.\nHint: {hint}") from None
