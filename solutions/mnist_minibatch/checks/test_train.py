"""train(...): the mini-batch loop, early stopping, and the accuracy the whole network reaches.

The loop runs with the grader's versions of minibatch_indices, loss_and_gradients and sgd_step
in place of the student's (a mistake in those costs their own points only), on small problems
drawn from ``rng``. Each run must call them as the notebook says (minibatch_indices once per epoch
with the rng train was given, the other two once per batch, each with the numbers train was
given) and give the very history, best weights and final weights the reference loop gives for the
same inputs. Two runs pin early stopping down whatever the data: with a learning rate of 0 every
epoch ties with the first (a tie is not an improvement), and with validation labels taken from
the predictions after epoch 1 no later epoch can beat it (the weights returned must be a copy of
the best epoch's, not the last ones).

These checks cover every assert of the notebook's visible test cell, which checks the same loop
with stand-ins of its own and scripted validation accuracies.

The accuracy check trains on the calibrated subset of MNIST (docs/calibration.md, section
"mnist_minibatch") from the reference's initial weights, with the student's own functions when
they passed their checks, and requires the calibrated minimum test accuracy. When one of them did
not, the grader's versions stand in; their calls being answered from the grading process, that
run is a small one on the first MNIST images, compared with the reference loop's.
"""

from dataclasses import dataclass, replace

import numpy as np

from solutions import mnist_minibatch as network
from solutions.mnist_minibatch.grading import (
    CALIBRATED,
    MIN_TEST_ACCURACY,
    calibrated_subset,
    call,
    describe,
    fail,
)

KEYS = ("W1", "b1", "W2", "b2")
HISTORY_KEYS = ("training_loss", "validation_accuracy", "best_epoch")
CALLED = ("minibatch_indices", "loss_and_gradients", "sgd_step")
HINT = ("follow the steps of Task 8: the velocity made once; then in every epoch minibatch_indices(number of "
        "training images, batch_size, rng), loss_and_gradients and sgd_step for each batch, accuracy on the "
        "validation images, and early stopping")
RTOL = 1e-9  # the stand-ins compute in the grading process: only the order of a mean's sum may differ


@dataclass(frozen=True)
class Run:
    """One call of ``train``: the data, the network's sizes, the generator's seed and the settings."""

    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # images (n, d), labels (n,), twice
    hidden: int
    classes: int
    seed: int
    epochs: int
    batch_size: int
    learning_rate: float
    momentum: float
    patience: int

    def start(self) -> tuple[dict[str, np.ndarray], np.random.Generator]:
        """The initial weights, drawn by the reference's init_params, and the generator after them."""
        generator = np.random.default_rng(self.seed)
        return network.init_params(self.data[0].shape[1], self.hidden, self.classes, generator), generator

    def arguments(self) -> list:
        params, generator = self.start()
        return [params, *self.data, generator, self.epochs, self.batch_size, self.learning_rate,
                self.momentum, self.patience]

    def reference(self) -> tuple[dict, dict, dict]:
        """The reference loop's best weights, history and final weights for these inputs."""
        params, generator = self.start()
        best, history = network.train(params, *self.data, generator, self.epochs, self.batch_size,
                                      self.learning_rate, self.momentum, self.patience)
        return best, history, params

    @property
    def batches(self) -> int:
        return -(-len(self.data[0]) // self.batch_size)

    def rng_state_after(self, epochs: int) -> dict:
        """The generator's state after ``epochs`` calls of the grader's minibatch_indices."""
        _, generator = self.start()
        for _ in range(epochs):
            generator.permutation(len(self.data[0]))
        return generator.bit_generator.state

    def __str__(self) -> str:
        return (f"train on {len(self.data[0])} images in batches of {self.batch_size}, at most "
                f"{self.epochs} epochs, patience {self.patience}, learning rate {self.learning_rate:g}, "
                f"momentum {self.momentum:g}")


def toy_problem(rng: np.random.Generator, count: int, validation: int, dimensions: int = 5,
                classes: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points around ``classes`` random centres: images ``(count, dimensions)``, labels ``(count,)``,
    then ``validation`` more of each."""
    centres = rng.standard_normal((classes, dimensions)) * 3
    labels = rng.integers(0, classes, count + validation)
    images = centres[labels] + rng.standard_normal((count + validation, dimensions))
    return images[:count], labels[:count], images[count:], labels[count:]


def toy_run(rng: np.random.Generator, **settings: float) -> Run:
    """60 training and 20 validation points of 3 classes in 5 dimensions, 8 hidden units."""
    values = {"hidden": 8, "classes": 3, "seed": int(rng.integers(2**31)), "epochs": 5, "batch_size": 16,
              "learning_rate": 0.05, "momentum": 0.9, "patience": 5, **settings}
    return Run(data=toy_problem(rng, 60, 20), **values)


# ----------------------------------------------------------------------------- one run, checked


def train_result(student, run: Run, stand_ins: bool = True):
    """The student's train on ``run``'s inputs: the call's result and (best_params, history), their
    form checked."""
    result = call(student, "train", run.arguments(), str(run), HINT, stand_ins=stand_ins)
    value = result.values[0]
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise fail(f"what train returned ({run})", "a pair (best_params, history)", describe(value),
                   "return best_params, history")
    best, history = value
    if not isinstance(best, dict) or set(best) != set(KEYS):
        raise fail("best_params", f"a dict with the keys {list(KEYS)}", describe(best),
                   "best_params holds copies of the arrays of params at the best epoch, under the same keys")
    if not isinstance(history, dict) or not set(HISTORY_KEYS) <= set(history):
        raise fail("history", f"a dict with the keys {list(HISTORY_KEYS)}", describe(history),
                   "history['training_loss'] and history['validation_accuracy'] are lists with one entry "
                   "per epoch; history['best_epoch'] is an index into them")
    for key in HISTORY_KEYS[:2]:
        if not isinstance(history[key], list | tuple | np.ndarray) or np.ndim(history[key]) != 1:
            raise fail(f"history['{key}']", "a list with one number per epoch", describe(history[key]),
                       "append one number to it at the end of every epoch")
    return result, best, history


PASSED_ON = {  # argument of a call -> (the setting of the run passed there, a hint)
    "minibatch_indices:0": ("count", "pass the number of training images, len(training_images)"),
    "minibatch_indices:1": ("batch_size", "pass train's batch_size on unchanged"),
    "sgd_step:3": ("learning_rate", "pass train's learning_rate on unchanged"),
    "sgd_step:4": ("momentum", "pass train's momentum on unchanged"),
}


def check_calls(result, run: Run, epochs_run: int) -> None:
    """minibatch_indices once per epoch, loss_and_gradients and sgd_step once per batch, each given
    the numbers train was given (as far as they were passed by position)."""
    made = result.calls.get("minibatch_indices", 0)
    if made != epochs_run:
        raise fail(f"calls of minibatch_indices in {epochs_run} epochs ({run})",
                   f"{epochs_run} (one per epoch)", str(made),
                   "call minibatch_indices(len(training_images), batch_size, rng) once at the start of every "
                   "epoch, with the rng train was given, and loop over the batches it returns")
    steps = epochs_run * run.batches
    for name in CALLED[1:]:
        made = result.calls.get(name, 0)
        if made != steps:
            raise fail(f"calls of {name} in {epochs_run} epochs of {run.batches} batches",
                       f"{steps} (one per batch)", str(made),
                       f"call {name} once for every batch minibatch_indices returned, in the loop over them")
    settings = {"count": len(run.data[0]), "batch_size": run.batch_size, "learning_rate": run.learning_rate,
                "momentum": run.momentum}
    for key, (setting, hint) in PASSED_ON.items():
        seen = result.scalars.get(key)
        if seen is not None and seen != [float(settings[setting])]:
            function, position = key.split(":")
            raise fail(f"argument {int(position) + 1} of the {function} calls ({setting})",
                       f"{settings[setting]:g}", ", ".join(f"{value:g}" for value in seen), hint)


def check_generator(after, run: Run, epochs_run: int) -> None:
    """The rng train was given is the one minibatch_indices drew from, once per epoch (the grader's
    minibatch_indices draws one permutation a call), and nothing else drew from it."""
    if not isinstance(after, np.random.Generator):
        return
    state = after.bit_generator.state
    if state == run.rng_state_after(epochs_run):
        return
    untouched = state == run.rng_state_after(0)
    calls = f"minibatch_indices({len(run.data[0])}, {run.batch_size}, rng)"
    raise fail("the state of rng after train", f"its state after {epochs_run} calls of {calls}",
               "the state it was given (nothing drew from it)" if untouched else "another state",
               "pass the rng train was given on to minibatch_indices; make no generator of your own and "
               "draw nothing else from it")


def compare_with_reference(student, run: Run) -> None:
    """The student's train on ``run`` gives the reference loop's history, best and final weights."""
    expected_best, expected, expected_params = run.reference()
    result, best, history = train_result(student, run)
    accuracies = [float(value) for value in history["validation_accuracy"]]
    check_calls(result, run, len(accuracies))
    check_generator(result.args_after[0][5], run, len(accuracies))
    want = expected["validation_accuracy"]
    if len(accuracies) != len(want) or not np.allclose(accuracies, want, rtol=0, atol=1e-12):
        raise fail(f"history['validation_accuracy'] ({run})", rounded(want), rounded(accuracies),
                   "after each epoch's batches append accuracy(params, validation_images, "
                   f"validation_labels); stop once {run.patience} epochs in a row have not beaten the best "
                   "(a tie does not)")
    best_epoch = history["best_epoch"]
    if not isinstance(best_epoch, int | np.integer) or best_epoch != expected["best_epoch"]:
        raise fail(f"history['best_epoch'] for the validation accuracies {rounded(want)}",
                   str(expected["best_epoch"]), describe(best_epoch),
                   "the index (from 0) of the first epoch with the highest validation accuracy")
    losses = np.asarray(history["training_loss"], dtype=np.float64)
    if losses.shape != (len(want),) or not np.allclose(losses, expected["training_loss"], rtol=RTOL, atol=0):
        raise fail("history['training_loss']", rounded(expected["training_loss"]), rounded(losses),
                   "append the mean of the epoch's batch losses, one loss per batch from loss_and_gradients")
    after = result.args_after[0][0]
    compare_weights(best, expected_best, after, history["best_epoch"])
    if not isinstance(after, dict) or not all(close(after.get(key), expected_params[key]) for key in KEYS):
        raise fail("params after train", "the weights after the last epoch, changed in place",
                   "other values" if isinstance(after, dict) else describe(after),
                   "train the params dict you were given (sgd_step changes it in place), not a copy of it")


def compare_weights(best: dict, expected: dict, final: dict, best_epoch: int) -> None:
    """best_params equals the reference's; when it equals the last weights instead, say so."""
    for key in KEYS:
        if close(best[key], expected[key]):
            continue
        if isinstance(final, dict) and close(best[key], final.get(key)):
            raise fail(f"best_params['{key}']", f"the weights right after the best epoch ({best_epoch})",
                       "the weights after the last epoch", "store copies when the accuracy improves "
                       "(value.copy() for every key): without them best_params goes on changing with params")
        raise fail(f"best_params['{key}']", "the weights right after the best epoch", describe(best[key]),
                   "when the validation accuracy beats the best so far, store a copy of every array of "
                   "params")


def close(got, expected: np.ndarray) -> bool:
    return (isinstance(got, np.ndarray) and got.shape == expected.shape
            and np.allclose(got, expected, rtol=RTOL, atol=1e-12))


def rounded(values) -> str:
    return "[" + ", ".join(f"{float(value):.6g}" for value in values) + "]"


# ----------------------------------------------------------------------------- the checks


def test_loop_calls_and_history(student, rng):
    """Five epochs of four batches (the last one short) with numbers nobody types: the calls, the
    numbers passed on, the generator, the history and the weights are the reference loop's."""
    compare_with_reference(student, toy_run(rng, learning_rate=0.0173, momentum=0.83))


def test_a_tie_is_not_an_improvement(student, rng):
    """A learning rate of 0: every epoch ties with the first, so train stops after patience + 1
    epochs with the first epoch's weights."""
    patience = int(rng.integers(1, 4))
    run = toy_run(rng, learning_rate=0.0, epochs=patience + 3, patience=patience, batch_size=20)
    compare_with_reference(student, run)


def test_best_weights_are_a_copy(student, rng):
    """Validation labels taken from the predictions right after epoch 1: no later epoch can beat it,
    training stops two epochs after the best, and best_params must be the best epoch's weights, not
    the last ones."""
    run = toy_run(rng, epochs=6, patience=2, batch_size=20)
    params, generator = run.start()
    network.train(params, *run.data, generator, 2, run.batch_size, run.learning_rate, run.momentum, 2)
    images, labels, validation_images, _ = run.data
    labels_of_epoch_1 = network.predict(params, validation_images)
    compare_with_reference(student, replace(run, data=(images, labels, validation_images, labels_of_epoch_1)))


def test_reaches_minimum_accuracy(student, rng):
    """Two epochs on the calibrated subset reach the calibrated test accuracy, with the student's own
    minibatch_indices, loss_and_gradients and sgd_step (and what they call) when they passed their
    checks. When one did not, the grader's versions stand in and (each of their calls being answered
    from the grading process) the run is a small one on the first MNIST images, compared with the
    reference loop's."""
    own = student.passed(*CALLED)
    settings = CALIBRATED
    data = calibrated_subset(settings.train_images, settings.validation_images, settings.test_images)
    sets = (data.training_images, data.training_labels, data.validation_images, data.validation_labels)
    if own is False:
        small = tuple(array[:count] for array, count in zip(sets, (500, 500, 200, 200), strict=True))
        compare_with_reference(student, Run(small, 16, 10, settings.seed, 2, 50, settings.learning_rate,
                                            settings.momentum, settings.patience))
        return
    run = Run(sets, settings.hidden_size, 10, settings.seed, settings.epochs, settings.batch_size,
              settings.learning_rate, settings.momentum, settings.patience)
    _, best, _ = train_result(student, run, stand_ins=own is None)
    shapes = {key: value.shape for key, value in run.start()[0].items()}
    if not all(isinstance(best[key], np.ndarray) and best[key].shape == shapes[key] for key in KEYS):
        raise fail("the arrays of best_params", f"the shapes of params, {shapes}", describe(best), HINT)
    accuracy = network.accuracy(best, data.test_images, data.test_labels)
    record_confusion(student, best, data)
    if not accuracy >= MIN_TEST_ACCURACY:
        raise fail(f"test accuracy of best_params after {settings.epochs} epochs on the first "
                   f"{settings.train_images:,} training images (hidden size {settings.hidden_size}, "
                   f"batches of {settings.batch_size})", f"at least {MIN_TEST_ACCURACY:.2f}",
                   f"{accuracy:.3f}",
                   f"your train ran with {'the' if own is None else 'your'} own minibatch_indices, "
                   "loss_and_gradients and sgd_step; check that each batch trains on its own images and "
                   "labels, and that the weights move against the gradient")


def record_confusion(student, best: dict, data) -> None:
    """The confusion matrix of the returned weights on the test images, for the feedback page."""
    artifacts = getattr(student, "artifacts", None)
    if artifacts is None:
        return
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (data.test_labels, network.predict(best, data.test_images)), 1)
    artifacts["confusion"] = confusion.tolist()  # rows: true digit, columns: predicted digit
