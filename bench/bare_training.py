"""The tutorial's training run and nothing else: the bare compute a grader cannot avoid.

    MNIST_DATA_DIR=... .venv/bin/python bench/bare_training.py

Reads the first 1,000 training and 1,000 test images straight from the gzip files in
``$MNIST_DATA_DIR`` (no checksum, no download code), then trains 20 epochs with the
reference functions from the tutorial's seed 884736743 and prints the final test
accuracy. ``bench/grade_speed.py`` times this script as a whole process.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from solutions.mnist_mlp import initial_weights, one_hot_encoding, train

SEED, EPOCHS, LEARNING_RATE, TRAIN_COUNT, TEST_COUNT = 884736743, 20, 0.005, 1000, 1000
PIXELS = 28 * 28


def first(path: Path, count: int, header: int, width: int) -> np.ndarray:
    """The first ``count`` records of an IDX file (``header`` bytes, then ``width`` bytes a record)."""
    with gzip.open(path, "rb") as stream:
        stream.read(header)
        return np.frombuffer(stream.read(count * width), dtype=np.uint8).reshape(count, width)


def main() -> None:
    folder = Path(os.environ["MNIST_DATA_DIR"])
    training_images = first(folder / "train-images-idx3-ubyte.gz", TRAIN_COUNT, 16, PIXELS) / 255
    training_labels = first(folder / "train-labels-idx1-ubyte.gz", TRAIN_COUNT, 8, 1)[:, 0]
    test_images = first(folder / "t10k-images-idx3-ubyte.gz", TEST_COUNT, 16, PIXELS) / 255
    test_labels = first(folder / "t10k-labels-idx1-ubyte.gz", TEST_COUNT, 8, 1)[:, 0]

    rng = np.random.default_rng(SEED)
    weights_1, weights_2 = initial_weights(rng)
    history = train(
        training_images, one_hot_encoding(training_labels), test_images, one_hot_encoding(test_labels),
        weights_1, weights_2, EPOCHS, LEARNING_RATE, rng,
    )
    print(f"test accuracy after {EPOCHS} epochs: {history['test_accurate_pred'][-1] / TEST_COUNT:.3f}")


if __name__ == "__main__":
    main()
