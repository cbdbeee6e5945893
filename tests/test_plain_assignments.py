"""Assignments written with nbgrader's metadata and plain assert cells alone, graded by the kit: the
test cells run in the grading process against the sandboxed notebook, and score cell by cell what
``nbgrader autograde`` gives the same files (but where student code fools nbgrader's kernel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from plain_course import make_course, with_answers

from autograder.assignments import load
from autograder.authoring.parity import environment, nbgrader_scores

MISTAKES = {
    "words_split_on_spaces": {"words_solution": "def words(text):\n    return text.split(' ')\n"},
    "counts_without_words": {
        "counts_solution": "def counts(text):\n    return dict(Counter(text.split()))\n"},
    "checked_raises_type_error": {"checked_solution": (
        "def checked(n):\n    if not 0 <= n <= LIMIT:\n        raise TypeError('no')\n    return n\n")},
    "greeting_lowercase_check": {"greeting_solution": "GREETING = 'Hello'\n"},
}
TAMPERING = ("from collections import Counter\n"
             "def words(text):\n    return ['wrong']\n"
             "class Everything(dict):\n    def __eq__(self, other):\n        return True\n"
             "def counts(text):\n    return Everything()\n")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = make_course(tmp_path_factory.mktemp("plain") / "course")
    env = environment(root.parent)
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "quiz", "--no-db", "--force",
                    "--log-level=WARN"], cwd=root, env=env, check=True, capture_output=True, timeout=300)
    return root


@pytest.fixture(scope="module")
def submissions(course) -> dict[str, Path]:
    source = course / "source" / "quiz" / "part_a.ipynb"
    folder = course / "inbox"
    files = {"solved": source, "blank": course / "release" / "quiz" / "part_a.ipynb"}
    for name, answers in MISTAKES.items():
        files[name] = with_answers(source, folder / name / "part_a.ipynb", answers)
    files["tampering"] = with_answers(source, folder / "tampering" / "part_a.ipynb",
                                      {"words_solution": TAMPERING, "counts_solution": "pass\n"})
    return files


def kit_scores(course: Path, notebook: Path) -> dict[str, float]:
    results = notebook.with_name(notebook.stem + "-results.json")
    process = subprocess.run([sys.executable, "-m", "autograder", str(notebook), "--assignment", "quiz",
                              "--course", str(course), "--results", str(results), "-q"],
                             capture_output=True, text=True, timeout=300)
    assert process.returncode in (0, 1), process.stderr
    return {test["name"]: test["score"] for test in json.loads(results.read_text())["tests"]}


@pytest.fixture(scope="module")
def kit(course, submissions) -> dict[str, dict[str, float]]:
    return {label: kit_scores(course, path) for label, path in submissions.items()}


@pytest.fixture(scope="module")
def nbgrader(course, submissions) -> dict[str, dict[str, float]]:
    return nbgrader_scores(load(course, "quiz", "part_a"), submissions)


def test_the_solved_notebook_gets_every_autograded_point_and_the_manual_answer_is_left_alone(kit, course):
    graded = load(course, "quiz", "part_a")
    assert kit["solved"] == {cell.grade_id: cell.points for cell in graded.assignment.graded}
    assert [cell.grade_id for cell in graded.assignment.manual] == ["explain"]
    assert "explain" not in kit["solved"]


def test_the_blank_release_gets_nothing_and_says_not_written(course, submissions, kit):
    assert set(kit["blank"].values()) == {0.0}
    results = json.loads(submissions["blank"].with_name("part_a-results.json").read_text())
    assert all("not written yet" in test["output"] for test in results["tests"]), results["tests"]


@pytest.mark.parametrize("label", ["solved", "blank", *MISTAKES])
def test_nbgrader_and_the_kit_agree_cell_by_cell(kit, nbgrader, label):
    assert kit[label] == nbgrader[label]


def test_each_mistake_loses_its_cells(kit):
    lost = {label: {g for g, score in scores.items() if not score} for label, scores in kit.items()}
    assert lost["words_split_on_spaces"] == {"test_words"}
    assert lost["counts_without_words"] == {"test_counts", "test_uses_words"}
    assert lost["checked_raises_type_error"] == {"test_checked"}
    assert lost["greeting_lowercase_check"] == set()  # 'Hello'.upper() is 'HELLO' too


def test_code_that_fools_nbgrader_does_not_fool_the_kit(kit, nbgrader):
    """An object equal to everything passes nbgrader's ``==`` in the kernel; here it arrives as a
    handle, never equal to the expected dict."""
    assert kit["tampering"]["test_counts"] == 0 < nbgrader["tampering"]["test_counts"]
    assert kit["tampering"]["test_words"] == 0 == nbgrader["tampering"]["test_words"]


def test_the_second_notebook_of_the_assignment_grades_on_its_own(course, tmp_path):
    graded = load(course, "quiz", "part_b")
    assert [cell.grade_id for cell in graded.assignment.graded] == ["test_square"]
    assert kit_scores(course, course / "source" / "quiz" / "part_b.ipynb") == {"test_square": 2.0}
