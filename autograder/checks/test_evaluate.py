"""evaluate(images, labels, weights_1, weights_2): total squared error and correct count."""

import numpy as np

from autograder.expect import as_number, describe, fail
from solutions import network

HINT = (
    "outputs = relu(images @ weights_1) @ weights_2 for all images at once (no dropout); "
    "loss = np.sum((labels - outputs) ** 2); count np.argmax(outputs, axis=1) == "
    "np.argmax(labels, axis=1)"
)


def test_against_direct_computation(student, rng):
    for count in (50, 1):
        images = rng.random((count, 784))
        labels = np.eye(10)[rng.integers(10, size=count)]
        weights_1 = 0.2 * rng.random((784, 30)) - 0.1
        weights_2 = 0.2 * rng.random((30, 10)) - 0.1
        result = student.call("evaluate", [images, labels, weights_1, weights_2])
        value, after = result.values[0], result.args_after[0]
        what = f"evaluate on {count} image(s)"
        if not isinstance(value, tuple | list) or len(value) != 2:
            raise fail(what, "a pair (loss, accurate_predictions)", describe(value), HINT)
        outputs = network.relu(images @ weights_1) @ weights_2
        loss = float(np.sum((labels - outputs) ** 2))
        accurate = int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))
        got_loss = as_number(value[0], f"the loss from {what}", HINT)
        if not np.isclose(got_loss, loss, rtol=1e-9):
            raise fail(f"the loss from {what}", f"{loss:.6g}", f"{got_loss:.6g}", HINT)
        got_accurate = as_number(value[1], f"the correct count from {what}", HINT)
        if got_accurate != accurate:
            raise fail(f"the correct count from {what}", str(accurate), f"{got_accurate:g}", HINT)
        if not (np.array_equal(after[2], weights_1) and np.array_equal(after[3], weights_2)):
            raise fail(what, "the weights left unchanged", "changed weights",
                       "evaluate only measures; it must not train")
