"""The instructor notebook: its solutions agree with the reference, its metadata is right,
and the committed release is in sync with it and leaks nothing."""

from __future__ import annotations

import builtins
import dis
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from solutions import mnist_mlp as network

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = REPOSITORY / "release" / "mnist_mlp" / "mnist_mlp.ipynb"

# The student contract in order (each function's test cell has its points in the notebook's
# metadata: the tests read them there, so an instructor may change them).
CONTRACT = ("one_hot_encoding", "relu", "relu2deriv", "dropout_mask", "train_step", "evaluate", "train")
INSTRUCTOR_CELLS = (
    "imports",
    "load_data",
    "show_digits",
    "normalise",
    "encode_labels",
    "hyperparameters",
    "training_run",
    "plot_learning_curves",
)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SOLUTION_RE = re.compile(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", re.S)
HIDDEN_RE = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)\n\s*### END HIDDEN TESTS", re.S)


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def cells_by_id(notebook) -> dict[str, nbformat.NotebookNode]:
    return {grade_id(cell): cell for cell in notebook.cells if grade_id(cell)}


@pytest.fixture(scope="module")
def source() -> nbformat.NotebookNode:
    return read(SOURCE)


@pytest.fixture(scope="module")
def solved(source) -> dict:
    """The source notebook's seven solution cells, executed in a namespace holding only ``np``."""
    namespace = {"np": np}
    cells = cells_by_id(source)
    for name in CONTRACT:
        exec(compile(cells[f"{name}_solution"].source, f"<{name}_solution>", "exec"), namespace)
    return namespace


# --- (1) the notebook's solutions agree with solutions.network ------------------------------


def global_names(code) -> set[str]:
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            names |= global_names(const)
    return names


def test_solutions_use_only_numpy_and_the_contract(solved):
    allowed = {"np", *CONTRACT, *dir(builtins)}
    for name in CONTRACT:
        used = global_names(solved[name].__code__)
        assert used <= allowed, f"{name} uses globals outside np and the contract: {used - allowed}"


def test_one_hot_encoding_agrees(solved):
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, size=200).astype(np.uint8)
    got = solved["one_hot_encoding"](labels)
    assert got.dtype == np.float64
    assert np.array_equal(got, network.one_hot_encoding(labels))
    small = rng.integers(0, 4, size=17)
    assert np.array_equal(solved["one_hot_encoding"](small, 4), network.one_hot_encoding(small, 4))


def test_relu_and_derivative_agree(solved):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(30, 40))
    x[0, :5] = 0.0
    for array in (x, x[3], np.array([-0.0, 0.0, 1e-300, -1e-300])):
        assert np.array_equal(solved["relu"](array), network.relu(array))
        output = network.relu(array)
        got = np.asarray(solved["relu2deriv"](output), dtype=np.float64)
        assert np.array_equal(got, network.relu2deriv(output))


def test_dropout_mask_agrees(solved):
    mine, theirs = np.random.default_rng(3), np.random.default_rng(3)
    for shape in (100, (4, 25), 100, 7):
        assert np.array_equal(solved["dropout_mask"](shape, mine), network.dropout_mask(shape, theirs))


def random_case(rng, pixels=784, hidden=16):
    layer_0 = rng.random(pixels)
    label = np.eye(10)[rng.integers(10)]
    weights_1 = 0.2 * rng.random((pixels, hidden)) - 0.1
    weights_2 = 0.2 * rng.random((hidden, 10)) - 0.1
    mask = rng.integers(0, 2, size=hidden)
    return layer_0, label, weights_1, weights_2, mask


def test_train_step_agrees(solved):
    rng = np.random.default_rng(4)
    for _ in range(5):
        layer_0, label, weights_1, weights_2, mask = random_case(rng)
        mine_1, mine_2 = weights_1.copy(), weights_2.copy()
        got = solved["train_step"](layer_0, label, mine_1, mine_2, 0.02, mask)
        expected = network.train_step(layer_0, label, weights_1, weights_2, 0.02, mask)
        assert np.isclose(got[0], expected[0], rtol=1e-12) and got[1] == expected[1]
        assert np.allclose(mine_1, weights_1, rtol=1e-12, atol=0)
        assert np.allclose(mine_2, weights_2, rtol=1e-12, atol=0)


def test_evaluate_agrees(solved):
    rng = np.random.default_rng(5)
    images, labels = rng.random((50, 784)), np.eye(10)[rng.integers(10, size=50)]
    weights_1, weights_2 = network.initial_weights(rng, hidden_size=30)
    got = solved["evaluate"](images, labels, weights_1, weights_2)
    expected = network.evaluate(images, labels, weights_1, weights_2)
    assert np.isclose(got[0], expected[0], rtol=1e-12) and got[1] == expected[1]


def test_train_agrees(solved):
    rng = np.random.default_rng(6)
    images, labels = rng.random((40, 784)), np.eye(10)[rng.integers(10, size=40)]
    test_images, test_labels = rng.random((25, 784)), np.eye(10)[rng.integers(10, size=25)]
    weights_1, weights_2 = network.initial_weights(rng, hidden_size=12)
    mine_1, mine_2 = weights_1.copy(), weights_2.copy()
    got = solved["train"](
        images, labels, test_images, test_labels, mine_1, mine_2, 3, 0.01, np.random.default_rng(884736743)
    )
    expected = network.train(
        images,
        labels,
        test_images,
        test_labels,
        weights_1,
        weights_2,
        3,
        0.01,
        np.random.default_rng(884736743),
    )
    assert sorted(got) == sorted(expected)
    for key, values in expected.items():
        assert len(got[key]) == 3
        assert np.allclose(got[key], values, rtol=1e-12, atol=0), key
    assert np.allclose(mine_1, weights_1, rtol=1e-12, atol=0)
    assert np.allclose(mine_2, weights_2, rtol=1e-12, atol=0)


# --- (4) metadata: grade ids, points, locked instructor cells --------------------------------


def test_format_and_kernel(source):
    assert (source.nbformat, source.nbformat_minor) == (4, 5)
    nbformat.validate(source)
    assert all(cell.get("id") for cell in source.cells)
    assert source.metadata.kernelspec.name == "python3"
    for cell in source.cells:  # saved without outputs, so diffs show only real changes
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, grade_id(cell)


def test_grade_ids_and_points(source):
    solutions, tests, instructor = [], [], []
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader")
        if cell.cell_type != "code":
            assert not meta, f"markdown cell {cell.id} should carry no nbgrader metadata"
            continue
        assert meta, f"code cell {cell.id} has no nbgrader metadata:\n{cell.source[:200]}"
        if meta["solution"]:
            assert not meta["grade"] and not meta["locked"]
            solutions.append(meta["grade_id"])
        elif meta["grade"]:
            assert meta["locked"]
            tests.append((meta["grade_id"], meta["points"]))
        else:
            assert meta["locked"], f"instructor cell {meta['grade_id']} should be read-only"
            instructor.append(meta["grade_id"])
    assert solutions == [f"{name}_solution" for name in CONTRACT]
    assert [grade for grade, _ in tests] == [f"test_{name}" for name in CONTRACT]
    assert all(points > 0 for _, points in tests)
    assert tuple(instructor) == INSTRUCTOR_CELLS
    code = [grade_id(cell) for cell in source.cells if cell.cell_type == "code"]
    assert code[0] == "imports" and "import numpy as np" in source.cells[1].source
    for name in CONTRACT:  # each solution is followed directly by its test
        assert code.index(f"test_{name}") == code.index(f"{name}_solution") + 1


def test_test_cells_end_with_their_hidden_block(source):
    cells = cells_by_id(source)
    for name in CONTRACT:
        text = cells[f"test_{name}"].source
        assert text.endswith(
            "### BEGIN HIDDEN TESTS\n"
            "from autograder.notebook import run_checks\n"
            f'run_checks("mnist_mlp", "test_{name}", globals())\n'
            "### END HIDDEN TESTS"
        )
        visible = text.split("### BEGIN HIDDEN TESTS")[0]
        assert "autograder" not in visible and "solutions" not in visible
    for cell in source.cells:
        if cell.cell_type == "code" and not grade_id(cell).startswith("test_"):
            assert not re.search(r"^\s*(from|import) (autograder|solutions)\b", cell.source, re.M)


CHECKS_PACKAGE = SOURCE.parent / "mnist_checks"


def test_only_the_notebook_and_its_checks_in_the_assignment_folders():
    assert {p.name for p in SOURCE.parent.iterdir()} - {".ipynb_checkpoints", "data"} == {
        SOURCE.name, "mnist_checks"}
    assert {p.name for p in RELEASE.parent.iterdir()} == {RELEASE.name, "mnist_checks"}
    kit = sorted(p.name for p in CHECKS_PACKAGE.glob("*.py"))
    # One source of truth: the release holds copies of the source folder's checks package.
    for name in kit:
        assert not (CHECKS_PACKAGE / name).is_symlink(), name
        released = RELEASE.parent / "mnist_checks" / name
        assert released.read_bytes() == (CHECKS_PACKAGE / name).read_bytes(), f"{name}: run `make release`"
    assert sorted(p.name for p in (RELEASE.parent / "mnist_checks").iterdir()) == kit


# --- (2) and (3) the committed release ---------------------------------------------------------


def test_release_in_sync(scratch_course, nbgrader):
    nbgrader(scratch_course, "generate_assignment", "mnist_mlp", "--force", "--no-db")
    fresh = read(scratch_course / "release" / "mnist_mlp" / "mnist_mlp.ipynb")
    committed = read(RELEASE)
    assert [c.cell_type for c in committed.cells] == [c.cell_type for c in fresh.cells]
    for mine, theirs in zip(committed.cells, fresh.cells, strict=True):
        assert mine.source == theirs.source, (
            f"release cell {mine.get('id')} is stale: run `make release` and commit the result"
        )
        assert mine.metadata.get("nbgrader") == theirs.metadata.get("nbgrader")
    released = {p.name for p in (scratch_course / "release" / "mnist_mlp").iterdir()}
    assert released == {RELEASE.name, "mnist_checks"}


def significant(line: str) -> bool:
    """Lines that say something: not blank, not lone brackets."""
    return len(re.sub(r"[\s()\[\]{},:]", "", line)) > 3


def test_release_leaks_nothing(source):
    release_text = "\n".join(cell.source for cell in read(RELEASE).cells)
    for marker in MARKERS:
        assert marker not in release_text
    release_lines = {line.strip() for line in release_text.splitlines()}
    secret = set()
    for cell in source.cells:
        for block in SOLUTION_RE.findall(cell.source) + HIDDEN_RE.findall(cell.source):
            secret |= {line.strip() for line in block.splitlines() if significant(line)}
    assert len(secret) > 30  # the seven solution bodies and seven hidden blocks were found
    leaked = secret & release_lines
    assert not leaked, f"lines of solutions or hidden tests in the release: {sorted(leaked)}"
    assert "run_checks" not in release_text and "autograder" not in release_text


def test_release_has_stubs_and_no_outputs():
    release = read(RELEASE)
    stubs = [c for c in release.cells if c.cell_type == "code" and "raise NotImplementedError()" in c.source]
    assert [grade_id(c) for c in stubs] == [f"{name}_solution" for name in CONTRACT]
    for cell in release.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


# --- (5) the notebook runs and validates ---------------------------------------------------------


def test_solved_notebook_runs_clean(scratch_course, mnist_env, monkeypatch):
    for key in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "MPLBACKEND"):
        monkeypatch.setenv(key, mnist_env[key])
    notebook = read(scratch_course / "source" / "mnist_mlp" / "mnist_mlp.ipynb")
    folder = scratch_course / "source" / "mnist_mlp"
    NotebookClient(  # the cell timeout guards against a hang; the notebook's speed is in bench/
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error"
            assert output.get("name") != "stderr", f"{grade_id(cell)} wrote to stderr: {output.text}"
    # nothing downloaded (importing the checks may leave Python's bytecode cache beside them)
    assert sorted(p.name for p in folder.iterdir()) == ["mnist_checks", "mnist_mlp.ipynb"]
    printed = "".join(o.get("text", "") for o in cells_by_id(notebook)["training_run"].outputs)
    last_epoch = [line for line in printed.splitlines() if line.strip().startswith("20 ")]
    assert last_epoch and float(last_epoch[0].split()[-1]) == pytest.approx(0.810, abs=0.0005)


def test_nbgrader_validate_source(scratch_course, mnist_env, nbgrader):
    notebook = scratch_course / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
    result = nbgrader(scratch_course, "validate", str(notebook), env=mnist_env)
    assert "Success! Your notebook passes all the tests." in result.stdout
