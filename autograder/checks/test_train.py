"""train(...): the training loop, its history, and the accuracy it reaches.

The accuracy check trains from the tutorial's initial weights (seed 884736743) on
the first 1,000 training images and measures on the first 1,000 test images with
the weights that come back; the threshold is calibrated in docs/calibration.md.
"""

import numpy as np

from autograder.data import mnist_subset, tutorial_start
from autograder.expect import as_array, describe, fail
from autograder.worker import Rng
from solutions import network

KEYS = ("training_loss", "training_accurate_pred", "test_loss", "test_accurate_pred")
TRAIN_IMAGES, TEST_IMAGES, EPOCHS, LEARNING_RATE = 1000, 1000, 3, 0.005
MIN_TEST_ACCURACY = 0.60  # correct runs: 0.647 to 0.753 over 30 seeds; docs/calibration.md
HINT = (
    "for each epoch, for each image: mask = dropout_mask(hidden_size, rng), then train_step(...); "
    "after the epoch, evaluate(test_images, test_labels, ...) and append the four numbers"
)


def run_train(student, images, labels, test_images, test_labels, weights_1, weights_2, epochs, rng):
    args = [images, labels, test_images, test_labels, weights_1, weights_2, epochs, LEARNING_RATE, rng]
    result = student.call("train", args)
    history = result.values[0]
    if not isinstance(history, dict):
        raise fail("train(...)", f"a dict with keys {list(KEYS)}", describe(history), HINT)
    if sorted(history) != sorted(KEYS):
        raise fail("the keys of the history train returned", str(list(KEYS)), str(sorted(history)), HINT)
    for key in KEYS:
        entries = history[key]
        values = np.asarray(entries, dtype=float) if isinstance(entries, list | tuple) else entries
        values = as_array(values, f"history[{key!r}]", "append one number per epoch to a list")
        if values.shape != (epochs,):
            raise fail(f"history[{key!r}]", f"{epochs} numbers (one per epoch)", describe(values), HINT)
        history[key] = values
    return history, result


def test_history_and_calls(student, rng):
    count, test_count, hidden, epochs = 20, 15, 8, 2
    images, test_images = rng.random((count, 784)), rng.random((test_count, 784))
    labels = np.eye(10)[rng.integers(10, size=count)]
    test_labels = np.eye(10)[rng.integers(10, size=test_count)]
    weights_1 = 0.2 * rng.random((784, hidden)) - 0.1
    weights_2 = 0.2 * rng.random((hidden, 10)) - 0.1
    history, result = run_train(
        student, images, labels, test_images, test_labels, weights_1, weights_2, epochs, Rng(7)
    )
    expected_calls = {"dropout_mask": epochs * count, "train_step": epochs * count}
    for name, expected in expected_calls.items():
        got = result.calls.get(name, 0)
        if got != expected:
            raise fail(f"calls of {name} for {count} images and {epochs} epochs", str(expected),
                       str(got), f"call {name} once per image per epoch")
    rates = result.scalars.get("train_step:4", [])
    if rates != [LEARNING_RATE]:
        raise fail("the learning rate train passed to train_step", f"[{LEARNING_RATE}] every time",
                   str(rates), "pass the learning_rate argument on unchanged")
    if result.calls.get("evaluate", 0) < epochs:
        raise fail("calls of evaluate", f"at least {epochs} (once per epoch)",
                   str(result.calls.get("evaluate", 0)), "evaluate on the test set after each epoch")
    counts = history["training_accurate_pred"]
    if counts.min() < 0 or counts.max() > count or not np.all(counts == np.round(counts)):
        raise fail("history['training_accurate_pred']", f"whole numbers between 0 and {count}",
                   describe(counts), "count the steps whose correct was True in each epoch")
    weights_after = result.args_after[0][4]
    if np.array_equal(weights_after, weights_1):
        raise fail("weights_1 after train", "the array passed in, updated", "it unchanged",
                   "pass the same weight arrays to train_step so its in-place updates stick")
    # With the reference functions swapped in, a loop that goes through the images in
    # order and draws every mask from the rng it was given ends on the reference weights.
    expected_1 = weights_1.copy()
    network.train(images, labels, test_images, test_labels, expected_1, weights_2.copy(), epochs,
                  LEARNING_RATE, np.random.default_rng(7))
    if not np.allclose(weights_after, expected_1, rtol=1e-9, atol=1e-12):
        raise fail("weights_1 after train", "the weights the tutorial's loop reaches from the same rng",
                   "different weights", "go through the images in order and draw every mask with "
                   "dropout_mask(hidden_size, rng) from the rng argument, not from a generator of your own")


def test_reaches_minimum_accuracy(student, rng):
    data = mnist_subset(TRAIN_IMAGES, TEST_IMAGES)
    weights_1, weights_2, drawn = tutorial_start()
    history, result = run_train(
        student, data.training_images, data.training_labels, data.test_images, data.test_labels,
        weights_1, weights_2, EPOCHS, Rng(884736743, skip=drawn),
    )
    final_1, final_2 = result.args_after[0][4], result.args_after[0][5]
    _, accurate = network.evaluate(data.test_images, data.test_labels, final_1, final_2)
    accuracy = accurate / TEST_IMAGES
    record_artifacts(student, history, data, final_1, final_2)
    if accuracy < MIN_TEST_ACCURACY:
        raise fail(
            f"test accuracy after {EPOCHS} epochs on the first {TRAIN_IMAGES} training images "
            "from the tutorial's initial weights",
            f"at least {MIN_TEST_ACCURACY:.2f}",
            f"{accuracy:.3f}",
            "train every image in every epoch with the given learning rate, updating the weights "
            "you were given",
        )
    if history["test_accurate_pred"][-1] != accurate:
        raise fail("the last history['test_accurate_pred']",
                   f"{accurate} (the count the returned weights give on the test images)",
                   f"{history['test_accurate_pred'][-1]:g}",
                   "record evaluate's count after each epoch's training")


def record_artifacts(student, history, data, weights_1, weights_2):
    """Keep the learning curve and confusion matrix for the student's feedback."""
    artifacts = getattr(student, "artifacts", None)
    if artifacts is None:
        return
    outputs = network.relu(data.test_images @ weights_1) @ weights_2
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (data.test_labels.argmax(axis=1), outputs.argmax(axis=1)), 1)
    artifacts["history"] = {key: history[key].tolist() for key in KEYS}
    artifacts["history_images"] = {"training": TRAIN_IMAGES, "test": TEST_IMAGES}
    artifacts["confusion"] = confusion.tolist()  # rows: true digit, columns: predicted digit
