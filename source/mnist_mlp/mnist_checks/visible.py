"""The visible checks: the check functions on small inputs, with stand-ins for the other tasks.

The stand-ins are deliberately not the answers of the other tasks (a ReLU that changes
nothing, a train_step that always reports the same numbers...): the visible checks of a task
test that task alone. The grader runs the same check functions on these inputs too, with its
own versions of the other tasks' functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import loop, tasks


def identity(x: Any) -> Any:
    return 1.0 * x


def slope_of_identity(output: Any) -> Any:
    """The slope of ``identity``, taken as 0 where the output is exactly 0 (a dropped unit)."""
    return 1.0 * (np.asarray(output) != 0)


def constant_mask(shape: Any, rng: Any) -> np.ndarray:
    return np.ones(shape)


def constant_step(layer_0: Any, label: Any, weights_1: Any, weights_2: Any, learning_rate: Any,
                  dropout_mask: Any) -> tuple[float, bool]:
    return 0.25, True


def constant_evaluation(images: Any, labels: Any, weights_1: Any, weights_2: Any) -> tuple[float, int]:
    return 1.5, 2


STAND_INS = {
    "train_step": {"relu": identity, "relu2deriv": slope_of_identity},
    "evaluate": {"relu": identity},
    "train": {"dropout_mask": constant_mask, "train_step": constant_step, "evaluate": constant_evaluation},
}

ONE_HOT_CASES = ((np.array([2, 0, 1], dtype=np.uint8), 3), (np.array([7, 3]), None))
RELU_CASES = (np.array([-2.0, 0.0, 3.0]), np.array([[0.5, -0.5], [-1.0, 2.0]]))
DERIV_CASES = (np.array([0.0, 0.5, 2.0]), np.array([[0.0, 3.0], [1e-9, 0.0]]))
MASK_CASES = {"values": ((100, 0), ((4, 25), 0)), "fraction": (20_000, 1, 1), "reproducible": (100, 3)}
STEP_RATE = 0.1
# Every weighted sum of these inputs is positive, so the stand-in ReLU (the identity) and a
# real one agree on them: the grader runs the same inputs with its own relu.
STEP_CASE = (
    np.array([0.0, 0.5, 1.0, 0.25, 0.75, 1.0]),
    np.array([0.0, 1.0, 0.0]),
    np.linspace(-0.1, 0.2, 24).reshape(6, 4),
    np.linspace(0.3, -0.2, 12).reshape(4, 3),
    np.array([1, 0, 1, 1]),
)
EVALUATE_CASE = (
    np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]]),
    np.array([[0.0, 1.0], [1.0, 0.0]]),
    np.array([[0.5, 0.0], [0.5, 1.0], [0.0, 0.5]]),
    np.array([[1.0, 0.0], [0.0, 1.0]]),
)
TRAIN_DATA = (np.zeros((4, 5)), np.eye(3)[[0, 1, 2, 0]], np.zeros((3, 5)), np.eye(3)[[0, 1, 2]])
TRAIN_SHAPES = ((5, 6), (6, 3))
TRAIN_RUN = {"epochs": 2, "learning_rate": 0.0173, "seed": 11}  # a rate nobody would type
# What train returns with the stand-ins: 4 steps of (0.25, True) an epoch, evaluate (1.5, 2).
TRAIN_EXPECTED = {"training_loss": [1.0, 1.0], "training_accurate_pred": [4, 4],
                  "test_loss": [1.5, 1.5], "test_accurate_pred": [2, 2]}


def train_weights() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(TRAIN_SHAPES[0]), np.zeros(TRAIN_SHAPES[1])


def one_hot_encoding(student: Any) -> None:
    for labels, dimension in ONE_HOT_CASES:
        tasks.check_one_hot_encoding(student, labels, dimension)


def relu(student: Any) -> None:
    for x in RELU_CASES:
        tasks.check_relu(student, x)


def relu2deriv(student: Any) -> None:
    for output in DERIV_CASES:
        tasks.check_relu2deriv(student, output)


def dropout_mask(student: Any) -> None:
    for shape, seed in MASK_CASES["values"]:
        tasks.check_mask_values(student, shape, seed)
    tasks.check_mask_reproducible(student, *MASK_CASES["reproducible"])
    tasks.check_mask_fraction(student, *MASK_CASES["fraction"])


def train_step(student: Any) -> None:
    tasks.check_step_loss(student, STEP_CASE, STEP_RATE, identity)
    rng = np.random.default_rng(0)  # which weights the gradient check looks at
    tasks.check_step_updates(student, STEP_CASE, STEP_RATE, identity, slope_of_identity, rng)


def evaluate(student: Any) -> None:
    loop.check_evaluate(student, *EVALUATE_CASE, identity)


def train(student: Any) -> None:
    loop.check_train(student, TRAIN_DATA, train_weights(), TRAIN_RUN["epochs"], TRAIN_RUN["learning_rate"],
                     TRAIN_RUN["seed"], TRAIN_EXPECTED)


CHECKS = {"one_hot_encoding": one_hot_encoding, "relu": relu, "relu2deriv": relu2deriv,
          "dropout_mask": dropout_mask, "train_step": train_step, "evaluate": evaluate, "train": train}
