"""Train the reference network with the tutorial's defaults: ``python -m solutions mnist_mlp --help``."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from solutions.data import MNISTDataError, load_mnist
from solutions.mnist_mlp import initial_weights, one_hot_encoding, train
from solutions.plots import plot_learning_curves

TRAIN_IMAGES = 1_000
TEST_IMAGES = 1_000
EPOCHS = 20
HIDDEN_SIZE = 100
LEARNING_RATE = 0.005
SEED = 884736743
FIGURE = Path("build/learning_curves.png")
MNIST_TRAIN_SIZE = 60_000
MNIST_TEST_SIZE = 10_000

Sets = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def prepare_sets(mnist: Mapping[str, np.ndarray], n_train: int, n_test: int) -> Sets:
    """Turn :func:`load_mnist` arrays into the network's inputs, as the tutorial does.

    Returns ``(training_images, training_labels, test_images, test_labels)``: the first
    ``n_train`` / ``n_test`` images as float64 ``(n, 784)`` scaled to [0, 1] and their
    labels one-hot encoded, float64 ``(n, 10)``.
    """
    return (
        mnist["training_images"][:n_train] / 255,
        one_hot_encoding(mnist["training_labels"][:n_train]),
        mnist["test_images"][:n_test] / 255,
        one_hot_encoding(mnist["test_labels"][:n_test]),
    )


def train_by_epoch(
    sets: Sets,
    *,
    epochs: int = EPOCHS,
    hidden_size: int = HIDDEN_SIZE,
    learning_rate: float = LEARNING_RATE,
    seed: int = SEED,
) -> Iterator[dict[str, float]]:
    """Train the reference from the tutorial's initial weights, yielding after each epoch.

    ``sets`` is what :func:`prepare_sets` returns. The weights are drawn first from
    ``default_rng(seed)``, which then supplies the dropout masks. Each epoch is one call
    ``train(..., epochs=1, ...)`` on the same weights and generator, so the sequence of
    results equals one call with ``epochs=epochs``. Each item holds that epoch's
    ``training_loss``, ``training_accurate_pred``, ``test_loss`` and ``test_accurate_pred``.
    """
    rng = np.random.default_rng(seed)
    weights_1, weights_2 = initial_weights(rng, hidden_size=hidden_size)
    for _ in range(epochs):
        history = train(*sets, weights_1, weights_2, 1, learning_rate, rng)
        yield {key: values[0] for key, values in history.items()}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m solutions mnist_mlp``."""
    parser = argparse.ArgumentParser(
        prog="python -m solutions mnist_mlp",
        description=(
            "Train the reference one-hidden-layer network on MNIST with the NumPy "
            "tutorial's defaults, print the error and accuracy after every epoch, "
            "and save the learning curves as a PNG."
        ),
        epilog=(
            "MNIST comes from --data-dir, else $MNIST_DATA_DIR, else a cache directory "
            "($MNIST_CACHE_DIR, default ~/.cache/mnist-mlp-kit) filled by a verified download."
        ),
    )
    parser.add_argument(
        "--train-images",
        type=_int_between(1, MNIST_TRAIN_SIZE),
        default=TRAIN_IMAGES,
        metavar="N",
        help=f"train on the first N training images, 1-{MNIST_TRAIN_SIZE} (default: %(default)s)",
    )
    parser.add_argument(
        "--test-images",
        type=_int_between(1, MNIST_TEST_SIZE),
        default=TEST_IMAGES,
        metavar="M",
        help=f"evaluate on the first M test images, 1-{MNIST_TEST_SIZE} (default: %(default)s)",
    )
    parser.add_argument(
        "--epochs",
        type=_int_between(1, None),
        default=EPOCHS,
        help="passes over the training set (default: %(default)s)",
    )
    parser.add_argument(
        "--hidden-size",
        type=_int_between(1, None),
        default=HIDDEN_SIZE,
        help="hidden units (default: %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=LEARNING_RATE,
        help="learning rate (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_int_between(0, None),
        default=SEED,
        help="seed of numpy.random.default_rng: initial weights, then dropout masks (default: %(default)s)",
    )
    parser.add_argument(
        "--figure",
        type=Path,
        default=FIGURE,
        metavar="PATH",
        help="where to save the learning curves PNG (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory already holding the four MNIST .gz files (nothing is downloaded)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 1 data or file error)."""
    args = build_parser().parse_args(argv)
    try:
        mnist = load_mnist(args.data_dir, train_count=args.train_images, test_count=args.test_images)
    except MNISTDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    n_train, n_test = args.train_images, args.test_images
    print(
        f"training on {n_train} images, testing on {n_test}: {args.epochs} epochs, "
        f"{args.hidden_size} hidden units, learning rate {args.learning_rate}, seed {args.seed}"
    )
    history = _run(prepare_sets(mnist, n_train, n_test), args)
    print(f"final test accuracy: {history['test_accurate_pred'][-1] / n_test:.3f}")
    try:
        figure = plot_learning_curves(history, n_train, n_test, args.figure)
    except OSError as exc:
        print(f"error: cannot write the figure {args.figure}: {exc}", file=sys.stderr)
        return 1
    print(f"figure: {figure}")
    return 0


def _run(sets: Sets, args: argparse.Namespace) -> dict[str, list[float]]:
    """Train epoch by epoch, printing a line per epoch above a progress bar."""
    n_train, n_test = len(sets[0]), len(sets[2])
    history: dict[str, list[float]] = {}
    epochs = train_by_epoch(
        sets,
        epochs=args.epochs,
        hidden_size=args.hidden_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    bar = tqdm(epochs, total=args.epochs, desc="training", unit="epoch", leave=False,
               disable=None)  # no bar when not on a terminal: a log gets the epoch lines only
    for number, record in enumerate(bar, start=1):
        for key, value in record.items():
            history.setdefault(key, []).append(value)
        tqdm.write(
            f"epoch {number:>{len(str(args.epochs))}}/{args.epochs}  "
            f"training error {record['training_loss'] / n_train:.3f}  "
            f"accuracy {record['training_accurate_pred'] / n_train:.3f}  |  "
            f"test error {record['test_loss'] / n_test:.3f}  "
            f"accuracy {record['test_accurate_pred'] / n_test:.3f}"
        )
    return history


def _int_between(low: int, high: int | None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
