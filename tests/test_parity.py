"""nbgrader and ``python -m autograder`` give the same total to the same submission file.

Correct answers and honest mistakes of the corpus are autograded by nbgrader, in scratch
copies of the course (two at a time), and compared with the totals the grader gave the very
same files (``corpus.grading``). By default one entry of each kind of answer is taken (the
first of each group with the same answered functions, added cells and expected losses: 18
groups, every function and outcome), with the reference, the blank release and the entries
named in ``ALWAYS``; ``pytest --exhaustive`` takes all of them (about 90 notebooks, about
four more minutes of two cores).
Parity holds by construction: a visible test cell calls the same check functions as the
hidden block, on the visible inputs, and the grader runs those inputs too. Tampering and
hostile entries are left out: nbgrader runs student code in the kernel that runs the tests,
so some of them fool it; docs/grading.md records what each one scores under both (run this
file as a script to measure them again).

The scratch course trains 1 epoch instead of 20 in its (ungraded, read-only) training cell
and draws no pictures: nbgrader puts the gradebook's version of those cells into every
submission, and the shorter run keeps the test fast. No graded cell changes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import ENTRIES, REPOSITORY, grade_id, read_json
from corpus.grading import Graded, graded_corpus
from nbgrader.api import Gradebook

ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
MINE = [entry for entry in ENTRIES if entry.assignment == ASSIGNMENT]  # the scratch course is mnist_mlp's
HONEST = [entry for entry in MINE if entry.kind in ("mistake", "correct")]
ALWAYS = ("reference", "blank_release", "syntax_error_in_relu2deriv", "answer_uses_given_data")


def kind_of_answer(entry) -> tuple:
    """What an entry answers and how it should score: entries alike in this are graded alike."""
    return entry.kind, frozenset(entry.replace), bool(entry.append), entry.loses


def parity_sample(entries: list) -> list[str]:
    """The first entry of each kind of answer, and those in ``ALWAYS``, in corpus order."""
    firsts = {}
    for entry in entries:
        firsts.setdefault(kind_of_answer(entry), entry.name)
    chosen = set(firsts.values()) | set(ALWAYS)
    return [entry.name for entry in entries if entry.name in chosen]


def parity_names(config: pytest.Config) -> list[str]:
    return [e.name for e in HONEST] if config.getoption("exhaustive") else parity_sample(HONEST)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "parity_name" in metafunc.fixturenames:
        metafunc.parametrize("parity_name", parity_names(metafunc.config))


def make_course(folder: Path) -> Path:
    """A copy of this course (``source/`` and ``nbgrader_config.py``) in ``folder``."""
    shutil.copytree(REPOSITORY / "source", folder / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "data", "__pycache__"))
    shutil.copy2(REPOSITORY / "nbgrader_config.py", folder / "nbgrader_config.py")
    return folder


def shorten_training(course: Path) -> None:
    """1 epoch instead of 20 in the scratch course, and no pictures (ungraded, read-only cells)."""
    path = course / "source" / ASSIGNMENT / NOTEBOOK
    notebook = read_json(path)
    (cell,) = [c for c in notebook["cells"] if grade_id(c) == "hyperparameters"]
    source = "".join(cell["source"])
    assert "epochs = 20\n" in source
    cell["source"] = source.replace("epochs = 20\n", "epochs = 1\n")
    for cell in notebook["cells"]:
        if grade_id(cell) in ("show_digits", "plot_learning_curves"):
            cell["source"] = "pass  # no pictures while testing parity\n"
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


COURSES = 2  # nbgrader autograde is serial: two scratch courses grade at the same time
# Up to 90 notebooks through nbgrader at about 3 s each, after the corpus is graded (shared
# with test_grader); a loaded machine takes two or three times as long.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def totals(request, tmp_path_factory, mnist_env, nbgrader) -> tuple[dict[str, float], dict[str, float]]:
    """(nbgrader's totals, the grader's totals) for every entry ``parity_names`` chooses."""
    corpus = graded_corpus(request.config.getoption("exhaustive"))
    chosen = parity_names(request.config)
    shares = [chosen[start::COURSES] for start in range(COURSES)]
    courses = [make_course(tmp_path_factory.mktemp("parity") / "course") for _ in shares]
    for course, names in zip(courses, shares, strict=True):
        shorten_training(course)
        nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
        submit(course, corpus.runs, names)
    command = [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--create"]
    runs = [subprocess.Popen(command, cwd=course, env=mnist_env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for course in courses]
    for run in runs:
        output, _ = run.communicate(timeout=1200)
        assert run.returncode == 0, output[-3000:]
    theirs: dict[str, float | None] = {}
    for course, names in zip(courses, shares, strict=True):
        theirs |= nbgrader_totals(course, names)
    return theirs, {name: corpus.runs[name].score for name in chosen}


def test_the_sample_has_every_kind_of_answer_and_the_exhaustive_run_everything(pytestconfig):
    sample = parity_sample(HONEST)
    assert set(ALWAYS) <= set(sample) and len(HONEST) >= 80
    assert {kind_of_answer(e) for e in HONEST} == {kind_of_answer(e) for e in HONEST if e.name in sample}
    functions = {function for e in HONEST if e.name in sample for function in e.replace}
    assert functions == {"one_hot_encoding", "relu", "relu2deriv", "dropout_mask", "train_step", "evaluate",
                         "train"}
    assert parity_sample(HONEST) == sample and len(sample) < len(HONEST) / 3  # deterministic, and a sample
    expected = len(HONEST) if pytestconfig.getoption("exhaustive") else len(sample)
    assert len(parity_names(pytestconfig)) == expected


def test_same_total(totals, parity_name):
    theirs, ours = totals
    assert theirs[parity_name] == ours[parity_name]


# Not run under nbgrader, which has no memory or output limit: they would exhaust the machine.
UNBOUNDED = {"evaluate_allocates_10_gib", "train_memory_creep", "one_hot_print_flood"}


def measure(names: list[str], folder: Path, cell_timeout: int = 20) -> None:
    """Print nbgrader's and the grader's totals for ``names`` as table rows, for docs/grading.md."""
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
        measure([e.name for e in MINE if e.kind in kinds and e.name not in UNBOUNDED], Path(scratch))
