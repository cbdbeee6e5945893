"""The student's side of the notebook: short test cells, context cells, clear messages.

The visible checks of each task are the shared check functions (``mnist_checks``, shipped
beside the release notebook); given cells that need an unfinished task say which one; the
download cell fails clearly without a network and leaves no folder behind.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import mnist_checks
import nbformat
import numpy as np
import pytest
from mnist_checks.tools import CheckFailure

from autograder.assignment import read_assignment

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = REPOSITORY / "release" / "mnist_mlp" / "mnist_mlp.ipynb"
CONTRACT = ("one_hot_encoding", "relu", "relu2deriv", "dropout_mask", "train_step", "evaluate", "train")


def cells_by_id(path: Path) -> dict:
    notebook = nbformat.read(path, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}


def test_visible_test_cells_are_two_lines():
    cells = cells_by_id(RELEASE)
    for name in CONTRACT:
        lines = [line for line in cells[f"test_{name}"].source.splitlines() if line.strip()]
        assert lines == ["from mnist_checks import check", f'check("{name}", globals())'], name


def test_context_cells_are_recorded_in_the_metadata():
    for path in (SOURCE, RELEASE):
        context = {cell.grade_id: cell.kind for cell in read_assignment(path).context}
        assert context == {"imports": "run", "load_data": "data", "normalise": "run",
                           "encode_labels": "run", "hyperparameters": "run"}


def solved_namespace() -> dict:
    """The source notebook's answer cells, run in a namespace holding only ``np``."""
    namespace = {"np": np}
    cells = cells_by_id(SOURCE)
    for name in CONTRACT:
        exec(compile(cells[f"{name}_solution"].source, f"<{name}_solution>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("name", CONTRACT)
def test_visible_checks_pass_the_solutions(name, capsys):
    mnist_checks.check(name, solved_namespace())
    assert capsys.readouterr().out == f"{name}: visible checks passed\n"


def test_visible_check_message_names_the_mistake():
    namespace = {"np": np, "relu2deriv": lambda output: output >= 0}
    with pytest.raises(CheckFailure, match="use > rather than >=") as failure:
        mnist_checks.check("relu2deriv", namespace)
    assert failure.value.__traceback__ is not None and failure.value.__cause__ is None


def test_visible_check_explains_a_raised_exception():
    def relu(x):
        return max(0, x)

    with pytest.raises(CheckFailure, match="np.maximum, np.where") as failure:
        mnist_checks.check("relu", {"np": np, "relu": relu})
    assert "relu raised ValueError" in str(failure.value)


def test_needs_names_the_unfinished_task():
    def train(*args):
        raise NotImplementedError()

    namespace = solved_namespace() | {"train": train}
    with pytest.raises(RuntimeError, match=r"This cell needs Task 7 \(train\)"):
        mnist_checks.needs(namespace, "train_step", "train")
    mnist_checks.needs(namespace, "train_step", "evaluate")


def test_encode_labels_names_task_1():
    source = cells_by_id(RELEASE)["encode_labels"].source
    stub = cells_by_id(RELEASE)["one_hot_encoding_solution"].source
    namespace = {"np": np, "y_train": np.zeros(5, np.uint8), "y_test": np.zeros(5, np.uint8),
                 "training_sample": 5, "test_sample": 5}
    exec(stub, namespace)
    with pytest.raises(RuntimeError, match=r"needs Task 1 \(one_hot_encoding\)"):
        exec(source, namespace)


def download_cell_without_network(folder: Path, monkeypatch) -> dict:
    """Run the release's data cell up to its definitions, with a requests that cannot connect."""
    fake = types.ModuleType("requests")

    class RequestException(Exception):
        pass

    class ConnectionError(RequestException):  # noqa: A001 - the name requests uses
        pass

    def get(url, timeout):
        raise ConnectionError("[Errno -3] Temporary failure in name resolution")

    fake.RequestException, fake.ConnectionError, fake.get = RequestException, ConnectionError, get
    monkeypatch.setitem(sys.modules, "requests", fake)
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.chdir(folder)
    source = cells_by_id(RELEASE)["load_data"].source
    definitions = source[: source.index("\nfolder = mnist_folder()")]
    namespace = {"np": np}
    exec(definitions, namespace)
    return namespace


def test_download_cell_fails_clearly_and_leaves_no_folder(tmp_path, monkeypatch):
    namespace = download_cell_without_network(tmp_path, monkeypatch)
    with pytest.raises(RuntimeError) as error:
        namespace["mnist_folder"]()
    message = str(error.value)
    assert "could not be downloaded" in message and "ConnectionError" in message
    # The same fix as the kit's loader (solutions/data.py) gives.
    assert message.endswith("Fix: check the network connection, or download the four files yourself "
                            "and set MNIST_DATA_DIR to their directory")
    assert list(tmp_path.iterdir()) == []
    assert not os.path.exists(tmp_path / "data")
