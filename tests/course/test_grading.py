"""One submission's record (autograder/course/grading.py): a fault of the batch's own code while
one submission is graded is that submission's grader error, retried on the next run, and never a
traceback that stops the class."""

from __future__ import annotations

from types import SimpleNamespace

from autograder.course.grading import Grader
from autograder.course.store import ERROR, Versions
from autograder.course.submissions import Submission

FAULT = "AST constructor recursion depth mismatch (before=45, after=44)"  # Python 3.11, two threads


def test_a_fault_of_the_batch_code_is_that_submissions_grader_error(tmp_path, monkeypatch):
    course = SimpleNamespace(root=tmp_path, assignment_id="quiz", notebook_id="quiz")
    grader = Grader(course, None, Versions("assignment", "grader", "fingerprint"), None, None)

    def broken(*args):
        raise SystemError(FAULT)

    monkeypatch.setattr(grader, "_grade_copy", broken)
    notebook = tmp_path / "quiz.ipynb"
    notebook.write_text("{}")
    record = grader.record(Submission("ada", tmp_path, notebook), tmp_path)
    assert (record["student"], record["status"]) == ("ada", ERROR)
    assert record["reason"] == f"grader error, not the student's (SystemError: {FAULT})"
    assert record["result"] is None  # nothing for the gradebook: the next run grades it again
    assert list(tmp_path.iterdir()) == [notebook]  # its private folder is gone
