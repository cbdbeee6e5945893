"""``python -m autograder package gradescope``: the zip, and what ``run_autograder`` makes of submissions.

The zip is unpacked into a scratch root laid out like Gradescope's (``tests/gradescope_kit.py``);
``run_autograder`` must give the score of ``python -m autograder``. Failures of the grader and
the limits are in ``test_gradescope.py``; the Classroom template in ``test_classroom.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import zipfile
from pathlib import Path

import gradescope_kit as kit
import pytest
from gradescope_kit import (
    RELEASE,
    SOURCE,
    SUBMISSIONS,
    mistaken_notebook,
    notebook_text,
    plain,
    reference_notebook,
    run_gradescope,
    single_file_score,
)

from autograder.assignment import read_assignment
from autograder.package import main
from solutions.data import OFFICIAL_SHA256

REPOSITORY = Path(__file__).resolve().parent.parent
MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"}
# Where the notebook's solution text may appear in the zip: the reference package, and the
# grader's own checks (also hidden from students), whose hints quote the expected code.
MAY_HOLD_SOLUTIONS = ("solutions/", "autograder/checks/")


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.build_zip(tmp_path_factory.mktemp("zip"))


@pytest.fixture(scope="module")
def gradescope_env() -> dict[str, str]:
    return kit.gradescope_env()


@pytest.fixture(scope="module")
def gradescope_root(zip_path: Path, gradescope_env: dict[str, str], tmp_path_factory) -> Path:
    return kit.gradescope_root(zip_path, gradescope_env, tmp_path_factory.mktemp("gradescope"))


def hidden_lines(path: Path) -> set[str]:
    """The lines of the notebook's solution and hidden-test blocks that its release does not show."""
    lines, inside = set(), False
    for cell in json.loads(notebook_text(path))["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in map(str.strip, source.splitlines()):
            if line in MARKERS:
                inside = "BEGIN" in line
            elif inside and line:
                lines.add(line)
    return {line for line in lines if line not in readable_text(RELEASE.name, RELEASE.read_bytes())}


def readable_text(name: str, data: bytes) -> str:
    """A zip member as text; a notebook as its cells' sources (in the JSON, quotes are escaped)."""
    text = data.decode("utf-8", "replace")
    if name.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)
    return text


def test_zip_layout(zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        requirements = archive.read("requirements.txt").decode().splitlines()
    assert {"setup.sh", "run_autograder", "requirements.txt", "release/mnist_mlp/mnist_mlp.ipynb",
            "solutions/network.py", "autograder/checks/pytest.ini"} <= names
    assert all(modes[name] & stat.S_IXUSR for name in ("setup.sh", "run_autograder"))
    assert not any(name.startswith(("source/", "tests/")) or "__pycache__" in name for name in names)
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[^=\s]+", pin) for pin in pins)
    pinned = {pin.split("==")[0].lower() for pin in pins}
    assert {"numpy", "pytest", "requests", "tqdm", "nbformat"} <= pinned
    assert not pinned & {"jupyterlab", "nbgrader", "matplotlib", "notebook"}


def test_zip_is_reproducible(zip_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    assert main(["gradescope", "--out", str(again)]) == 0
    assert again.read_bytes() == zip_path.read_bytes()
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(again.stat().st_mode) == 0o666 & ~mask  # as any new file, not 0600


def test_zip_holds_no_solution_text_outside_the_reference(zip_path: Path) -> None:
    secret = hidden_lines(SOURCE)
    assert len(secret) > 20  # the solution cells and hidden tests were found
    leaks = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            text = readable_text(name, archive.read(name))
            assert not [marker for marker in MARKERS if marker in text], name
            found = sorted(line for line in secret if line in text)
            if found and not name.startswith(MAY_HOLD_SOLUTIONS):
                leaks[name] = found
    assert not leaks
    assert "### BEGIN SOLUTION" not in notebook_text(RELEASE)


def test_zip_holds_no_mnist_bytes(zip_path: Path) -> None:
    official = set(OFFICIAL_SHA256.values())
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            assert hashlib.sha256(data).hexdigest() not in official, info.filename
            assert not data.startswith(b"\x1f\x8b"), f"{info.filename} is gzip data"
            assert "ubyte" not in info.filename


@pytest.mark.parametrize("kind", sorted(SUBMISSIONS))
def test_run_autograder_gives_the_single_file_score(
    kind: str, gradescope_root: Path, gradescope_env: dict[str, str], tmp_path: Path
) -> None:
    notebook = tmp_path / "mnist_mlp.ipynb"
    notebook.write_text(SUBMISSIONS[kind](), encoding="utf-8")
    expected = single_file_score(notebook, tmp_path)
    files = {"mnist_mlp.ipynb": notebook.read_text()}
    results, stdout = run_gradescope(gradescope_root, gradescope_env, files)
    assert results["score"] == expected
    assert expected == {"reference": 100, "mistaken": 90, "broken": 0}[kind]
    assert f"grader: {gradescope_root / 'source' / 'autograder'}" in stdout  # the unpacked copy graded
    submission = results["tests"][0]
    assert submission["status"] == ("failed" if kind == "broken" else "passed")


def test_results_hide_each_task_until_the_due_date(gradescope_root: Path, gradescope_env: dict) -> None:
    results, _ = run_gradescope(gradescope_root, gradescope_env, {"mnist_mlp.ipynb": mistaken_notebook()})
    first, *tasks = results["tests"]
    assert first["name"] == "Submission" and first["visibility"] == "visible" and "score" not in first
    assert "Total: 90 / 100" in plain(first["output"]) and "after the due date" in plain(first["output"])
    assert [t["name"] for t in tasks] == [c.grade_id for c in read_assignment(RELEASE).graded]
    assert {t["visibility"] for t in tasks} == {"after_due_date"}
    assert "test_relu2deriv" not in plain(first["output"])  # which task failed is not shown at once
    assert results["stdout_visibility"] == "hidden" and results["visibility"] == "visible"
    assert sum(t["score"] for t in tasks) == results["score"] == 90


def test_no_notebook_or_several_get_a_clear_zero(gradescope_root: Path, gradescope_env: dict) -> None:
    none, _ = run_gradescope(gradescope_root, gradescope_env, {"notes.txt": "hello"})
    assert none["score"] == 0 and "no notebook (.ipynb file)" in plain(none["tests"][0]["output"])
    several, _ = run_gradescope(
        gradescope_root, gradescope_env, {"a/mnist_mlp.ipynb": "{}", "b/copy.ipynb": "{}"}
    )
    assert several["score"] == 0
    assert "holds 2 notebooks (a/mnist_mlp.ipynb, b/copy.ipynb)" in plain(several["output"])
    assert several["tests"][0]["status"] == "failed"
    assert sum(t["max_score"] for t in several["tests"][1:]) == 100


def test_checkpoint_copies_are_not_counted(gradescope_root: Path, gradescope_env: dict) -> None:
    files = {"mnist_mlp.ipynb": reference_notebook(), ".ipynb_checkpoints/mnist_mlp-checkpoint.ipynb": "{}"}
    results, _ = run_gradescope(gradescope_root, gradescope_env, files)
    assert results["score"] == 100


def test_package_refuses_the_source_notebook_as_release(tmp_path: Path) -> None:
    assert main(["gradescope", "--out", str(tmp_path / "a.zip"), "--release", str(SOURCE)]) == 1
    assert main(["classroom", "--out", str(tmp_path), "--release", str(SOURCE), "--grader-repo", "o/k"]) == 1
    assert not (tmp_path / "a.zip").exists()
