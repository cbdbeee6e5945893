"""The instructor notebook of mnist_minibatch: its metadata, and that it runs from top to bottom.

The run executes a scratch copy of the solved notebook with nbclient, as a student's Run All does,
and checks that no cell fails or writes to standard error (a warning included), and that the
hidden block of ``test_train`` (the kit's checks, in the kernel) passes. By default the training
cell trains for two epochs on 2,000 images (``COURSE_KIT_QUICK=1``, which the cell reads);
``pytest --exhaustive`` runs the full training (about 30 CPU-seconds), which must give the
reference's test accuracy, 0.9815, as the notebook's text says.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "source" / "mnist_minibatch" / "mnist_minibatch.ipynb"
# The student contract in order; the points are the notebook's metadata's (an instructor may change them).
CONTRACT = ("init_params", "affine_forward", "affine_backward", "softmax_cross_entropy", "loss_and_gradients",
            "minibatch_indices", "sgd_step", "train")
RUN_IN_THE_SANDBOX = ("imports", "split", "relu_layer", "gradient_check", "accuracy", "settings")
HIDDEN_CHECKS = ('### BEGIN HIDDEN TESTS\nfrom autograder.notebook import run_checks\n'
                 'run_checks("mnist_minibatch", "test_train", globals())\n### END HIDDEN TESTS')


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


@pytest.fixture(scope="module")
def source() -> nbformat.NotebookNode:
    return nbformat.read(SOURCE, as_version=nbformat.NO_CONVERT)


def test_grade_ids_points_and_given_cells(source):
    code = [cell for cell in source.cells if cell.cell_type == "code"]
    ids = [grade_id(cell) for cell in code]
    tests = {grade_id(c): c.metadata.nbgrader["points"] for c in code if c.metadata.nbgrader.get("grade")}
    assert list(tests) == [f"test_{name}" for name in CONTRACT] and all(p > 0 for p in tests.values())
    for name in CONTRACT:  # each answer cell is followed by its test cell
        assert ids.index(f"test_{name}") == ids.index(f"{name}_solution") + 1
    context = {grade_id(c): c.metadata.get("autograder") for c in code if c.metadata.get("autograder")}
    assert context == {"load_data": {"context": "data", "rows": 1000},
                       **{name: {"context": "run"} for name in RUN_IN_THE_SANDBOX}}
    given = "\n".join(c.source for c in code if grade_id(c) in RUN_IN_THE_SANDBOX)
    assert "matplotlib" not in given  # it cannot be imported in the sandbox, and costs every grading


def test_only_train_is_graded_by_checks_and_every_other_test_cell_by_its_asserts(source):
    for cell in source.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        if grade_id(cell) == "test_train":
            assert cell.source.endswith(HIDDEN_CHECKS)
            assert "autograder" not in cell.source.split("### BEGIN HIDDEN TESTS")[0]
        else:
            assert "autograder" not in cell.source and "solutions" not in cell.source
            assert "### BEGIN HIDDEN TESTS" in cell.source and "assert " in cell.source


def run_notebook(folder: Path, env: dict, monkeypatch: pytest.MonkeyPatch,
                 quick: bool) -> nbformat.NotebookNode:
    """The solved notebook of the scratch course in ``folder``, executed there."""
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "MPLBACKEND", "MNIST_DATA_DIR"):
        monkeypatch.setenv(key, env[key])
    if quick:
        monkeypatch.setenv("COURSE_KIT_QUICK", "1")
    else:
        monkeypatch.delenv("COURSE_KIT_QUICK", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # the sizes here gain nothing from a second thread
    notebook = nbformat.read(folder / SOURCE.name, as_version=nbformat.NO_CONVERT)
    NotebookClient(  # the cell timeout only guards against a hang
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return notebook


def printed(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", []))


def check_clean_run(notebook: nbformat.NotebookNode, folder: Path) -> dict[str, str]:
    """No cell failed or wrote to standard error; every test cell said it passed. Returns what each
    cell printed, by grade id."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{grade_id(cell)}: {output.get('evalue')}"
            assert output.get("name") != "stderr", f"{grade_id(cell)} wrote to stderr: {output.text}"
    outputs = {grade_id(cell): printed(cell) for cell in notebook.cells if cell.cell_type == "code"}
    for name in CONTRACT:
        assert f"{name}: visible checks passed" in outputs[f"test_{name}"]
    assert sorted(path.name for path in folder.iterdir()) == [SOURCE.name]  # nothing downloaded or written
    return outputs


def test_the_solved_notebook_runs_top_to_bottom(scratch_course, mnist_env, monkeypatch):
    folder = scratch_course / "source" / "mnist_minibatch"
    outputs = check_clean_run(run_notebook(folder, mnist_env, monkeypatch, quick=True), folder)
    training = outputs["training_run"]
    assert "trained 2 epochs" in training
    accuracy = re.search(r"test accuracy of the best epoch's weights: (\d\.\d+)", training)[1]
    assert float(accuracy) > 0.8  # 0.870 after these two epochs


@pytest.mark.skipif("not config.getoption('exhaustive')", reason="trains on all of MNIST: --exhaustive")
def test_the_full_training_gives_the_accuracy_the_notebook_states(scratch_course, mnist_env, monkeypatch):
    folder = scratch_course / "source" / "mnist_minibatch"
    outputs = check_clean_run(run_notebook(folder, mnist_env, monkeypatch, quick=False), folder)
    training = outputs["training_run"]
    assert "trained 17 epochs" in training and re.search(r"^\s+13 .*<- best$", training, re.M)
    assert "test accuracy of the best epoch's weights: 0.9815" in training
