"""nbgrader and ``python -m autograder`` give the same total to the same submission file.

The reference, the blank release and every honest mistake of the corpus are autograded
by nbgrader in one call, in a scratch copy of the course, and compared with the totals
the grader gave the very same files (``corpus.grading``). Tampering and hostile entries
are left out: nbgrader runs student code in the kernel that runs the tests, so some of
them fool it; docs/grading.md records what each one scores under both (run this file as
a script to measure them again).

The scratch course trains 2 epochs instead of 20 in its (ungraded, read-only) training
cell: nbgrader puts the gradebook's version of that cell into every submission, and the
shorter run keeps the test fast. No graded cell changes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import ENTRIES, grade_id, read_json
from corpus.grading import Graded, graded_corpus
from nbgrader.api import Gradebook

ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
PARITY = [entry.name for entry in ENTRIES if entry.kind == "mistake" or entry.name == "reference"]


def shorten_training(course: Path) -> None:
    path = course / "source" / ASSIGNMENT / NOTEBOOK
    notebook = read_json(path)
    (cell,) = [c for c in notebook["cells"] if grade_id(c) == "hyperparameters"]
    source = "".join(cell["source"])
    assert "epochs = 20\n" in source
    cell["source"] = source.replace("epochs = 20\n", "epochs = 2\n")
    path.write_text(json.dumps(notebook, indent=1))


def submit(course: Path, runs: dict[str, Graded], names: list[str]) -> None:
    for name in names:
        folder = course / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copyfile(runs[name].submission, folder / NOTEBOOK)


def nbgrader_totals(course: Path, names: list[str]) -> dict[str, float | None]:
    """The total of each student in nbgrader's gradebook (None: no submission recorded)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        students = {student.id for student in gradebook.students}
        return {name: gradebook.find_submission(ASSIGNMENT, name).score if name in students else None
                for name in names}


@pytest.fixture(scope="module")
def totals(module_course, mnist_env, nbgrader) -> tuple[dict[str, float], dict[str, float]]:
    """(nbgrader's totals, the grader's totals) for every entry in PARITY."""
    corpus = graded_corpus()
    shorten_training(module_course)
    nbgrader(module_course, "generate_assignment", ASSIGNMENT, "--force")
    submit(module_course, corpus.runs, PARITY)
    nbgrader(module_course, "autograde", ASSIGNMENT, "--create", env=mnist_env)
    ours = {name: corpus.runs[name].score for name in PARITY}
    return nbgrader_totals(module_course, PARITY), ours


def test_parity_covers_the_mistakes():
    assert {"reference", "blank_release", "syntax_error_in_relu2deriv"} <= set(PARITY)
    assert len(PARITY) >= 20


@pytest.mark.parametrize("name", PARITY)
def test_same_total(totals, name):
    theirs, ours = totals
    assert theirs[name] == ours[name]


# Not run under nbgrader, which has no memory or output limit: they would exhaust the machine.
UNBOUNDED = {"evaluate_allocates_10_gib", "train_memory_creep", "one_hot_print_flood"}


def measure(names: list[str], folder: Path, cell_timeout: int = 20) -> None:
    """Print nbgrader's and the grader's totals for ``names`` as table rows, for docs/grading.md."""
    from conftest import make_course

    course = make_course(folder / "course")
    shorten_training(course)
    corpus = graded_corpus()
    nbgrader = [sys.executable, "-m", "nbgrader"]
    subprocess.run([*nbgrader, "generate_assignment", ASSIGNMENT, "--force"], cwd=course, check=True)
    submit(course, corpus.runs, names)
    subprocess.run([*nbgrader, "autograde", ASSIGNMENT, "--create", f"--Execute.timeout={cell_timeout}"],
                   cwd=course)
    theirs = nbgrader_totals(course, names)
    for name in names:
        autograded = (course / "autograded" / name / ASSIGNMENT / NOTEBOOK).exists()
        note = "" if autograded else " (autograde failed)"
        print(f"| `{name}` | {theirs[name]}{note} | {corpus.runs[name].results.get('score', 'no results')} |")


if __name__ == "__main__":  # python tests/test_parity.py, with MNIST_DATA_DIR and the Jupyter dirs set
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        kinds = ("tampering", "hostile", "broken")
        measure([e.name for e in ENTRIES if e.kind in kinds and e.name not in UNBOUNDED], Path(scratch))
