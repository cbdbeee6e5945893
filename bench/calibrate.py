"""Calibrate the training check's accuracy threshold (run by hand; takes a few minutes).

    MNIST_DATA_DIR=... .venv/bin/python bench/calibrate.py [--seeds 30] [--epochs 5]

The check in ``autograder/checks/test_train.py`` trains from the tutorial's initial
weights on the first ``TRAIN_IMAGES`` training images and requires a minimum test
accuracy on the first ``TEST_IMAGES`` test images. This script trains several
*correct* implementations of the whole network (they differ in how they draw the
dropout mask, write the loops and so on) and several *broken* ones over many seeds,
each run exactly as the check does it: weights from ``initial_weights(default_rng(seed))``,
then the same generator for the masks; the accuracy is the reference ``evaluate`` of
the weights that come back. One run of ``--epochs`` epochs gives the accuracy after
every smaller number of epochs too (the generator draws the same masks in the same
order), so one pass measures every epoch count up to ``--epochs``.

It prints the distribution per implementation and epoch count, and writes it (plus the
full per-seed table for the check's epoch count) as markdown to ``--markdown``.
"""

from __future__ import annotations

import os

# One BLAS thread: the runs are single-image products anyway, and the machine is shared.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from autograder.checks import test_train as check  # noqa: E402

from solutions import mnist_mlp as network  # noqa: E402
from solutions.data import load_mnist  # noqa: E402
from solutions.mnist_mlp.grading import TUTORIAL_SEED  # noqa: E402

# ----------------------------------------------------------------------------- implementations


class Implementation:
    """A complete implementation of the student contract, written as a student might.

    Every method is one function of the contract; ``train`` and ``train_step`` call the
    other functions of the same implementation (``self.…``), as a notebook's functions
    call each other. Subclasses change one thing each.
    """

    name = "written"
    note = "the reference, rewritten with every call going through the implementation"
    correct = True
    kind = "correct"

    def one_hot_encoding(self, labels, dimension=10):
        return (np.asarray(labels)[:, None] == np.arange(dimension)).astype(np.float64)

    def relu(self, x):
        return np.where(x > 0, x, 0.0)

    def relu2deriv(self, output):
        return (output > 0).astype(np.float64)

    def dropout_mask(self, shape, rng):
        return rng.integers(low=0, high=2, size=shape)

    def hidden_delta(self, weights_2, layer_2_delta, layer_1, dropout_mask):
        return (weights_2 @ layer_2_delta) * self.relu2deriv(layer_1) * dropout_mask

    def train_step(self, layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        layer_1 = self.relu(layer_0 @ weights_1) * (dropout_mask * 2)
        layer_2 = layer_1 @ weights_2
        layer_2_delta = label - layer_2
        layer_1_delta = self.hidden_delta(weights_2, layer_2_delta, layer_1, dropout_mask)
        loss = float(np.sum(layer_2_delta**2))
        correct = bool(np.argmax(layer_2) == np.argmax(label))
        weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
        weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
        return loss, correct

    def evaluate(self, images, labels, weights_1, weights_2):
        outputs = self.relu(images @ weights_1) @ weights_2
        loss = float(np.sum((labels - outputs) ** 2))
        return loss, int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))

    def epoch_pairs(self, images, labels):
        """The (image, label) pairs one epoch trains on."""
        return zip(images, labels, strict=True)

    def train(self, training_images, training_labels, test_images, test_labels,
              weights_1, weights_2, epochs, learning_rate, rng):
        history = {key: [] for key in check.KEYS}
        hidden_size = weights_1.shape[1]
        for _ in range(epochs):
            epoch_loss, epoch_correct = 0.0, 0
            for image, label in self.epoch_pairs(training_images, training_labels):
                mask = self.dropout_mask(hidden_size, rng)
                loss, correct = self.step(image, label, weights_1, weights_2, learning_rate, mask)
                epoch_loss += loss
                epoch_correct += int(correct)
            test_loss, test_correct = self.evaluate(test_images, test_labels, weights_1, weights_2)
            history["training_loss"].append(epoch_loss)
            history["training_accurate_pred"].append(epoch_correct)
            history["test_loss"].append(test_loss)
            history["test_accurate_pred"].append(test_correct)
        return history

    def step(self, image, label, weights_1, weights_2, learning_rate, mask):
        """How ``train`` calls ``train_step`` (broken loops override this)."""
        return self.train_step(image, label, weights_1, weights_2, learning_rate, mask)


class Reference(Implementation):
    name = "reference"
    note = "`solutions.network` itself"
    one_hot_encoding = staticmethod(network.one_hot_encoding)
    relu = staticmethod(network.relu)
    relu2deriv = staticmethod(network.relu2deriv)
    dropout_mask = staticmethod(network.dropout_mask)
    train_step = staticmethod(network.train_step)
    evaluate = staticmethod(network.evaluate)
    train = staticmethod(network.train)


class MaskRandom(Implementation):
    name = "mask-random"
    note = "dropout mask `(rng.random(shape) < 0.5).astype(int)` (different draws)"

    def dropout_mask(self, shape, rng):
        return (rng.random(shape) < 0.5).astype(int)


class MaskBinomial(Implementation):
    name = "mask-binomial"
    note = "dropout mask `rng.binomial(1, 0.5, size=shape)` (different draws)"

    def dropout_mask(self, shape, rng):
        return rng.binomial(1, 0.5, size=shape)


class ExactGradient(Implementation):
    name = "exact-gradient"
    note = "hidden delta also times 2 (the exact gradient through `mask * 2`)"

    def hidden_delta(self, weights_2, layer_2_delta, layer_1, dropout_mask):
        return (weights_2 @ layer_2_delta) * self.relu2deriv(layer_1) * dropout_mask * 2


class IndexLoops(Implementation):
    name = "index-loops"
    note = "`for i in range(len(images))` loops; tutorial-style `np.dot`, `.reshape` and `.T` in train_step"

    def train_step(self, layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        layer_1 = self.relu(np.dot(layer_0, weights_1))
        layer_1 = layer_1 * dropout_mask * 2
        layer_2 = np.dot(layer_1, weights_2)
        layer_2_delta = label - layer_2
        layer_1_delta = np.dot(weights_2, layer_2_delta) * self.relu2deriv(layer_1) * dropout_mask
        loss = float(np.sum(layer_2_delta**2))
        correct = bool(np.argmax(layer_2) == np.argmax(label))
        weights_1 += learning_rate * np.dot(layer_0.reshape(-1, 1), layer_1_delta.reshape(1, -1))
        weights_2 += learning_rate * np.dot(layer_1.reshape(1, -1).T, layer_2_delta.reshape(1, -1))
        return loss, correct

    def train(self, training_images, training_labels, test_images, test_labels,
              weights_1, weights_2, epochs, learning_rate, rng):
        history = {key: [] for key in check.KEYS}
        for _ in range(epochs):
            epoch_loss = 0.0
            epoch_correct = 0
            for i in range(len(training_images)):
                mask = self.dropout_mask(weights_1.shape[1], rng)
                loss, correct = self.train_step(
                    training_images[i], training_labels[i], weights_1, weights_2, learning_rate, mask
                )
                epoch_loss = epoch_loss + loss
                epoch_correct = epoch_correct + (1 if correct else 0)
            history["training_loss"].append(epoch_loss)
            history["training_accurate_pred"].append(epoch_correct)
            test_loss, test_correct = self.evaluate(test_images, test_labels, weights_1, weights_2)
            history["test_loss"].append(test_loss)
            history["test_accurate_pred"].append(test_correct)
        return history


class PredrawnMasks(Implementation):
    name = "predrawn-masks"
    note = "train draws the epoch's masks first (still one `dropout_mask` call per image), then trains"

    def train(self, training_images, training_labels, test_images, test_labels,
              weights_1, weights_2, epochs, learning_rate, rng):
        history = {key: [] for key in check.KEYS}
        for _ in range(epochs):
            masks = [self.dropout_mask(weights_1.shape[1], rng) for _ in training_images]
            steps = [
                self.train_step(image, label, weights_1, weights_2, learning_rate, mask)
                for image, label, mask in zip(training_images, training_labels, masks, strict=True)
            ]
            history["training_loss"].append(sum(loss for loss, _ in steps))
            history["training_accurate_pred"].append(sum(int(correct) for _, correct in steps))
            test_loss, test_correct = self.evaluate(test_images, test_labels, weights_1, weights_2)
            history["test_loss"].append(test_loss)
            history["test_accurate_pred"].append(test_correct)
        return history


class OneHotEye(Implementation):
    name = "one-hot-eye"
    note = "`one_hot_encoding` as `np.eye(dimension)[labels]`"

    def one_hot_encoding(self, labels, dimension=10):
        return np.eye(dimension)[labels]


class ReluMaximum(Implementation):
    name = "relu-maximum"
    note = "`relu` as `np.maximum(x, 0)`; `relu2deriv` returns bool"

    def relu(self, x):
        return np.maximum(x, 0)

    def relu2deriv(self, output):
        return output > 0


class Shuffled(Implementation):
    name = "shuffled"
    note = "train visits the images in a new order each epoch, `rng.permutation(n)` (extra draws)"

    def train(self, training_images, training_labels, test_images, test_labels,
              weights_1, weights_2, epochs, learning_rate, rng):
        self.rng = rng
        return super().train(training_images, training_labels, test_images, test_labels,
                             weights_1, weights_2, epochs, learning_rate, rng)

    def epoch_pairs(self, images, labels):
        order = self.rng.permutation(len(images))
        return zip(images[order], labels[order], strict=True)


class Everything(MaskRandom, ExactGradient, OneHotEye, ReluMaximum):
    name = "all-at-once"
    note = "mask-random + exact-gradient + one-hot-eye + relu-maximum together"


# Broken implementations. "clearly broken": the network does not learn the task (the
# training check must fail them). "merely worse": it learns, less well; "wrong, not
# worse": it learns as well or better. For these two the threshold may fall either way:
# the checks of train_step / relu2deriv (or the history check) are what catch them.


class NoUpdate(Implementation):
    name = "no-update"
    note = "train passes copies of the weights to train_step: the weights never change"
    correct = False
    kind = "clearly broken"

    def step(self, image, label, weights_1, weights_2, learning_rate, mask):
        return self.train_step(image, label, weights_1.copy(), weights_2.copy(), learning_rate, mask)


class FlippedRate(Implementation):
    name = "rate-flipped"
    note = "train passes `-learning_rate`: gradient ascent"
    correct = False
    kind = "clearly broken"

    def step(self, image, label, weights_1, weights_2, learning_rate, mask):
        return self.train_step(image, label, weights_1, weights_2, -learning_rate, mask)


class FirstTen(Implementation):
    name = "first-10-images"
    note = "train loops over the first 10 images only"
    correct = False
    kind = "clearly broken"

    def epoch_pairs(self, images, labels):
        return zip(images[:10], labels[:10], strict=True)


class FirstHundred(Implementation):
    name = "first-100-images"
    note = "train loops over the first 100 images only"
    correct = False
    kind = "merely worse"

    def epoch_pairs(self, images, labels):
        return zip(images[:100], labels[:100], strict=True)


class RateTenth(Implementation):
    name = "rate/10"
    note = "train passes `learning_rate / 10`"
    correct = False
    kind = "merely worse"

    def step(self, image, label, weights_1, weights_2, learning_rate, mask):
        return self.train_step(image, label, weights_1, weights_2, learning_rate / 10, mask)


class RateTimesTen(Implementation):
    name = "rate*10"
    note = "train passes `learning_rate * 10`"
    correct = False
    kind = "wrong, not worse"

    def step(self, image, label, weights_1, weights_2, learning_rate, mask):
        return self.train_step(image, label, weights_1, weights_2, learning_rate * 10, mask)


class ShiftedLabels(Implementation):
    name = "labels-shifted"
    note = "train pairs each image with the previous image's label"
    correct = False
    kind = "clearly broken"

    def epoch_pairs(self, images, labels):
        return zip(images, np.roll(labels, 1, axis=0), strict=True)


class Weights2Only(Implementation):
    name = "weights-2-only"
    note = "train_step updates weights_2 only (weights_1 stays random)"
    correct = False
    kind = "merely worse"

    def train_step(self, layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        frozen = weights_1.copy()
        return super().train_step(layer_0, label, frozen, weights_2, learning_rate, dropout_mask)


class DerivGreaterEqual(Implementation):
    name = "relu2deriv->="
    note = "the tutorial's `relu2deriv`: `output >= 0` (always 1)"
    correct = False
    kind = "merely worse"

    def relu2deriv(self, output):
        return (output >= 0).astype(np.float64)


class NoMaskGate(Implementation):
    name = "no-mask-gate"
    note = "the hidden delta is not multiplied by the mask"
    correct = False
    kind = "wrong, not worse"

    def hidden_delta(self, weights_2, layer_2_delta, layer_1, dropout_mask):
        return (weights_2 @ layer_2_delta) * self.relu2deriv(layer_1)


class NoMaskGateGreaterEqual(DerivGreaterEqual, NoMaskGate):
    name = "no-gate+>="
    note = "`relu2deriv` with `>=` and no mask on the hidden delta: dropped units are trained too"
    correct = False
    kind = "wrong, not worse"


CORRECT = (Reference, Implementation, MaskRandom, MaskBinomial, ExactGradient, IndexLoops,
           PredrawnMasks, OneHotEye, ReluMaximum, Shuffled, Everything)
BROKEN = (NoUpdate, FlippedRate, FirstTen, ShiftedLabels, Weights2Only, DerivGreaterEqual,
          NoMaskGate, NoMaskGateGreaterEqual, FirstHundred, RateTenth, RateTimesTen)

# ----------------------------------------------------------------------------- runs


def load(train_count: int, test_count: int) -> dict[str, np.ndarray]:
    raw = load_mnist(train_count=train_count, test_count=test_count)
    return {
        "training_images": raw["training_images"] / 255,
        "training_labels": raw["training_labels"],
        "test_images": raw["test_images"] / 255,
        "test_labels": raw["test_labels"],
    }


def run(implementation: Implementation, data: dict, seed: int, epochs: int) -> tuple[list[float], float]:
    """Train as the check does; the accuracy after each epoch, and the seconds it took.

    The accuracy after the last epoch is the reference ``evaluate`` of the returned
    weights (what the check measures); the earlier ones come from the history (for a
    correct ``train`` they are the same numbers: it evaluates the same weights).
    """
    rng = np.random.default_rng(seed)
    weights_1, weights_2 = network.initial_weights(rng)
    training_labels = implementation.one_hot_encoding(data["training_labels"])
    test_labels = implementation.one_hot_encoding(data["test_labels"])
    test_count = len(test_labels)
    started = time.perf_counter()
    with np.errstate(all="ignore"):
        history = implementation.train(
            data["training_images"], training_labels, data["test_images"], test_labels,
            weights_1, weights_2, epochs, check.LEARNING_RATE, rng,
        )
        seconds = time.perf_counter() - started
        reference_labels = network.one_hot_encoding(data["test_labels"])
        _, accurate = network.evaluate(data["test_images"], reference_labels, weights_1, weights_2)
    curve = [count / test_count for count in history["test_accurate_pred"]]
    if implementation.correct and curve[-1] != accurate / test_count:
        raise AssertionError(f"{implementation.name}: history and returned weights disagree")
    curve[-1] = accurate / test_count
    return curve, seconds


def summary(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}"


def separation(results, epochs: int) -> list[tuple[int, float, float, float, float]]:
    """Per epoch count: worst correct run, best clearly broken run, the gap, and the time of a run."""
    reference_seconds = next(statistics.median(times) for implementation, _, times in results
                             if implementation.name == "reference") if any(
        implementation.name == "reference" for implementation, _, _ in results) else float("nan")
    rows = []
    for e in range(epochs):
        correct = [c[e] for i, curves, _ in results if i.correct for c in curves]
        broken = [c[e] for i, curves, _ in results if i.kind == "clearly broken" for c in curves]
        worst, best = min(correct, default=float("nan")), max(broken, default=float("nan"))
        rows.append((e + 1, worst, best, worst - best, reference_seconds * (e + 1) / epochs))
    return rows


def markdown(results, seeds, epochs, check_epochs, seconds_total, train_count, test_count) -> str:
    lines = [
        f"Configuration: first {train_count} training / {test_count} test images, learning rate "
        f"{check.LEARNING_RATE}, hidden size 100, seeds {seeds[0]} and {', '.join(map(str, seeds[1:4]))}, "
        f"..., {seeds[-1]} ({len(seeds)} seeds). Total run time {seconds_total:.0f} s.",
        "",
        "Test accuracy, min / median / max over the seeds, after each number of epochs:",
        "",
        "| implementation | kind | " + " | ".join(f"{e} epoch{'s' * (e > 1)}" for e in range(1, epochs + 1))
        + " |",
        "|---|---|" + "---|" * epochs,
    ]
    for implementation, curves, _ in results:
        kind = implementation.kind
        cells = [summary([curve[e] for curve in curves]) for e in range(epochs)]
        lines.append(f"| {implementation.name} | {kind} | " + " | ".join(cells) + " |")
    lines += ["", "Separation by epoch count (correct: every correct implementation and seed; clearly "
              "broken: likewise):", "",
              "| epochs | worst correct | best clearly broken | gap | seconds of a reference run (pro rata) "
              "|",
              "|---|---|---|---|---|"]
    for row in separation(results, epochs):
        lines.append("| {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |".format(*row))
    lines += ["", "What each implementation does:", ""]
    lines += [f"- `{implementation.name}`: {implementation.note}" for implementation, _, _ in results]
    lines += [
        "",
        f"Test accuracy after {check_epochs} epochs, every seed (rows) and implementation (columns):",
        "",
        "| seed | " + " | ".join(implementation.name for implementation, _, _ in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    for index, seed in enumerate(seeds):
        cells = [f"{curves[index][check_epochs - 1]:.3f}" for _, curves, _ in results]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Seconds per training run (median over the seeds, all epochs of the run):",
        "",
        "| implementation | seconds |",
        "|---|---|",
    ]
    lines += [f"| {implementation.name} | {statistics.median(times):.3f} |"
              for implementation, _, times in results]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30,
                        help="number of seeds (the tutorial's, then 1, 2, ...; default 30)")
    parser.add_argument("--epochs", type=int, default=5,
                        help="epochs per run; every smaller count is measured too (default 5)")
    parser.add_argument("--check-epochs", type=int, default=check.EPOCHS,
                        help=f"epoch count of the per-seed table (default: the check's, {check.EPOCHS})")
    parser.add_argument("--train-images", type=int, default=check.TRAIN_IMAGES)
    parser.add_argument("--test-images", type=int, default=check.TEST_IMAGES)
    parser.add_argument("--only", nargs="*", help="run only these implementations (by name)")
    parser.add_argument("--markdown", type=Path, default=REPOSITORY / "bench" / "calibration_results.md",
                        help="write the tables here (default: bench/calibration_results.md)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    data = load(args.train_images, args.test_images)
    seeds = [TUTORIAL_SEED, *range(1, args.seeds)]
    chosen = [kind for kind in CORRECT + BROKEN if not args.only or kind.name in args.only]
    results = []
    for kind in chosen:
        implementation = kind()
        curves, times = [], []
        for seed in seeds:
            curve, seconds = run(implementation, data, seed, args.epochs)
            curves.append(curve)
            times.append(seconds)
        results.append((implementation, curves, times))
        final = [curve[args.check_epochs - 1] for curve in curves]
        medians = " ".join(f"{statistics.median(c[e] for c in curves):.3f}" for e in range(args.epochs))
        print(f"{implementation.name:>16}  {args.check_epochs} epochs: min/median/max {summary(final)}"
              f"   median by epoch: {medians}   {statistics.median(times):.2f} s/run", flush=True)
    total = time.perf_counter() - started
    for row in separation(results, args.epochs):
        print("{} epochs: worst correct {:.3f}, best clearly broken {:.3f}, gap {:.3f}, "
              "reference run {:.3f} s".format(*row))
    worst = min(curve[args.check_epochs - 1] for implementation, curves, _ in results
                if implementation.correct for curve in curves)
    best_broken = [max(curve[args.check_epochs - 1] for curve in curves)
                   for implementation, curves, _ in results
                   if implementation.kind == "clearly broken"]
    print(f"\nafter {args.check_epochs} epochs: worst correct run {worst:.3f}; "
          f"best clearly broken run {max(best_broken, default=float('nan')):.3f}; "
          f"check threshold MIN_TEST_ACCURACY = {check.MIN_TEST_ACCURACY}; total {total:.0f} s")
    args.markdown.write_text(markdown(results, seeds, args.epochs, args.check_epochs, total,
                                      args.train_images, args.test_images))
    print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
