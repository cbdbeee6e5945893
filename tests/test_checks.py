"""The shared check functions in process: float32 tolerances, known wrong answers, places, context.

Float32 arithmetic inside a function must pass on every case (the bound of
``mnist_checks.tools.Forward`` is a worst case, not a guess), while the real mistakes fail by
orders of magnitude more than the tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
from mnist_checks import loop, tasks
from mnist_checks.tools import (
    CheckFailure,
    Forward,
    LocalStudent,
    explain,
    two_numbers,
)

from autograder.assignment import ContextCell
from autograder.assignments import KIT, load
from autograder.context import context_source, name_places
from autograder.grade import given_data
from solutions import mnist_mlp as network

SEEDS = range(40)


def float32_evaluate(images, labels, weights_1, weights_2):
    f32 = np.float32
    outputs = np.maximum(images.astype(f32) @ weights_1.astype(f32), f32(0)) @ weights_2.astype(f32)
    loss = np.sum((labels.astype(f32) - outputs) ** 2, dtype=f32)
    return loss, int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))


def float32_train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
    f32 = np.float32
    x, w1, w2, t = (a.astype(f32) for a in (layer_0, weights_1, weights_2, label))
    layer_1 = np.maximum(x @ w1, f32(0)) * (dropout_mask * 2).astype(f32)
    layer_2 = layer_1 @ w2
    delta_2 = t - layer_2
    delta_1 = (w2 @ delta_2) * (layer_1 > 0) * dropout_mask.astype(f32)
    weights_1 += f32(learning_rate) * np.outer(x, delta_1)
    weights_2 += f32(learning_rate) * np.outer(layer_1, delta_2)
    return np.sum(delta_2**2, dtype=f32), bool(np.argmax(layer_2) == np.argmax(label))


def step_case(rng, hidden=100):
    return (rng.random(784), np.eye(10)[rng.integers(10)], 0.2 * rng.random((784, hidden)) - 0.1,
            0.2 * rng.random((hidden, 10)) - 0.1, rng.integers(0, 2, size=hidden))


def student(**functions) -> LocalStudent:
    return LocalStudent({"np": np, **functions})


@pytest.mark.parametrize("seed", SEEDS)
def test_float32_evaluate_passes(seed):
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 60))
    images, labels = rng.random((count, 784)), np.eye(10)[rng.integers(10, size=count)]
    weights = (0.2 * rng.random((784, 30)) - 0.1, 0.2 * rng.random((30, 10)) - 0.1)
    loop.check_evaluate(student(evaluate=float32_evaluate), images, labels, *weights, network.relu)


@pytest.mark.parametrize("seed", SEEDS)
def test_float32_train_step_passes(seed):
    rng = np.random.default_rng(1000 + seed)
    case = step_case(rng)
    tasks.check_step_loss(student(train_step=float32_train_step), case, 0.0173, network.relu)
    tasks.check_step_updates(student(train_step=float32_train_step), case, 0.0173, network.relu,
                             network.relu2deriv, rng)


def after_update(layer_0, label, weights_1, weights_2, mask):
    weights_1, weights_2 = weights_1.copy(), weights_2.copy()
    network.train_step(layer_0, label, weights_1, weights_2, 0.0173, mask)
    return Forward(layer_0, label, weights_1, weights_2, network.relu, mask * 2).loss


def test_real_mistakes_are_far_outside_the_float32_bound():
    rng = np.random.default_rng(7)
    for _ in range(20):
        layer_0, label, weights_1, weights_2, mask = step_case(rng)
        right = Forward(layer_0, label, weights_1, weights_2, network.relu, mask * 2)
        tolerance = right.tolerance()
        assert tolerance < 1e-3 * right.loss
        mistakes = {
            "mean": right.loss / 10,
            "no factor 2": Forward(layer_0, label, weights_1, weights_2, network.relu, mask).loss,
            "no mask": Forward(layer_0, label, weights_1, weights_2, network.relu).loss,
        }
        for name, wrong in mistakes.items():
            assert abs(wrong - right.loss) > 100 * tolerance, name
        # The loss after the update is closer: one small step changes it by a percent or more.
        assert abs(after_update(layer_0, label, weights_1, weights_2, mask) - right.loss) > 10 * tolerance


def test_float32_loss_error_is_within_the_bound():
    rng = np.random.default_rng(8)
    for _ in range(20):
        images, labels = rng.random((50, 784)), np.eye(10)[rng.integers(10, size=50)]
        weights = (0.2 * rng.random((784, 30)) - 0.1, 0.2 * rng.random((30, 10)) - 0.1)
        exact = Forward(images, labels, *weights, network.relu)
        got = float(float32_evaluate(images, labels, *weights)[0])
        assert abs(got - exact.loss) <= exact.loss_error


def test_messages_show_the_difference():
    assert two_numbers(68.33212345, 68.33212349) == ("68.3321234", "68.3321235")
    assert two_numbers(-0.0, 0.25) == ("0", "0.25")


def test_known_wrong_loss_is_named():
    def mean_loss(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        loss, correct = network.train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask)
        return loss / 10, correct

    with pytest.raises(CheckFailure, match="a mean, not a sum"):
        tasks.check_step_loss(student(train_step=mean_loss), step_case(np.random.default_rng(3)), 0.0173,
                              network.relu)


@pytest.mark.parametrize("spoil", ["nan", "2"])
def test_every_mask_drawn_is_checked_not_only_the_first(spoil):
    """A mask that is right when drawn alone and spoiled on later draws (NaN, which no comparison
    catches, or a 2): the fraction check, which draws many, fails it."""
    drawn = []

    def dropout_mask(shape, rng):
        mask = rng.integers(0, 2, size=shape).astype(float)
        drawn.append(1)
        if len(drawn) > 1:
            mask[0] = float(spoil)
        return mask

    tasks.check_mask_values(student(dropout_mask=dropout_mask), 20, 5)  # the first draw is right
    with pytest.raises(CheckFailure, match="only 0s and 1s"):
        tasks.check_mask_fraction(student(dropout_mask=dropout_mask), 2000, 5, 10)


def test_train_must_use_its_learning_rate():
    def fixed_rate_train(*args):
        args = list(args)
        args[7] = 0.005
        return network.train(*args)

    namespace = {"np": np, "train": fixed_rate_train}
    with pytest.raises(CheckFailure):
        data = (np.zeros((4, 5)), np.eye(3)[[0, 1, 2, 0]], np.zeros((3, 5)), np.eye(3)[[0, 1, 2]])
        loop.check_train(LocalStudent(namespace), data, (np.zeros((5, 6)), np.zeros((6, 3))), 2, 0.0173, 11,
                         {"training_loss": [0, 0]})


@pytest.mark.parametrize(("kind", "message", "words"), [
    ("ValueError", "The truth value of an array with more than one element is ambiguous.", "np.maximum"),
    ("ValueError", "shapes (784,) and (100,) not aligned: 784 (dim 0) != 100 (dim 0)", "np.outer(a, b)"),
    ("ValueError", "operands could not be broadcast together with shapes (8,) (100,)", "shape of every"),
    ("NameError", "name 'hidden_size' is not defined", "define what else it needs"),
    ("NotImplementedError", "", "not written yet"),
])
def test_common_exceptions_get_a_sentence(kind, message, words):
    assert words in explain(kind, message)


def test_places_are_named_as_the_student_sees_them():
    labels = {16: "Task 2 answer cell", 40: "your cell after Task 7"}
    text = "relu raised ValueError: x (cell 16, line 3); cell 40: NameError; cell 7"
    assert name_places(text, labels) == (
        "relu raised ValueError: x (Task 2 answer cell, line 3); your cell after Task 7: NameError; cell 7")


def test_context_cells_define_what_the_notebook_defines():
    graded = load(KIT, "mnist_mlp")
    _, data = given_data(graded)
    namespace = {"np": np, "__name__": "__main__"}
    for cell in graded.assignment.context:
        if cell.kind == "data":
            namespace.update(data[cell.grade_id])
        else:
            exec(compile(context_source(cell), f"<{cell.grade_id}>", "exec"), namespace)
    assert namespace["x_train"].shape == (1000, 784) and namespace["x_train"].dtype == np.uint8
    assert namespace["training_images"].shape == (1000, 784)
    assert namespace["hidden_size"] == 100 and namespace["learning_rate"] == 0.005
    assert "training_labels" not in namespace  # one_hot_encoding is not defined: Task 1 unfinished


def test_a_statement_that_cannot_run_is_skipped_quietly(capsys):
    cell = ContextCell("given", "run", "import no_such_module_here\nprint('hidden')\nvalue = 41 + 1\n")
    namespace = {"np": np}
    exec(compile(context_source(cell), "<given>", "exec"), namespace)
    assert namespace["value"] == 42 and "no_such_module_here" not in namespace
    assert capsys.readouterr().out == ""


def test_a_statement_caught_in_a_print_loop_is_stopped_after_a_mib(capsys):
    """A given cell calling a student's function that prints forever: dropped, and stopped early."""
    printed = []

    def flood(labels):
        while True:
            printed.append(1)
            print("x" * 1000)

    cell = ContextCell("given", "run", "training_labels = flood(y)\nafter = 1\n")
    namespace = {"np": np, "flood": flood, "y": None}
    exec(compile(context_source(cell), "<given>", "exec"), namespace)
    assert "training_labels" not in namespace and namespace["after"] == 1
    assert 1000 <= len(printed) <= 1100  # about a MiB of text, then the statement was stopped
    assert capsys.readouterr().out == ""


SALTS = [f"salt-{i}" for i in range(12)]


@pytest.mark.parametrize("salt", SALTS)
def test_the_reference_passes_every_check_whatever_the_submissions_digest(salt):
    """The checks' hidden inputs are seeded by the submission's digest: whichever they are, the
    reference passes (no input lands a check on ReLU's kink, or on a step that changes nothing)."""
    from autograder.notebook import checks_for
    from autograder.runner import check_rng
    from autograder.student import KernelStudent

    graded = load(KIT, "mnist_mlp")
    namespace = {"np": np}
    for source in graded.assignment.solution_sources:
        exec(compile(source, "<solution>", "exec"), namespace)
    student = KernelStudent(namespace, graded.references, graded.calls)
    for cell in graded.assignment.graded:
        for name, check in checks_for(graded, cell.grade_id):
            if name == "test_reaches_minimum_accuracy":
                continue  # trains from the tutorial's fixed start, whatever the seed
            check(student, check_rng(cell.grade_id, name, salt))
