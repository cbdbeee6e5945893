"""train_step(...): one forward and backward pass, weights updated in place.

The gradient check: with the dropout mask held fixed and E = half the squared
error, the update of ``weights_2`` must be ``-learning_rate * dE/dweights_2``. For
``weights_1`` the tutorial's hidden delta is gated by the mask but does not repeat
the forward pass's factor 2, so its step is half the gradient step; the exact
gradient step is accepted too. Both are measured by central differences.
"""

import numpy as np

from autograder.expect import as_array, as_number, describe, fail, numerical_gradient
from solutions import network

HINT = (
    "forward: layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2, layer_2 = layer_1 @ weights_2; "
    "backward: layer_2_delta = label - layer_2, layer_1_delta = weights_2 @ layer_2_delta "
    "* relu2deriv(layer_1) * dropout_mask; then weights += learning_rate * np.outer(...)"
)
HIDDEN_STEP_SCALES = (0.5, 1.0)  # the tutorial's hidden-layer step, and the exact gradient step


def half_squared_error(layer_0, label, weights_1, weights_2, mask):
    layer_1 = network.relu(layer_0 @ weights_1) * mask * 2
    return 0.5 * float(np.sum((label - layer_1 @ weights_2) ** 2))


def make_case(rng, hidden):
    layer_0 = rng.random(784)
    label = np.eye(10)[rng.integers(10)]
    weights_1 = 0.2 * rng.random((784, hidden)) - 0.1
    weights_2 = 0.2 * rng.random((hidden, 10)) - 0.1
    mask = rng.integers(0, 2, size=hidden)
    return layer_0, label, weights_1, weights_2, mask


def run_step(student, case, learning_rate):
    layer_0, label, weights_1, weights_2, mask = case
    result = student.call("train_step", [layer_0, label, weights_1, weights_2, learning_rate, mask])
    value, after = result.values[0], result.args_after[0]
    what = "train_step(...)"
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise fail(what, "a pair (loss, correct)", describe(value), "return loss, correct")
    new_1 = as_array(after[2], "weights_1 after train_step", HINT)
    new_2 = as_array(after[3], "weights_2 after train_step", HINT)
    return value, new_1, new_2


def test_loss_and_correct(student, rng):
    for hidden in (100, 16):
        case = make_case(rng, hidden)
        (loss, correct), _, _ = run_step(student, case, 0.005)
        layer_0, label, weights_1, weights_2, mask = case
        expected = 2 * half_squared_error(layer_0, label, weights_1, weights_2, mask)
        got = as_number(loss, "the loss returned by train_step", "return np.sum((label - layer_2) ** 2)")
        if not np.isclose(got, expected, rtol=1e-7):
            raise fail(
                "the loss returned by train_step",
                f"{expected:.6g} (squared error summed over the 10 outputs, before the update)",
                f"{got:.6g}",
                "compute the loss from the forward pass, before changing the weights",
            )
        layer_2 = (network.relu(layer_0 @ weights_1) * mask * 2) @ weights_2
        expected_correct = bool(np.argmax(layer_2) == np.argmax(label))
        got_correct = as_number(correct, "correct", "return np.argmax(layer_2) == np.argmax(label)")
        if bool(got_correct) != expected_correct:
            raise fail(
                "correct (whether the prediction matches the label)",
                str(expected_correct),
                str(bool(got_correct)),
                "compare np.argmax(layer_2) with np.argmax(label)",
            )


def test_updates_in_place(student, rng):
    case = make_case(rng, 100)
    _, new_1, new_2 = run_step(student, case, 0.005)
    for name, before, after in (("weights_1", case[2], new_1), ("weights_2", case[3], new_2)):
        if after.shape != before.shape:
            raise fail(f"{name} after train_step", f"shape {before.shape}", describe(after), HINT)
        if np.array_equal(after, before):
            raise fail(
                f"{name} after train_step",
                "the array passed in, updated",
                "it unchanged",
                f"update in place with {name} += ...; assigning {name} = {name} + ... "
                "makes a new array that the caller never sees",
            )


def test_gradient_check(student, rng):
    for hidden, learning_rate in ((100, 0.005), (16, 0.02)):
        case = make_case(rng, hidden)
        layer_0, label, weights_1, weights_2, mask = case
        _, new_1, new_2 = run_step(student, case, learning_rate)
        check_layer("weights_2", case, new_2 - weights_2, learning_rate, (1.0,), rng)
        check_layer("weights_1", case, new_1 - weights_1, learning_rate, HIDDEN_STEP_SCALES, rng)


def check_layer(name, case, step, learning_rate, scales, rng):
    layer_0, label, weights_1, weights_2, mask = case
    weights = {"weights_1": weights_1, "weights_2": weights_2}
    target = weights[name].copy()

    def loss(w):
        chosen = dict(weights, **{name: w})
        return half_squared_error(layer_0, label, chosen["weights_1"], chosen["weights_2"], mask)

    indices = sample_indices(name, case, rng)
    gradient = numerical_gradient(loss, target, indices)
    expected = np.array([-learning_rate * gradient[i] for i in indices])
    got = np.array([step[i] for i in indices])
    for scale in scales:
        if np.allclose(got, scale * expected, rtol=1e-4, atol=1e-9):
            return
    worst = int(np.argmax(np.abs(got - scales[0] * expected)))
    index = indices[worst]
    raise fail(
        f"gradient check of the update of {name} at {name}{list(index)}",
        f"{expected[worst]:.6g} (-learning_rate times the finite-difference gradient of half "
        "the squared error, mask held fixed)",
        f"a change of {got[worst]:.6g}",
        hint_for(name, index, case),
    )


def sample_indices(name, case, rng):
    """Entries to differentiate: for weights_1, columns of every kind of hidden unit."""
    layer_0, _, weights_1, weights_2, mask = case
    if name == "weights_2":
        rows = rng.integers(weights_2.shape[0], size=30)
        return [(int(r), int(c)) for r, c in zip(rows, rng.integers(10, size=30), strict=True)]
    fired = layer_0 @ weights_1 > 0
    kinds = (fired & (mask == 1), ~fired & (mask == 1), mask == 0)
    indices = []
    for kind in kinds:
        units = np.flatnonzero(kind)
        for unit in rng.choice(units, size=min(6, units.size), replace=False):
            indices.append((int(rng.integers(784)), int(unit)))
    return indices


def hint_for(name, index, case):
    layer_0, _, weights_1, _, mask = case
    if name == "weights_1":
        unit = index[1]
        if mask[unit] == 0:
            return f"hidden unit {unit} was dropped (mask 0): multiply layer_1_delta by the mask"
        if layer_0 @ weights_1[:, unit] <= 0:
            return (
                f"hidden unit {unit} did not fire, so no gradient flows through it: "
                "multiply layer_1_delta by relu2deriv(layer_1)"
            )
    return HINT
