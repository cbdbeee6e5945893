"""The class report (autograder/course/report.py) from made-up records: tasks not attempted counted
apart from real failures, every table's denominator said, student text escaped, the sandbox's
layers counted for the instructor."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import pytest

from autograder.assignment import read_assignment
from autograder.course import report as classreport

REPOSITORY = Path(__file__).resolve().parents[2]
NOT_WRITTEN = ("relu of an array of shape (3,): relu raised NotImplementedError (Task 2 answer cell, "
               "line 4). The function is not written yet: replace raise NotImplementedError() with "
               "your code.")
WRONG = "relu2deriv of ReLU outputs: expected 0 where the output is 0, got 1. Hint: output > 0"
QUOTES_IT = 'relu raised ValueError: "raised NotImplementedError" (Task 2 answer cell, line 2)'
LAYERS = "namespaces, own uid, seccomp"


@pytest.fixture(scope="module")
def assignment():
    return read_assignment(REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb")


def record(assignment, student: str, failures: dict[str, str] | None = None, unanswered: tuple = (),
           status: str = "graded", notes: tuple = (f"isolation: {LAYERS}",)) -> dict:
    """A stored record: one check per task, failed with the message in ``failures`` (by grade id)."""
    failures = failures or {}
    checks = [] if status != "graded" else [
        {"grade_id": cell.grade_id, "name": "test_values", "passed": cell.grade_id not in failures,
         "message": failures.get(cell.grade_id, "")} for cell in assignment.graded]
    tests = [{"name": cell.grade_id, "max_score": cell.points,
              "score": 0.0 if status != "graded" or cell.grade_id in failures else cell.points}
             for cell in assignment.graded]
    score = sum(test["score"] for test in tests)
    return {
        "student": student, "status": status, "reason": "" if status == "graded" else "not a notebook",
        "unanswered": list(unanswered),
        "result": {"score": score, "output": "\n".join([f"Score: {score:g} / 100", *notes]), "tests": tests,
                   "extra_data": {"checks": checks, "isolation": {}}},
    }


@pytest.fixture(scope="module")
def report(assignment, tmp_path_factory) -> tuple[str, str]:
    """index.html and scores.csv of a class: one blank notebook, two with the same real mistake,
    one quoting "raised NotImplementedError" in its own exception, one unreadable file."""
    graded = [cell.grade_id for cell in assignment.graded]
    blank_messages = {grade_id: NOT_WRITTEN for grade_id in graded}
    records = {
        "blank": record(assignment, "blank", blank_messages, unanswered=sorted(assignment.solution_ids)),
        "mistaken": record(assignment, "mistaken", {"test_relu2deriv": WRONG}),
        "mistaken-too": record(assignment, "mistaken-too", {"test_relu2deriv": WRONG}),
        "quotes": record(assignment, "quotes", {"test_relu": QUOTES_IT}),
        "unreadable": record(assignment, "unreadable", status="unreadable", notes=("not a notebook",)),
    }
    folder = tmp_path_factory.mktemp("report")
    page = classreport.write_report(folder, "mnist_mlp", assignment, records, {})
    return html.unescape(page.read_text()), (folder / "scores.csv").read_text()


def section(page: str, heading: str) -> str:
    return page.split(f"<h2>{heading}</h2>")[1].split("<h2>")[0]


def test_the_blank_notebook_is_not_attempted_not_failed(report, assignment):
    page, _ = report
    untried = section(page, "Tasks not attempted")
    rows = re.findall(r"<code>(\w+)</code></td><td class=\"number\">(\d+) of (\d+)</td>", untried)
    counts = {grade_id: int(count) for grade_id, count, _ in rows}
    assert counts == {cell.grade_id: 1 for cell in assignment.graded}  # the blank one, for every task
    assert {total for *_, total in rows} == {"4"}  # the graded submissions
    assert "1 attempted no task at all" in " ".join(untried.split())
    failures = section(page, "Most common failure messages")
    assert "NotImplementedError()" not in failures  # the blank notebook's messages are not failures
    assert re.search(r'<td class="number">2</td><td><code>test_relu2deriv::test_values</code></td>', failures)
    assert QUOTES_IT in failures  # its own text saying so does not make a task "not attempted"


def test_every_table_says_what_it_counts(report):
    page, _ = report
    flat = " ".join(page.split())
    assert ("averaged over the 5 submissions in the gradebook: the 4 graded and the 1 that could not be read"
            in flat)
    assert "Each check over the 4 graded submissions" in flat
    assert "the 1 that could not be read ran none, so this table counts 1 fewer than the one above" in flat
    assert "0 of 5" not in section(page, "Pass rate of every check")
    checks = section(page, "Pass rate of every check")
    relu = re.search(r"test_relu::test_values</code></td><td class=\"number\">(\d+) of (\d+).*?"
                     r"<td class=\"number\">(\d+)</td></tr>", checks, re.S)
    assert relu.groups() == ("2", "4", "1")  # passed 2 of 4; of the 2 failures, 1 not attempted


def test_the_sandbox_layers_are_counted_for_the_instructor(report):
    page, _ = report
    assert f"4 submissions: {LAYERS}" in section(page, "How student code was isolated")


def test_says_not_written_ignores_the_students_own_quoted_text():
    assert classreport.says_not_written(NOT_WRITTEN)
    assert classreport.says_not_written("train: This function is not written yet.")
    assert not classreport.says_not_written(QUOTES_IT)
    assert not classreport.says_not_written(WRONG)


def test_answer_cells_are_the_solution_cells_above_each_test(assignment):
    answers = classreport.answer_cells(assignment)
    assert answers["test_relu"] == "relu_solution" and answers["test_train"] == "train_solution"
    assert set(answers) == {cell.grade_id for cell in assignment.graded}


HOSTILE = ['=HYPERLINK("http://x","y")', "+1", "-dash", "@at", "two\nlines", "bidi\u202eexe", "alice"]


def test_scores_csv_holds_no_formula_and_one_line_per_student(assignment, tmp_path):
    records = {student: record(assignment, student) for student in HOSTILE}
    classreport.write_report(tmp_path, "mnist_mlp", assignment, records, {})
    text = (tmp_path / "scores.csv").read_text()
    assert len(text.splitlines()) == len(HOSTILE) + 1 and "\u202e" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = [row["student"] for row in rows]
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert "'=HYPERLINK(\"http://x\",\"y\")" in cells and "two\\nlines" in cells and "alice" in cells
    page = (tmp_path / "index.html").read_text()
    assert "\u202e" not in page


def test_limit_hits_and_problems_name_students_as_one_line(assignment, tmp_path):
    looping = record(assignment, "loops\n\x1b[2J", {"test_relu": "relu timed out after 10 s: x < 1\u202e"})
    records = {"loops\n\x1b[2J": looping, "<b>x</b>": record(assignment, "<b>x</b>", status="unreadable")}
    page = html.unescape(classreport.write_report(tmp_path, "mnist_mlp", assignment, records, {}).read_text())
    hits = section(page, "Submissions that hit a limit or crashed")
    assert '"loops\\n\\x1b[2J"' in hits and "\x1b" not in page
    raw = (tmp_path / "index.html").read_text()
    assert "<b>x</b>" not in raw and "&lt;b&gt;x&lt;/b&gt;" in raw
    assert "relu timed out after 10 s: x &lt; 1\\u202e" in raw  # escaped once, for HTML


def test_the_workers_that_graded_are_named_for_the_instructor(assignment, tmp_path):
    records = {student: record(assignment, student) for student in ("a", "b", "c", "d")}
    for student, host in (("a", "node-1"), ("b", "node-2"), ("c", "node-1")):
        records[student]["result"]["extra_data"]["worker"] = {"host": host, "layers": ["seccomp"]}
    page = html.unescape(classreport.write_report(tmp_path, "mnist_mlp", assignment, records, {}).read_text())
    assert "Graded by the workers of a cluster, on: node-1 (2), node-2 (1)." in " ".join(page.split())
    alone = html.unescape(classreport.write_report(tmp_path, "mnist_mlp", assignment,
                                                   {"d": records["d"]}, {}).read_text())
    assert "workers of a cluster" not in alone  # graded here: nothing to say


def test_no_template_marks_text_safe():
    templates = sorted((REPOSITORY / "autograder" / "course" / "templates").glob("*.j2"))
    assert [template.name for template in templates] == ["feedback.html.j2", "report.html.j2"]
    for template in templates:
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, template.name
