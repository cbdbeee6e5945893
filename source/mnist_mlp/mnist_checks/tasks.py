"""The check functions of Tasks 1 to 5; each takes the student's functions as ``student``.

``student.call(function, args, kwargs, repeat)`` calls a function of the notebook and returns
its values and its arguments as they are after the call (see ``LocalStudent`` in tools.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tools import (
    CheckFailure,
    Forward,
    Rng,
    as_array,
    as_number,
    as_pair,
    call,
    describe,
    expect_number,
    expect_unchanged,
    expect_values,
    fail,
    numerical_gradient,
    two_numbers,
)

__all__ = ["CheckFailure"]
U32 = 2.0**-24

# ----------------------------------------------------------------------------- Task 1

ONE_HOT_HINT = "make an all-zero float array of shape (len(labels), dimension) and set one 1.0 per row"


def check_one_hot_encoding(student: Any, labels: np.ndarray, dimension: int | None) -> None:
    """``one_hot_encoding(labels[, dimension])``: float64 ``(n, dimension)``, one 1.0 per row."""
    size = 10 if dimension is None else dimension
    kwargs = {} if dimension is None else {"dimension": dimension}
    what = f"one_hot_encoding of {len(labels)} labels"
    what += "" if dimension is None else f", dimension={dimension}"
    result = call(student, "one_hot_encoding", [labels], what, ONE_HOT_HINT, kwargs)
    encoded = as_array(result.values[0], what, ONE_HOT_HINT)
    expect_unchanged(result, [labels], ["labels"], "one_hot_encoding", "do not write into labels")
    shape = (len(labels), size)
    if encoded.shape == shape[::-1] and shape[0] != shape[1]:
        raise fail(what, f"shape {shape}", describe(encoded), "one row per label: (len(labels), dimension), "
                   "not the transpose")
    hint = ONE_HOT_HINT if dimension is None else "use the dimension argument instead of a fixed 10"
    if encoded.shape != shape:
        raise fail(what, f"shape {shape}", describe(encoded), hint)
    if encoded.dtype != np.float64:
        raise fail(what, "dtype float64", describe(encoded), "make the array with np.zeros (float64) or "
                   "convert with .astype(np.float64)")
    expected = (np.asarray(labels)[:, None] == np.arange(size)).astype(float)
    shifted = (np.asarray(labels)[:, None] - 1 == np.arange(size)).astype(float)
    expect_values(encoded, expected, what, hint,
                  known=((shifted, "the labels 0 to 9 are the column numbers themselves: no - 1"),))


# ----------------------------------------------------------------------------- Tasks 2 and 3

RELU_HINT = "keep positive values and replace negative ones (and zero) by 0, e.g. with np.maximum(x, 0)"
NEW_ARRAY = "return a new array (np.maximum or np.where make one) instead of assigning into x"


def check_relu(student: Any, x: np.ndarray) -> None:
    """``relu(x)``: ``x`` where ``x > 0``, else 0, same shape; ``x`` unchanged."""
    what = f"relu of an array of shape {x.shape}"
    result = call(student, "relu", [x], what, RELU_HINT)
    out = as_array(result.values[0], what, RELU_HINT)
    expect_unchanged(result, [x], ["x"], "relu", NEW_ARRAY)
    if out.shape != x.shape:
        raise fail(what, f"shape {x.shape}", describe(out), "ReLU works element by element: return an array "
                   "of the input's shape, without loops over one axis")
    known = (((x > 0).astype(float), "you returned whether x > 0 (True/False); return the values themselves"),
             (np.abs(x), "negative values must become 0, not change sign"))
    # One float32 rounding of each value is all a float32 relu can lose.
    expect_values(out, np.where(x > 0, x, 0.0), what, RELU_HINT, rtol=U32, known=known)


DERIV_HINT = ("the derivative is 1 where the unit fired (output > 0) and 0 elsewhere; "
              "a unit whose output is exactly 0 did not fire and passes no gradient: use > rather than >=")


def check_relu2deriv(student: Any, output: np.ndarray) -> None:
    """``relu2deriv(output)``: 1 where ``output > 0`` else 0 (bool or numeric); ``output`` unchanged."""
    what = f"relu2deriv of ReLU outputs of shape {output.shape} ({int((output == 0).sum())} exactly 0)"
    result = call(student, "relu2deriv", [output], what, DERIV_HINT)
    got = as_array(result.values[0], what, DERIV_HINT)
    expect_unchanged(result, [output], ["output"], "relu2deriv", "return a new array, e.g. output > 0")
    if got.shape != output.shape:
        raise fail(what, f"shape {output.shape}", describe(got), "compare the whole array at once")
    if got.dtype.kind not in "biuf":
        raise fail(what, "a boolean or numeric array", describe(got), DERIV_HINT)
    known = (((output >= 0).astype(float), DERIV_HINT),
             (output, "you returned the output itself (that is ReLU); its slope is 0 or 1"))
    expect_values(got, (output > 0).astype(float), what, DERIV_HINT, known=known)


# ----------------------------------------------------------------------------- Task 4

MASK_HINT = "draw from the generator you are given: rng.integers(0, 2, size=shape)"


def masks(student: Any, shape: Any, seed: int, repeat: int = 1) -> list[np.ndarray]:
    """``repeat`` masks of ``shape`` (int or tuple) from one generator, each checked to be of that
    shape and to hold only 0s and 1s: every mask a check draws, not one of them."""
    what = f"dropout_mask({shape!r}, rng)"
    result = call(student, "dropout_mask", [shape, Rng(seed)], what, MASK_HINT, repeat=repeat)
    drawn = [as_array(value, what, MASK_HINT) for value in result.values]
    expected = (shape,) if isinstance(shape, int) else tuple(shape)
    for mask in drawn:
        if mask.shape != expected:
            raise fail(what, f"shape {expected}", describe(mask), "pass shape on unchanged as size=shape")
        if mask.dtype.kind not in "biuf" or not np.isin(mask, (0, 1)).all():
            hint = MASK_HINT
            if mask.dtype.kind in "biuf" and np.isin(mask, (0, 2)).all():
                hint = ("a mask of 0s and 2s: the mask holds 0s and 1s, and train_step doubles the kept "
                        "units (dropout_mask * 2)")
            raise fail(what, "only 0s and 1s", describe(mask), hint)
    return drawn


def check_mask_values(student: Any, shape: Any, seed: int) -> None:
    """A mask of ``shape`` (int or tuple) holding only 0s and 1s."""
    masks(student, shape, seed)


def check_mask_fraction(student: Any, size: int, seed: int, draws: int) -> None:
    """Over ``draws`` masks of ``size``, the fraction of 1s is 1/2 within five standard errors."""
    drawn = np.stack(masks(student, size, seed, repeat=draws)).astype(float)
    mean, tolerance = drawn.mean(), 5 * 0.5 / np.sqrt(drawn.size)
    if not abs(mean - 0.5) <= tolerance:  # written so that NaN fails too
        hint = "each entry must be 1 with probability 1/2"
        if mean == 0:
            hint = "high is exclusive: rng.integers(0, 1) only ever returns 0; use rng.integers(0, 2, ...)"
        raise fail(f"the fraction of 1s over {draws} mask(s) of {size}", f"0.5 +/- {tolerance:.4f}",
                   f"{mean:.4f}", hint)
    if draws > 1 and drawn.std(axis=0).max() == 0:
        raise fail("the masks", "different units dropped in different draws",
                   f"every mask equal to {describe(drawn[0])}", "draw a new random mask on every call")


def check_mask_reproducible(student: Any, size: int, seed: int) -> None:
    """The same seed gives the same mask; two draws from one generator differ."""
    first, second = masks(student, size, seed, repeat=2)
    (again,) = masks(student, size, seed)
    if not np.array_equal(first, again):
        raise fail("two masks from generators with the same seed", "the same mask", "different masks",
                   "draw only from the rng argument, never from np.random.* functions or a new generator")
    if np.array_equal(first, second):
        raise fail("two masks drawn one after the other from one generator", "different masks",
                   "the same mask twice", "do not create or re-seed a generator inside dropout_mask; "
                   "use the one you are given")


# ----------------------------------------------------------------------------- Task 5

STEP_HINT = (
    "forward: layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2, layer_2 = layer_1 @ weights_2; "
    "backward: layer_2_delta = label - layer_2, layer_1_delta = (weights_2 @ layer_2_delta) "
    "* relu2deriv(layer_1) * dropout_mask; then weights += learning_rate * np.outer(...)"
)


def run_step(student: Any, case: tuple, learning_rate: float) -> tuple:
    layer_0, label, weights_1, weights_2, mask = case
    what = "train_step(...)"
    result = call(student, "train_step", [layer_0, label, weights_1, weights_2, learning_rate, mask],
                  what, STEP_HINT)
    loss, correct = as_pair(result.values[0], what, "loss, correct", "end with return loss, correct")
    expect_unchanged(result, [layer_0, label, None, None, None, mask],
                     ["layer_0", "label", "", "", "", "dropout_mask"], "train_step",
                     "train_step changes only the two weight arrays")
    after = result.args_after[0]
    new_1 = as_array(after[2], "weights_1 after train_step", STEP_HINT)
    new_2 = as_array(after[3], "weights_2 after train_step", STEP_HINT)
    return loss, correct, new_1, new_2


def check_step_loss(student: Any, case: tuple, learning_rate: float, relu: Any) -> None:
    """The loss (summed squared error before the update, float32 bound) and ``correct``."""
    layer_0, label, weights_1, weights_2, mask = case
    loss, correct, new_1, new_2 = run_step(student, case, learning_rate)
    forward = Forward(layer_0, label, weights_1, weights_2, relu, mask * 2)
    what = "the loss returned by train_step"
    if isinstance(loss, bool | np.bool_) and not isinstance(correct, bool | np.bool_):
        raise fail("train_step(...)", "(loss, correct)", f"({describe(loss)}, {describe(correct)})",
                   "the pair is the wrong way round: return loss, correct")
    got = as_number(loss, what, "return np.sum((label - layer_2) ** 2), one number")
    residual = forward.residual
    after = Forward(layer_0, label, new_1, new_2, relu, mask * 2).loss
    known = (
        (forward.loss / residual.size,
         "a mean, not a sum: add up the squared errors of the 10 outputs (np.sum)"),
        (forward.loss / 2, "the loss is the plain sum of squares, without a factor 1/2"),
        (np.sqrt(forward.loss), "square the differences and add them up; np.linalg.norm takes a square root"),
        (float(np.sum(residual)), "square the differences before adding them up"),
        (Forward(layer_0, label, weights_1, weights_2, relu, mask).loss,
         "the forward pass doubles the kept units: relu(...) * dropout_mask * 2"),
        (Forward(layer_0, label, weights_1, weights_2, relu).loss,
         "apply the dropout mask in the forward pass: relu(...) * dropout_mask * 2"),
        (after, "compute the loss from the forward pass, before changing the weights"),
    )
    expect_number(got, forward.loss, what + " (squared error summed over the outputs)", STEP_HINT,
                  forward.tolerance(), known)
    expected_correct = bool(np.argmax(forward.outputs) == np.argmax(label))
    got_correct = as_number(correct, "correct", "return np.argmax(layer_2) == np.argmax(label)")
    if bool(got_correct) != expected_correct:
        raise fail("correct (whether the prediction matches the label)", str(expected_correct),
                   str(bool(got_correct)), "compare np.argmax(layer_2) with np.argmax(label)")


def check_step_updates(student: Any, case: tuple, learning_rate: float, relu: Any, relu2deriv: Any,
                       rng: np.random.Generator) -> None:
    """Both weights updated in place, by the gradient step (finite differences, mask fixed)."""
    layer_0, label, weights_1, weights_2, mask = case
    _, _, new_1, new_2 = run_step(student, case, learning_rate)
    for name, before, after in (("weights_1", weights_1, new_1), ("weights_2", weights_2, new_2)):
        if after.shape != before.shape:
            raise fail(f"{name} after train_step", f"shape {before.shape}", describe(after),
                       "np.outer(layer_0, layer_1_delta) has the shape of weights_1, "
                       "np.outer(layer_1, layer_2_delta) that of weights_2")
        if np.array_equal(after, before):
            raise fail(f"{name} after train_step", "the array passed in, updated", "it unchanged",
                       f"update in place with {name} += ...; {name} = {name} + ... makes a new array "
                       "that the caller never sees")
    forward = Forward(layer_0, label, weights_1, weights_2, relu, mask * 2)
    known_2 = wrong_steps_2(case, forward, relu, learning_rate)
    check_layer("weights_2", case, new_2 - weights_2, learning_rate, (1.0,), relu, rng, known_2)
    known_1 = wrong_steps_1(case, forward, new_2, relu, relu2deriv, learning_rate)
    check_layer("weights_1", case, new_1 - weights_1, learning_rate, (0.5, 1.0), relu, rng, known_1)


def wrong_steps_2(case: tuple, forward: Forward, relu: Any, rate: float) -> list:
    layer_0, _, weights_1, _, _ = case
    before_dropout = np.asarray(relu(layer_0 @ weights_1), dtype=float)
    right = rate * np.outer(forward.hidden, forward.residual)
    return [
        (rate * np.outer(before_dropout, forward.residual), "update weights_2 with layer_1 after dropout "
         "(masked and doubled): a dropped unit sent nothing forward, so its row of weights_2 must not move"),
        (-right, "add the step: weights_2 += learning_rate * np.outer(layer_1, layer_2_delta); "
         "layer_2_delta = label - layer_2 already carries the minus sign"),
        (right * 0.005 / rate, "use the learning_rate argument, not a fixed 0.005"),
        (2 * right, "the step of weights_2 is learning_rate * np.outer(layer_1, layer_2_delta), without a 2"),
    ]


def wrong_steps_1(case: tuple, forward: Forward, new_2: np.ndarray, relu: Any, relu2deriv: Any,
                  rate: float) -> list:
    layer_0, _, weights_1, weights_2, mask = case
    slope = np.asarray(relu2deriv(forward.hidden), dtype=float)
    back = weights_2 @ forward.residual
    right = rate * np.outer(layer_0, back * slope * mask)
    slope_before = np.asarray(relu2deriv(np.asarray(relu(layer_0 @ weights_1), dtype=float)), dtype=float)
    return [
        (rate * np.outer(layer_0, (new_2 @ forward.residual) * slope * mask),
         "compute layer_1_delta with weights_2 as it was in the forward pass: update weights_2 only after "
         "layer_1_delta is computed"),
        (rate * np.outer(layer_0, back * slope_before), "multiply layer_1_delta by the dropout mask: "
         "a dropped unit gets no error"),
        (rate * np.outer(layer_0, back * mask), "multiply layer_1_delta by relu2deriv(layer_1): "
         "a unit that did not fire gets no error"),
        (-right, "add the step: weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)"),
        (right * 0.005 / rate, "use the learning_rate argument, not a fixed 0.005"),
    ]


def check_layer(name: str, case: tuple, step: np.ndarray, rate: float, scales: tuple, relu: Any,
                rng: np.random.Generator, known: list) -> None:
    layer_0, label, weights_1, weights_2, mask = case
    weights = {"weights_1": weights_1, "weights_2": weights_2}
    target = weights[name].copy()

    def half_error(w: np.ndarray) -> float:
        chosen = dict(weights, **{name: w})
        return 0.5 * Forward(layer_0, label, chosen["weights_1"], chosen["weights_2"], relu, mask * 2).loss

    indices = sample_indices(name, case, relu, rng)
    expected = -rate * numerical_gradient(half_error, target, indices)
    got = np.array([step[i] for i in indices])
    # float32 steps: a relative 1e-5 of the largest step; finite differences: 1e-9 absolute.
    tolerance = 1e-5 * np.abs(expected).max() + 1e-9 * rate + 1e-4 * np.abs(expected)
    for scale in scales:
        if np.all(np.abs(got - scale * expected) <= scale * tolerance):
            return
    hint = hint_for(name, indices, got, scales[0] * expected, case, relu)
    for wrong, wrong_hint in known:
        picked = np.array([wrong[i] for i in indices])
        if np.allclose(got, picked, rtol=1e-4, atol=1e-5 * np.abs(picked).max() + 1e-12):
            hint = wrong_hint
            break
    worst = int(np.argmax(np.abs(got - scales[0] * expected)))
    a, b = two_numbers(scales[0] * expected[worst], got[worst])
    raise fail(f"the change of {name}{list(indices[worst])} made by train_step",
               f"{a} (learning_rate times the gradient of the squared error, by finite differences)",
               f"a change of {b}", hint)


KINK_MARGIN = 1e-3  # far beyond the 1e-5 step of numerical_gradient


def sample_indices(name: str, case: tuple, relu: Any, rng: np.random.Generator) -> list:
    """Entries to differentiate: for weights_1, columns of every kind of hidden unit."""
    layer_0, _, weights_1, weights_2, mask = case
    if name == "weights_2":
        rows = rng.integers(weights_2.shape[0], size=30)
        cols = rng.integers(weights_2.shape[1], size=30)
        return sorted({(int(r), int(c)) for r, c in zip(rows, cols, strict=True)})
    before = np.asarray(layer_0 @ weights_1, dtype=float)
    fired = np.asarray(relu(before)) != 0
    # A unit within a finite-difference step of ReLU's kink has no well-defined slope there.
    clear = np.abs(before) > KINK_MARGIN * max(1.0, float(np.abs(layer_0).max()))
    indices = []
    for kind in (fired & clear & (mask == 1), ~fired & clear & (mask == 1), mask == 0):
        units = np.flatnonzero(kind)
        for unit in rng.choice(units, size=min(6, units.size), replace=False):
            indices.append((int(rng.integers(len(layer_0))), int(unit)))
    return indices


def hint_for(name: str, indices: list, got: np.ndarray, expected: np.ndarray, case: tuple, relu: Any) -> str:
    layer_0, _, weights_1, _, mask = case
    if name != "weights_1":
        return STEP_HINT
    worst = int(np.argmax(np.abs(got - expected)))
    unit = indices[worst][1]
    if mask[unit] == 0:
        return f"hidden unit {unit} was dropped (mask 0): multiply layer_1_delta by the mask"
    if np.asarray(relu(layer_0 @ weights_1[:, unit])) == 0:
        return (f"hidden unit {unit} did not fire, so no gradient flows through it: "
                "multiply layer_1_delta by relu2deriv(layer_1)")
    return STEP_HINT
