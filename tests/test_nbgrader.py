"""End to end through nbgrader, in a scratch copy of the course: release, autograde, feedback, export.

Students (all autograded in one call):

- ``solved``: hands in the instructor's source notebook;
- ``typed``: the release with the solutions typed into the answer cells (no solution markers);
- ``blank``: hands in the release untouched;
- ``wrong_relu2deriv``: like ``typed``, but with the tutorial's ``output >= 0`` in relu2deriv;
- ``deleted_test``: like ``typed``, but the test cell of relu was deleted (nbgrader puts it back).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest
from corpus import points_of
from nbgrader.api import Gradebook

ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
POINTS = points_of(ASSIGNMENT)  # from the notebook's metadata
TOTAL = sum(POINTS.values())
EXPECTED_TOTAL = {
    "solved": TOTAL,
    "typed": TOTAL,
    "blank": 0,
    "wrong_relu2deriv": TOTAL - POINTS["test_relu2deriv"],
    "deleted_test": TOTAL,
}
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def typed_in(source_path: Path, release_path: Path, edit=None, drop: str | None = None):
    """The release notebook with each answer cell replaced by the source's solution, as a student
    would type it (markers removed); ``edit(grade_id, text)`` may change an answer."""
    solutions = {
        grade_id(cell): SOLUTION_MARKERS.sub("", cell.source)
        for cell in nbformat.read(source_path, as_version=4).cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }
    notebook = nbformat.read(release_path, as_version=4)
    for cell in notebook.cells:
        if grade_id(cell) in solutions:
            cell.source = solutions[grade_id(cell)]
            if edit:
                cell.source = edit(grade_id(cell), cell.source)
    notebook.cells = [cell for cell in notebook.cells if drop is None or grade_id(cell) != drop]
    return notebook


def use_tutorial_derivative(cell_id: str, text: str) -> str:
    if cell_id != "relu2deriv_solution":
        return text
    assert "output > 0" in text
    return text.replace("output > 0", "output >= 0")


@pytest.fixture(scope="module")
def course(module_course: Path, mnist_env, nbgrader) -> Path:
    """The scratch course after generate_assignment (with the gradebook), autograde,
    generate_feedback and export."""
    course = module_course
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    source = course / "source" / ASSIGNMENT / NOTEBOOK
    release = course / "release" / ASSIGNMENT / NOTEBOOK
    submissions = {
        "solved": nbformat.read(source, as_version=4),
        "typed": typed_in(source, release),
        "blank": nbformat.read(release, as_version=4),
        "wrong_relu2deriv": typed_in(source, release, edit=use_tutorial_derivative),
        "deleted_test": typed_in(source, release, drop="test_relu"),
    }
    assert len(submissions["deleted_test"].cells) == len(submissions["typed"].cells) - 1
    for student, notebook in submissions.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / NOTEBOOK)
    nbgrader(course, "autograde", ASSIGNMENT, "--create", env=mnist_env)
    nbgrader(course, "generate_feedback", ASSIGNMENT)
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    return course


def cell_scores(course: Path, student: str) -> dict[str, tuple[float, float]]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(NOTEBOOK[: -len(".ipynb")], ASSIGNMENT, student)
        return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades}


def test_release_from_the_gradebook_course_matches_the_committed_one(course):
    committed = nbformat.read(Path(__file__).parent.parent / "release" / ASSIGNMENT / NOTEBOOK, 4)
    fresh = nbformat.read(course / "release" / ASSIGNMENT / NOTEBOOK, 4)
    assert [c.source for c in fresh.cells] == [c.source for c in committed.cells]


@pytest.mark.parametrize("student", sorted(EXPECTED_TOTAL))
def test_autograde_scores(course, student):
    scores = cell_scores(course, student)
    assert {name: max_score for name, (_, max_score) in scores.items()} == POINTS
    got = {name: score for name, (score, _) in scores.items()}
    expected = {name: 0 if student == "blank" else points for name, points in POINTS.items()}
    if student == "wrong_relu2deriv":
        expected["test_relu2deriv"] = 0  # that function's points, and nothing else
    assert got == expected
    assert sum(got.values()) == EXPECTED_TOTAL[student]


def test_deleted_test_cell_was_put_back(course):
    graded = nbformat.read(course / "autograded" / "deleted_test" / ASSIGNMENT / NOTEBOOK, 4)
    restored = [cell for cell in graded.cells if grade_id(cell) == "test_relu"]
    assert len(restored) == 1 and "was missing from the submission" in restored[0].source


def test_wrong_function_is_explained(course):
    graded = nbformat.read(course / "autograded" / "wrong_relu2deriv" / ASSIGNMENT / NOTEBOOK, 4)
    (cell,) = [cell for cell in graded.cells if grade_id(cell) == "test_relu2deriv"]
    errors = [output for output in cell.outputs if output.output_type == "error"]
    assert errors and "use > rather than >=" in errors[0].evalue


def test_feedback_html(course):
    for student, total in EXPECTED_TOTAL.items():
        page = course / "feedback" / student / ASSIGNMENT / NOTEBOOK.replace(".ipynb", ".html")
        scores = re.findall(r"Score: ([0-9.]+) / ([0-9.]+)", page.read_text(encoding="utf-8"))
        assert scores[0] == (f"{total:.1f}", f"{TOTAL:.1f}"), f"{student}: {scores[:1]}"
    wrong = course / "feedback" / "wrong_relu2deriv" / ASSIGNMENT / "mnist_mlp.html"
    # The hint is wrapped to the width nbgrader's dialog and command line show.
    assert "use &gt; rather than &gt;=" in " ".join(wrong.read_text(encoding="utf-8").split())


def test_export_csv(course):
    with open(course / "grades.csv", newline="") as stream:
        rows = {row["student_id"]: row for row in csv.DictReader(stream)}
    assert set(rows) == set(EXPECTED_TOTAL)
    for student, total in EXPECTED_TOTAL.items():
        assert rows[student]["assignment"] == ASSIGNMENT
        assert float(rows[student]["score"]) == total
        assert float(rows[student]["max_score"]) == TOTAL


def test_nothing_written_outside_the_course(course):
    # The MNIST files came from MNIST_DATA_DIR: no submission downloaded a data/ folder.
    assert not list(course.glob("autograded/*/*/data"))
