"""The check functions of Tasks 6 and 7: ``evaluate`` and the training loop ``train``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .tools import (
    TRAIN_KEYS,
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
)

EVALUATE_HINT = (
    "outputs = relu(images @ weights_1) @ weights_2 for all images at once (no dropout, no factor 2); "
    "loss = np.sum((labels - outputs) ** 2); count np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)"
)


def check_evaluate(student: Any, images: np.ndarray, labels: np.ndarray, weights_1: np.ndarray,
                   weights_2: np.ndarray, relu: Any) -> None:
    """``evaluate``: total squared error (float32 bound) and correct count; arguments unchanged."""
    count = len(images)
    what = f"evaluate on {count} image(s)"
    args = [images, labels, weights_1, weights_2]
    result = call(student, "evaluate", args, what, EVALUATE_HINT)
    loss, hits = as_pair(result.values[0], what, "loss, accurate_predictions",
                         "end with return loss, accurate_predictions")
    expect_unchanged(result, args, ["images", "labels", "weights_1", "weights_2"], "evaluate",
                     "evaluate only measures; it must not train or change its arguments")
    forward = Forward(images, labels, weights_1, weights_2, relu)

    def known() -> tuple:
        return (
            (forward.loss / forward.residual.size, "a mean, not a sum: add up the squared errors over all "
             "images and outputs (the training run divides by the number of images when it prints)"),
            (forward.loss / count, "the total over all images, not the loss per image"),
            (Forward(images, labels, weights_1, 2 * weights_2, relu).loss,
             "evaluate uses no dropout, so no factor 2 either: relu(images @ weights_1) @ weights_2"),
            (Forward(images, labels, weights_1, weights_2, lambda z: z).loss,
             "apply relu to the hidden layer: relu(images @ weights_1) @ weights_2"),
            (np.sqrt(forward.loss),
             "square the differences and add them up; np.linalg.norm takes a square root"),
        )
    got = as_number(loss, f"the loss from {what}", EVALUATE_HINT)
    expect_number(got, forward.loss, f"the loss from {what}", EVALUATE_HINT, forward.tolerance(), known)
    right = np.argmax(forward.outputs, axis=1) == np.argmax(labels, axis=1)
    got_hits = as_number(hits, f"the correct count from {what}", EVALUATE_HINT)
    flat = np.argmax(forward.outputs) == np.argmax(labels, axis=1)
    known_hits = ((right.mean(), "return the number of correct predictions, not the fraction"),
                  (flat.sum(), "np.argmax(outputs, axis=1): one arg-max per image (row)"))
    expect_number(got_hits, float(right.sum()), f"the correct count from {what}", EVALUATE_HINT, 0.0,
                  known_hits if not np.isclose(right.sum(), flat.sum()) else known_hits[:1])


TRAIN_HINT = (
    "for each epoch, for each image in order: mask = dropout_mask(weights_1.shape[1], rng), then "
    "loss, correct = train_step(image, label, weights_1, weights_2, learning_rate, mask); add them up; "
    "after the epoch, evaluate(test_images, test_labels, weights_1, weights_2) and append the four numbers"
)
MUST_CALL = (
    "train must call train_step (and dropout_mask and evaluate) by those names, as the task says: the "
    "grader checks your loop with its own versions of those three in their place, so that a mistake in "
    "Tasks 4 to 6 is not counted again here. Move the step's code into train_step (Task 5) and call it"
)


def check_train(student: Any, data: tuple, weights: tuple, epochs: int, learning_rate: float, seed: int,
                expected: dict, expected_weights: np.ndarray | None = None) -> dict:
    """``train``: calls, learning rate, the whole history against ``expected``; returns the history.

    ``data`` is (training images (n, p), labels (n, k), test images (m, p), labels (m, k));
    ``weights`` (weights_1 (p, h), weights_2 (h, k)); ``expected`` the history the other tasks'
    functions in use give for these inputs; ``expected_weights`` weights_1 after it, if known.
    """
    images, labels, test_images, test_labels = data
    weights_1, weights_2 = weights
    args = [images, labels, test_images, test_labels, weights_1, weights_2, epochs, learning_rate, Rng(seed)]
    what = f"train on {len(images)} images for {epochs} epochs"
    result = call(student, "train", args, what, TRAIN_HINT + "; take the hidden size from weights_1.shape[1] "
                  "(the grader's weights are not the notebook's)")
    check_calls(result, len(images), epochs, weights_1.shape[1], learning_rate)
    history = check_history_form(result.values[0], epochs)
    expect_unchanged(result, args[:4], ["training_images", "training_labels", "test_images", "test_labels"],
                     "train", "train changes only the weights (through train_step)")
    for key in TRAIN_KEYS:
        check_history_values(key, history[key], np.asarray(expected[key], dtype=float), len(images),
                             len(test_images))
    weights_after = result.args_after[0][4]
    same = expected_weights is None or np.allclose(weights_after, expected_weights, rtol=1e-9, atol=1e-12)
    if not same:
        hint = ("pass the weight arrays you were given to train_step, so that its in-place updates stick"
                if np.array_equal(weights_after, weights_1) else
                "go through the images in order and draw every mask with dropout_mask(hidden_size, rng) from "
                "the rng argument, not from a generator of your own")
        raise fail("weights_1 after train", "the weights the tutorial's loop reaches from the same rng",
                   "different weights", hint)
    return history


def check_calls(result: Any, count: int, epochs: int, hidden: int, learning_rate: float) -> None:
    calls = result.calls
    if calls.get("train_step", 0) == 0:
        raise fail(f"calls of train_step for {count} images and {epochs} epochs", str(count * epochs), "0",
                   MUST_CALL)
    for name in ("train_step", "dropout_mask"):
        if calls.get(name, 0) != count * epochs:
            raise fail(f"calls of {name} for {count} images and {epochs} epochs", str(count * epochs),
                       str(calls.get(name, 0)), f"call {name} once per image per epoch, every epoch")
    shapes = result.scalars.get("dropout_mask:0", [])
    if shapes and shapes != [hidden]:
        raise fail("the shape train passed to dropout_mask", f"{hidden} (weights_1.shape[1])",
                   str([int(s) for s in shapes]),
                   "take the hidden size from weights_1.shape[1]: the notebook's "
                   "hidden_size is 100, but train must work for any weights it is given")
    rates = result.scalars.get("train_step:4", [])
    if rates != [learning_rate]:
        hint = "pass the learning_rate argument on to train_step unchanged"
        if rates == [0.005]:
            hint += f"; 0.005 is the notebook's value, but this call of train had {learning_rate=}"
        raise fail("the learning rate train passed to train_step", f"[{learning_rate}] every time",
                   str(rates), hint)
    if calls.get("evaluate", 0) < epochs:
        raise fail("calls of evaluate", f"at least {epochs} (once per epoch)", str(calls.get("evaluate", 0)),
                   "evaluate on the test set after each epoch")


def check_history_form(history: Any, epochs: int) -> dict:
    if not isinstance(history, dict):
        raise fail("train(...)", f"a dict with keys {list(TRAIN_KEYS)}", describe(history), TRAIN_HINT)
    if set(history) != set(TRAIN_KEYS):
        raise fail("the keys of the history train returned", str(sorted(TRAIN_KEYS)), describe(history),
                   "check the spelling of every key")
    numbers = {}
    for key in TRAIN_KEYS:
        entries = history[key]
        if isinstance(entries, list | tuple):
            entries = np.array([as_number(e, f"an entry of history[{key!r}]", "append one number per epoch")
                                for e in entries])
        values = as_array(entries, f"history[{key!r}]", "append one number per epoch to a list")
        if values.shape != (epochs,):
            raise fail(f"history[{key!r}]", f"{epochs} numbers (one per epoch)", describe(values),
                       "append once per epoch, after the loop over the training images")
        numbers[key] = values.astype(float)
    return numbers


def check_history_values(key: str, got: np.ndarray, expected: np.ndarray, count: int,
                         test_count: int) -> None:
    per = count if key.startswith("training") else test_count
    known = [
        (np.cumsum(expected), "reset the totals to 0 at the start of every epoch"),
        (expected / per, "store the sum over the epoch's images, not the mean (the training run divides "
         "by the number of images when it prints)"),
    ]
    if key == "training_accurate_pred":
        hint = "count the steps whose correct was true, per epoch (+= for every image, not only the last)"
        if np.isin(got, (0, 1)).all() and expected.max() > 1:
            known.insert(0, (got, hint))
    elif key == "training_loss":
        hint = "add up the loss of every train_step of the epoch (+=), starting from 0 each epoch"
    else:
        hint = (f"store what evaluate(test_images, test_labels, ...) returns after each epoch "
                f"({'its loss' if key == 'test_loss' else 'its count'})")
    expect_values(got, expected, f"history[{key!r}]", hint, rtol=1e-9, atol=1e-12, known=tuple(known))
