"""Calibrate the accuracy threshold of the cheap training check of ``mnist_minibatch`` (run by hand).

    MNIST_DATA_DIR=... nice -n 10 .venv/bin/python bench/calibrate_minibatch.py [--seeds 30]

The autograder checks that the student's ``train``, running on the student's own functions,
reaches a minimum accuracy on a small subset of MNIST within about one CPU-second. This script
runs that check, exactly as configured by the options, for the reference, for several *correct*
implementations written differently (float32, other formulas, other loop orders, other random
draws) and for several plausible *mistakes*, over many seeds. Each run draws the initial weights
with ``init_params(..., default_rng(seed))`` and passes the same generator to ``train``; the
accuracy is the reference ``accuracy`` of the weights ``train`` returns, on the first
``--test-images`` test images.

It prints, per implementation, the distribution of the accuracy over the seeds and the CPU
seconds of one run, then the worst correct run, the best clearly broken run and the gap between
them (markdown, for the section ``mnist_minibatch`` of ``docs/calibration.md``). ``--per-seed``
adds the full table. The defaults and the data are the grader's own (``CALIBRATED`` and
``calibrated_subset`` in ``solutions/mnist_minibatch/grading.py``), so the check measured here is
the one the grader runs.
"""

from __future__ import annotations

import os

# One BLAS thread: the grading budget is CPU time, and the machine is shared.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solutions import mnist_minibatch as reference  # noqa: E402
from solutions.mnist_minibatch.grading import CALIBRATED, Subset, calibrated_subset  # noqa: E402

TUTORIAL_SEED = 884736743
CORRECT, BROKEN, CAUGHT_ELSEWHERE = "correct", "clearly broken", "caught elsewhere"

# ----------------------------------------------------------------------------- implementations


class Written:
    """The student contract written out as a notebook would have it.

    Every method is one function of the contract and calls the others through ``self``, as the
    notebook's functions call each other by name; the given functions (the ReLU pair and
    ``accuracy``) are the reference's, as the given cells are. Subclasses change one thing each.
    """

    name = "written"
    note = "the reference rewritten, every call going through the implementation"
    kind = CORRECT

    relu_forward = staticmethod(reference.relu_forward)
    relu_backward = staticmethod(reference.relu_backward)
    accuracy = staticmethod(reference.accuracy)

    def init_params(self, input_size, hidden_size, output_size, rng):
        return {
            "W1": rng.standard_normal((input_size, hidden_size)) * np.sqrt(2.0 / input_size),
            "b1": np.zeros(hidden_size),
            "W2": rng.standard_normal((hidden_size, output_size)) * np.sqrt(2.0 / hidden_size),
            "b2": np.zeros(output_size),
        }

    def affine_forward(self, x, w, b):
        return x @ w + b, (x, w)

    def affine_backward(self, dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)

    def softmax_cross_entropy(self, scores, labels):
        count = scores.shape[0]
        rows = np.arange(count)
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        dscores = np.exp(log_probabilities)
        dscores[rows, labels] -= 1.0
        return -float(np.mean(log_probabilities[rows, labels])), dscores / count

    def loss_and_gradients(self, params, images, labels):
        hidden_input, first_cache = self.affine_forward(images, params["W1"], params["b1"])
        hidden, relu_cache = self.relu_forward(hidden_input)
        scores, second_cache = self.affine_forward(hidden, params["W2"], params["b2"])
        loss, dscores = self.softmax_cross_entropy(scores, labels)
        dhidden, dweights_2, dbias_2 = self.affine_backward(dscores, second_cache)
        dhidden_input = self.hidden_gradient(dhidden, relu_cache)
        _, dweights_1, dbias_1 = self.affine_backward(dhidden_input, first_cache)
        return loss, {"W1": dweights_1, "b1": dbias_1, "W2": dweights_2, "b2": dbias_2}

    def hidden_gradient(self, dhidden, relu_cache):
        """The gradient through the ReLU (one mistake skips it)."""
        return self.relu_backward(dhidden, relu_cache)

    def minibatch_indices(self, count, batch_size, rng):
        order = rng.permutation(count)
        return [order[start : start + batch_size] for start in range(0, count, batch_size)]

    def sgd_step(self, params, grads, velocity, learning_rate, momentum):
        for key in params:
            velocity[key] *= momentum
            velocity[key] -= learning_rate * grads[key]
            params[key] += velocity[key]

    def new_velocity(self, params):
        return {key: np.zeros_like(value) for key, value in params.items()}

    def epoch_batches(self, images, labels, batch_size, rng):
        """The (images, labels) pairs of one epoch, in training order."""
        for batch in self.minibatch_indices(len(images), batch_size, rng):
            yield images[batch], labels[batch]

    def improves(self, score, best):
        return score > best

    def train(self, params, training_images, training_labels, validation_images, validation_labels,
              rng, epochs, batch_size, learning_rate, momentum, patience):
        velocity = self.new_velocity(params)
        best_params = {key: value.copy() for key, value in params.items()}
        best_accuracy, best_epoch = -np.inf, -1
        history = {"training_loss": [], "validation_accuracy": []}
        for epoch in range(epochs):
            losses = []
            for images, labels in self.epoch_batches(training_images, training_labels, batch_size, rng):
                loss, grads = self.loss_and_gradients(params, images, labels)
                self.sgd_step(params, grads, velocity, learning_rate, momentum)
                losses.append(loss)
            score = self.accuracy(params, validation_images, validation_labels)
            history["training_loss"].append(float(np.mean(losses)))
            history["validation_accuracy"].append(score)
            if self.improves(score, best_accuracy):
                best_accuracy, best_epoch = score, epoch
                best_params = {key: value.copy() for key, value in params.items()}
            elif epoch - best_epoch >= patience:
                break
        history["best_epoch"] = best_epoch
        return best_params, history


class Reference(Written):
    name = "reference"
    note = "`solutions.mnist_minibatch` itself"
    init_params = staticmethod(reference.init_params)
    train = staticmethod(reference.train)


# --- correct, written differently


class Float32(Written):
    name = "float32"
    note = "weights, images and every product in float32"

    def init_params(self, input_size, hidden_size, output_size, rng):
        params = super().init_params(input_size, hidden_size, output_size, rng)
        return {key: value.astype(np.float32) for key, value in params.items()}

    def loss_and_gradients(self, params, images, labels):
        return super().loss_and_gradients(params, images.astype(np.float32), labels)


class NormalDraw(Written):
    name = "rng-normal"
    note = "He weights drawn with `rng.normal(0, scale, size)`"

    def init_params(self, input_size, hidden_size, output_size, rng):
        return {
            "W1": rng.normal(0.0, np.sqrt(2 / input_size), size=(input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": rng.normal(0.0, np.sqrt(2 / hidden_size), size=(hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }


class ChoiceOrder(Written):
    name = "choice-order"
    note = "epoch order from `rng.choice(count, count, replace=False)` (other draws)"

    def minibatch_indices(self, count, batch_size, rng):
        order = rng.choice(count, count, replace=False)
        return [order[start : start + batch_size] for start in range(0, count, batch_size)]


class ShuffledArrays(Written):
    name = "shuffled-arrays"
    note = "train permutes copies of the arrays each epoch, then slices them with a while loop"

    def epoch_batches(self, images, labels, batch_size, rng):
        order = np.concatenate(self.minibatch_indices(len(images), batch_size, rng))
        images, labels = images[order], labels[order]
        start = 0
        while start < len(images):
            yield images[start : start + batch_size], labels[start : start + batch_size]
            start += batch_size


class ArraySplit(Written):
    name = "array-split"
    note = "batches from `np.array_split` of the permutation (sizes differ by at most one)"

    def minibatch_indices(self, count, batch_size, rng):
        return np.array_split(rng.permutation(count), -(-count // batch_size))


class VelocityOfGradients(Written):
    name = "velocity-of-gradients"
    note = "momentum written as `v = m * v + grad; p -= lr * v` (equal for a constant rate)"

    def sgd_step(self, params, grads, velocity, learning_rate, momentum):
        for key in params:
            velocity[key] = momentum * velocity[key] + grads[key]
            params[key] = params[key] - learning_rate * velocity[key]


class ProbabilitiesThenLog(Written):
    name = "probabilities-then-log"
    note = "softmax as probabilities, then `-log(p[label])`; gradient `(p - one_hot) / n`"

    def softmax_cross_entropy(self, scores, labels):
        count = len(labels)
        exponentials = np.exp(scores - np.max(scores, axis=1, keepdims=True))
        probabilities = exponentials / np.sum(exponentials, axis=1, keepdims=True)
        one_hot = np.zeros_like(probabilities)
        one_hot[np.arange(count), labels] = 1
        loss = -np.sum(np.log(probabilities[np.arange(count), labels])) / count
        return float(loss), (probabilities - one_hot) / count


class DotAndEinsum(Written):
    name = "dot-einsum"
    note = "affine layer with `np.dot` and `np.einsum`, bias gradient as `ones @ dout`"

    def affine_forward(self, x, w, b):
        return np.dot(x, w) + b[np.newaxis, :], (x, w)

    def affine_backward(self, dout, cache):
        x, w = cache
        return np.einsum("nm,dm->nd", dout, w), np.einsum("nd,nm->dm", x, dout), np.ones(len(dout)) @ dout


class AllAtOnce(Float32, ChoiceOrder, VelocityOfGradients, ProbabilitiesThenLog, DotAndEinsum):
    name = "all-at-once"
    note = "float32 + choice-order + velocity-of-gradients + probabilities-then-log + dot-einsum"


# --- mistakes that must fail the check


class GradientAscent(Written):
    name = "gradient-sign"
    note = "`sgd_step` adds the gradient: `velocity = momentum * velocity + learning_rate * grad`"
    kind = BROKEN

    def sgd_step(self, params, grads, velocity, learning_rate, momentum):
        super().sgd_step(params, {key: -value for key, value in grads.items()}, velocity,
                         learning_rate, momentum)


class LabelsLeftBehind(Written):
    name = "labels-not-shuffled"
    note = "train shuffles the images but takes the labels in file order"
    kind = BROKEN

    def epoch_batches(self, images, labels, batch_size, rng):
        start = 0
        for batch in self.minibatch_indices(len(images), batch_size, rng):
            yield images[batch], labels[start : start + len(batch)]
            start += len(batch)


class LowerIsBetter(Written):
    name = "accuracy-compared-as-loss"
    note = "early stopping keeps an epoch when the accuracy goes *down* (`<`): returns the initial weights"
    kind = BROKEN

    def improves(self, score, best):
        return score < best


class ZeroWeights(Written):
    name = "zero-weights"
    note = "`init_params` returns zeros: every hidden unit stays identical"
    kind = BROKEN

    def init_params(self, input_size, hidden_size, output_size, rng):
        params = super().init_params(input_size, hidden_size, output_size, rng)
        return {key: np.zeros_like(value) for key, value in params.items()}


class SumNotMean(Written):
    name = "gradient-not-averaged"
    note = "`dscores` not divided by the batch size: steps 32 times too large"
    kind = BROKEN

    def softmax_cross_entropy(self, scores, labels):
        loss, dscores = super().softmax_cross_entropy(scores, labels)
        return loss, dscores * len(labels)


class FirstBatchOnly(Written):
    name = "first-batch-only"
    note = "train stops each epoch after its first batch"
    kind = BROKEN

    def epoch_batches(self, images, labels, batch_size, rng):
        batch = self.minibatch_indices(len(images), batch_size, rng)[0]
        yield images[batch], labels[batch]


# --- mistakes other checks catch (the threshold may fall either way)


class NoShuffle(Written):
    name = "no-shuffle"
    note = "`minibatch_indices` returns the indices in order"
    kind = CAUGHT_ELSEWHERE

    def minibatch_indices(self, count, batch_size, rng):
        order = np.arange(count)
        return [order[start : start + batch_size] for start in range(0, count, batch_size)]


class NoMaxShift(Written):
    name = "softmax-no-max-shift"
    note = "softmax without subtracting the row maximum (overflows only for scores above 709)"
    kind = CAUGHT_ELSEWHERE

    def softmax_cross_entropy(self, scores, labels):
        count = scores.shape[0]
        exponentials = np.exp(scores)
        probabilities = exponentials / exponentials.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(probabilities[np.arange(count), labels]))
        probabilities[np.arange(count), labels] -= 1
        return float(loss), probabilities / count


class FrozenBiases(Written):
    name = "no-bias-update"
    note = "`sgd_step` updates W1 and W2 only"
    kind = CAUGHT_ELSEWHERE

    def sgd_step(self, params, grads, velocity, learning_rate, momentum):
        for key in ("W1", "W2"):
            velocity[key] = momentum * velocity[key] - learning_rate * grads[key]
            params[key] += velocity[key]


class BiasGradientMean(Written):
    name = "bias-gradient-mean"
    note = "`affine_backward` averages `dout` over the rows for `db` (bias steps 32 times too small)"
    kind = CAUGHT_ELSEWHERE

    def affine_backward(self, dout, cache):
        dx, dw, _ = super().affine_backward(dout, cache)
        return dx, dw, dout.mean(axis=0)


class NoReluGate(Written):
    name = "no-relu-backward"
    note = "the backward pass skips the ReLU: the gradient also flows through units that were off"
    kind = CAUGHT_ELSEWHERE

    def hidden_gradient(self, dhidden, relu_cache):
        return dhidden


class PlainSgd(Written):
    name = "no-momentum"
    note = "`sgd_step` ignores the momentum: plain SGD"
    kind = CAUGHT_ELSEWHERE

    def sgd_step(self, params, grads, velocity, learning_rate, momentum):
        for key in params:
            params[key] -= learning_rate * grads[key]


class XavierScale(Written):
    name = "xavier-scale"
    note = "weights scaled by `sqrt(1 / fan_in)` instead of He's `sqrt(2 / fan_in)`"
    kind = CAUGHT_ELSEWHERE

    def init_params(self, input_size, hidden_size, output_size, rng):
        params = super().init_params(input_size, hidden_size, output_size, rng)
        return {key: value / np.sqrt(2.0) for key, value in params.items()}


class UniformWeights(Written):
    name = "tutorial-uniform"
    note = "the first assignment's weights, uniform in [-0.1, 0.1)"
    kind = CAUGHT_ELSEWHERE

    def init_params(self, input_size, hidden_size, output_size, rng):
        return {
            "W1": 0.2 * rng.random((input_size, hidden_size)) - 0.1,
            "b1": np.zeros(hidden_size),
            "W2": 0.2 * rng.random((hidden_size, output_size)) - 0.1,
            "b2": np.zeros(output_size),
        }


class LastEpoch(Written):
    name = "last-epoch-weights"
    note = "train returns the live weights of the last epoch, not a copy of the best"
    kind = CAUGHT_ELSEWHERE

    def train(self, params, *args, **kwargs):
        _, history = super().train(params, *args, **kwargs)
        return params, history


class DropLastBatch(Written):
    name = "drop-last-batch"
    note = "`minibatch_indices` drops the short last batch"
    kind = CAUGHT_ELSEWHERE

    def minibatch_indices(self, count, batch_size, rng):
        return super().minibatch_indices(count, batch_size, rng)[: count // batch_size]


class VelocityPerEpoch(Written):
    name = "velocity-per-epoch"
    note = "train resets the velocity to zero at the start of every epoch"
    kind = CAUGHT_ELSEWHERE

    def epoch_batches(self, images, labels, batch_size, rng):
        self.reset_velocity = True
        yield from super().epoch_batches(images, labels, batch_size, rng)

    def sgd_step(self, params, grads, velocity, learning_rate, momentum):
        if getattr(self, "reset_velocity", False):
            for value in velocity.values():
                value[...] = 0.0
            self.reset_velocity = False
        super().sgd_step(params, grads, velocity, learning_rate, momentum)


IMPLEMENTATIONS: tuple[type[Written], ...] = (
    Reference, Written, Float32, NormalDraw, ChoiceOrder, ShuffledArrays, ArraySplit,
    VelocityOfGradients, ProbabilitiesThenLog, DotAndEinsum, AllAtOnce,
    GradientAscent, LabelsLeftBehind, LowerIsBetter, ZeroWeights, SumNotMean, FirstBatchOnly,
    NoShuffle, NoMaxShift, FrozenBiases, BiasGradientMean, NoReluGate, PlainSgd, XavierScale,
    UniformWeights, LastEpoch, DropLastBatch, VelocityPerEpoch,
)

# ----------------------------------------------------------------------------- the check


def run_check(
    implementation: Written, data: Subset, seed: int, args: argparse.Namespace
) -> tuple[float, float]:
    """One run of the check: the test accuracy of the weights ``train`` returns, and its CPU seconds."""
    rng = np.random.default_rng(seed)
    params = implementation.init_params(data.training_images.shape[1], args.hidden_size, 10, rng)
    started = time.process_time()
    with np.errstate(all="ignore"):
        best_params, _ = implementation.train(
            params, data.training_images, data.training_labels, data.validation_images,
            data.validation_labels, rng, args.epochs, args.batch_size, args.learning_rate,
            args.momentum, args.patience,
        )
        score = reference.accuracy(best_params, data.test_images, data.test_labels)
    return score, time.process_time() - started


# ----------------------------------------------------------------------------- report


def summary_table(results: dict[str, list[float]], seconds: dict[str, list[float]]) -> list[str]:
    lines = [
        "| implementation | kind | min | mean | std | max | CPU s/run | what differs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for cls in IMPLEMENTATIONS:
        if cls.name not in results:
            continue
        scores = results[cls.name]
        spread = statistics.pstdev(scores) if len(scores) > 1 else 0.0
        lines.append(
            f"| `{cls.name}` | {cls.kind} | {min(scores):.3f} | {statistics.fmean(scores):.3f} | "
            f"{spread:.3f} | {max(scores):.3f} | {statistics.fmean(seconds[cls.name]):.2f} | {cls.note} |"
        )
    return lines


def verdict(results: dict[str, list[float]], seeds: Sequence[int]) -> list[str]:
    kinds = {cls.name: cls.kind for cls in IMPLEMENTATIONS}

    def extreme(kind: str, pick: Callable[..., tuple[float, str, int]]) -> tuple[float, str, int]:
        runs = [(score, name, seed) for name, scores in results.items() if kinds[name] == kind
                for score, seed in zip(scores, seeds, strict=True)]
        return pick(runs) if runs else (float("nan"), "-", 0)

    worst_correct = extreme(CORRECT, min)
    best_broken = extreme(BROKEN, max)
    correct_scores = [s for name, scores in results.items() if kinds[name] == CORRECT for s in scores]
    lines = [
        f"- correct runs: {len(correct_scores)}, mean {statistics.fmean(correct_scores):.4f}, "
        f"std {statistics.pstdev(correct_scores):.4f}",
        f"- worst correct run: {worst_correct[0]:.4f} (`{worst_correct[1]}`, seed {worst_correct[2]})",
        f"- best clearly broken run: {best_broken[0]:.4f} (`{best_broken[1]}`, seed {best_broken[2]})",
        f"- gap: {worst_correct[0] - best_broken[0]:.4f}; "
        f"midpoint {(worst_correct[0] + best_broken[0]) / 2:.4f}",
    ]
    return lines


def per_seed_table(results: dict[str, list[float]], seeds: Sequence[int]) -> list[str]:
    names = list(results)
    lines = ["| seed | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row, seed in enumerate(seeds):
        lines.append(f"| {seed} | " + " | ".join(f"{results[name][row]:.3f}" for name in names) + " |")
    return lines


# ----------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=30,
                        help=f"how many seeds: {TUTORIAL_SEED}, then 1, 2, ... (default: %(default)s)")
    for name, value in vars(CALIBRATED).items():
        if name != "seed":  # the seeds are --seeds'
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value,
                                help="(default: the grader's, %(default)s)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these implementations")
    parser.add_argument("--per-seed", action="store_true", help="also print every run")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    seeds = [TUTORIAL_SEED, *range(1, args.seeds)]
    chosen = [cls for cls in IMPLEMENTATIONS if not args.only or cls.name in args.only]
    data = calibrated_subset(args.train_images, args.validation_images, args.test_images)
    settings = {key: value for key, value in vars(args).items() if key not in ("only", "per_seed")}
    print(f"check settings: {settings}", flush=True)
    results: dict[str, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    started = time.perf_counter()
    for cls in chosen:
        implementation = cls()
        runs = [run_check(implementation, data, seed, args) for seed in seeds]
        results[cls.name] = [score for score, _ in runs]
        seconds[cls.name] = [cpu for _, cpu in runs]
        print(f"  {cls.name:28s} {cls.kind:17s} min {min(results[cls.name]):.3f} "
              f"max {max(results[cls.name]):.3f}", file=sys.stderr, flush=True)
    print("\n".join(["", *summary_table(results, seconds), "", *verdict(results, seeds)]))
    if args.per_seed:
        print("\n".join(["", *per_seed_table(results, seeds)]))
    print(f"\n{len(chosen) * len(seeds)} runs in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
