"""Tests of ``python -m solutions`` and of solutions.plots."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import solutions.mnist_mlp.training as cli
from solutions.data import load_mnist
from solutions.mnist_mlp import initial_weights, one_hot_encoding, train
from solutions.plots import plot_learning_curves

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
README_ACCURACY = re.compile(
    r"^Reference final test accuracy \(tutorial defaults, 20 epochs\): \*\*(\d+\.\d+)\*\*$",
    re.MULTILINE,
)


def synthetic_sets(n_train: int = 30, n_test: int = 20, seed: int = 5) -> cli.Sets:
    """Random images in [0, 1] (n, 784) with one-hot labels (n, 10)."""
    rng = np.random.default_rng(seed)
    return (
        rng.random((n_train, 784)),
        one_hot_encoding(rng.integers(0, 10, n_train)),
        rng.random((n_test, 784)),
        one_hot_encoding(rng.integers(0, 10, n_test)),
    )


def synthetic_mnist(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """Arrays shaped like load_mnist's (uint8)."""
    rng = np.random.default_rng(11)
    return {
        "training_images": rng.integers(0, 256, (n_train, 784), dtype=np.uint8),
        "training_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 784), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def assert_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[1] > pixels.shape[0] > 100
    return pixels


def epoch_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if re.match(r"epoch\s+\d+/\d+ ", line)]


# --- training epoch by epoch -----------------------------------------------------------


def test_epoch_at_a_time_equals_one_call() -> None:
    sets = synthetic_sets()
    by_epoch = list(cli.train_by_epoch(sets, epochs=3, hidden_size=16, learning_rate=0.01, seed=42))

    rng = np.random.default_rng(42)
    weights_1, weights_2 = initial_weights(rng, hidden_size=16)
    at_once = train(*sets, weights_1, weights_2, 3, 0.01, rng)

    assert len(by_epoch) == 3
    for key, values in at_once.items():
        assert [record[key] for record in by_epoch] == values, key


def test_defaults_are_the_tutorials() -> None:
    parsed = cli.build_parser().parse_args([])
    assert (parsed.train_images, parsed.test_images) == (1_000, 1_000)
    assert (parsed.epochs, parsed.hidden_size, parsed.learning_rate) == (20, 100, 0.005)
    assert parsed.seed == 884736743
    assert parsed.figure == Path("build/learning_curves.png")
    assert parsed.data_dir is None


# --- the command line ------------------------------------------------------------------


def test_cli_offline_on_synthetic_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    calls = []

    def fake_load_mnist(data_dir, *, train_count, test_count):
        calls.append((data_dir, train_count, test_count))
        return synthetic_mnist(train_count, test_count)

    monkeypatch.setattr(cli, "load_mnist", fake_load_mnist)
    figure = tmp_path / "new" / "dir" / "curves.png"
    argv = ["--train-images", "12", "--test-images", "7", "--epochs", "3", "--hidden-size", "8"]
    status = cli.main([*argv, "--figure", str(figure), "--data-dir", str(tmp_path)])

    out = capsys.readouterr().out
    assert status == 0
    assert calls == [(tmp_path, 12, 7)]
    assert len(epoch_lines(out)) == 3
    assert re.search(r"^final test accuracy: \d\.\d{3}$", out, re.MULTILINE)
    assert f"figure: {figure}" in out
    assert_png(figure)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--train-images", "70000"], "argument --train-images: must be between 1 and 60000"),
        (["--test-images", "10001"], "argument --test-images: must be between 1 and 10000"),
        (["--train-images", "0"], "argument --train-images: must be between 1 and 60000"),
        (["--epochs", "0"], "argument --epochs: must be at least 1"),
        (["--hidden-size", "ten"], "argument --hidden-size: expected a whole number"),
        (["--learning-rate", "-0.1"], "argument --learning-rate: must be a positive number"),
        (["--seed", "-3"], "argument --seed: must be at least 0"),
    ],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m solutions" in err
    assert message in err


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for option in ("--train-images", "--test-images", "--epochs", "--hidden-size"):
        assert option in out
    for option in ("--learning-rate", "--seed", "--figure", "--data-dir", "MNIST_DATA_DIR"):
        assert option in out


def test_missing_data_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--data-dir", str(tmp_path), "--figure", str(tmp_path / "f.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST file train-images-idx3-ubyte.gz")
    assert "not found" in err
    assert not (tmp_path / "f.png").exists()


def test_cli_small_run_on_real_data(tmp_path: Path) -> None:
    figure = tmp_path / "out" / "curves.png"
    argv = ["--train-images", "200", "--test-images", "200", "--epochs", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "solutions", "mnist_mlp", *argv, "--figure", str(figure)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = epoch_lines(result.stdout)
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"]
    final = re.search(r"^final test accuracy: (\d\.\d{3})$", result.stdout, re.MULTILINE)
    assert final and 0.1 < float(final.group(1)) <= 1.0
    assert f"figure: {figure}" in result.stdout
    assert_png(figure)


# --- the reference accuracy quoted in the README ---------------------------------------


def test_reference_accuracy_matches_readme() -> None:
    quoted = README_ACCURACY.search((REPO / "README.md").read_text(encoding="utf-8"))
    assert quoted, (
        "README.md lacks the line 'Reference final test accuracy (tutorial defaults, 20 epochs): **0.xxx**'"
    )
    mnist = load_mnist(train_count=cli.TRAIN_IMAGES, test_count=cli.TEST_IMAGES)
    sets = cli.prepare_sets(mnist, cli.TRAIN_IMAGES, cli.TEST_IMAGES)
    history = list(cli.train_by_epoch(sets))
    assert len(history) == 20
    accuracy = history[-1]["test_accurate_pred"] / cli.TEST_IMAGES
    assert abs(accuracy - float(quoted.group(1))) <= 0.02, (
        f"the reference reached {accuracy:.3f}, README says {quoted.group(1)}"
    )


# --- plots -----------------------------------------------------------------------------


def test_plot_learning_curves_writes_a_png(tmp_path: Path) -> None:
    history = {
        "training_loss": [90.0, 70.0, 60.0],
        "training_accurate_pred": [40, 60, 70],
        "test_loss": [45.0, 40.0, 38.0],
        "test_accurate_pred": [25, 30, 33],
    }
    target = tmp_path / "a" / "b" / "curves.png"
    assert plot_learning_curves(history, 100, 50, str(target)) == target
    assert_png(target)


def test_plot_learning_curves_rejects_an_incomplete_history(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="history lacks test_loss"):
        plot_learning_curves(
            {"training_loss": [1.0], "training_accurate_pred": [1], "test_accurate_pred": [1]},
            10,
            10,
            tmp_path / "x.png",
        )
    assert not (tmp_path / "x.png").exists()
