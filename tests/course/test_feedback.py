"""Students' feedback pages (autograder/course/feedback.py): no sandbox layers, student text as one
escaped line, and nbgrader's files copied only from the student's own folder, never through a link."""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path

import pytest

from autograder.course import feedback

LAYERS = "namespaces, own uid, landlock (ABI 7), seccomp, cgroup, rlimits"


def graded_record(student: str = "alice", message: str = "expected 1, got 2", notes: tuple = ()) -> dict:
    checks = [{"grade_id": "test_relu", "name": "test_values", "passed": False, "message": message}]
    tests = [{"name": "test_relu", "score": 0.0, "max_score": 10.0, "status": "failed", "output": message}]
    output = "\n".join(["Score: 0 / 10", *notes, f"isolation: {LAYERS}"])
    return {
        "schema": 1, "student": student, "assignment": "mnist_mlp", "status": "graded", "reason": "",
        "graded_at": "2025-01-20T00:00:00+00:00", "unanswered": [],
        "result": {"score": 0.0, "output": output, "tests": tests,
                   "extra_data": {"checks": checks, "artifacts": {}, "isolation": {"layers": ["seccomp"]}}},
    }


def test_the_page_shows_no_sandbox_layer():
    page = feedback.render_feedback(graded_record(notes=("cell 4 failed to run: x",)))
    assert "cell 4 failed to run" in page
    for word in ("isolation", "namespaces", "landlock", "seccomp", "cgroup", "rlimits"):
        assert word not in page


def test_student_text_is_one_escaped_line():
    record = graded_record(student="eve\u202e\n<i>x</i>", message="<script>alert(1)</script>",
                           notes=('graded "<b>mine</b>.ipynb": there is no mnist_mlp.ipynb',))
    page = feedback.render_feedback(record)
    assert "<script>" not in page and "<b>mine" not in page and "<i>x" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    title = html.unescape(page.split("<title>")[1].split("</title>")[0])
    assert title == 'mnist_mlp: feedback for "eve\\u202e\\n<i>x</i>"'


def test_a_rendering_change_makes_pages_out_of_date(tmp_path, monkeypatch):
    record = graded_record()
    page = feedback.write_feedback(record, tmp_path, "mnist_mlp")
    assert feedback.feedback_is_current(page, record)
    monkeypatch.setattr(feedback, "PAGE_FORMAT", feedback.PAGE_FORMAT + "-next")
    assert not feedback.feedback_is_current(page, record)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """``submitted/bob/mnist_mlp/`` and, outside it, what a link could lead to."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "timestamp.txt").write_text("2020-01-01 00:00:00 UTC")
    (tmp_path / "outside" / "submission_secret.txt").write_text("the instructor's secret")
    (tmp_path / "submitted" / "bob" / "mnist_mlp").mkdir(parents=True)
    return tmp_path


def copy_files(course: Path) -> Path:
    target = course / "feedback" / "bob" / "mnist_mlp"
    target.mkdir(parents=True, exist_ok=True)
    feedback.copy_nbgrader_files(course / "submitted", ("bob", "mnist_mlp"), target)
    return target


def test_nbgrader_files_are_copied_from_the_students_folder(course):
    folder = course / "submitted" / "bob" / "mnist_mlp"
    (folder / "timestamp.txt").write_text("2025-01-15 12:00:00 UTC")
    (folder / "submission_secret.txt").write_text("bob's secret")
    target = copy_files(course)
    assert (target / "timestamp.txt").read_text() == "2025-01-15 12:00:00 UTC"
    assert (target / "submission_secret.txt").read_text() == "bob's secret"


def test_linked_nbgrader_files_are_not_copied_and_old_copies_go(course):
    folder = course / "submitted" / "bob" / "mnist_mlp"
    target = copy_files(course)
    (target / "timestamp.txt").write_text("an old copy")
    for name in feedback.NBGRADER_FILES:
        (folder / name).symlink_to(course / "outside" / name)
    copy_files(course)
    assert sorted(path.name for path in target.iterdir()) == []


def test_a_linked_student_folder_gives_nothing_to_copy(course):
    real = course / "submitted" / "bob"
    real.rename(course / "bob-real")
    (course / "outside" / "mnist_mlp").mkdir()
    for name in feedback.NBGRADER_FILES:
        (course / "outside" / "mnist_mlp" / name).write_text("from outside")
    real.symlink_to(course / "outside")
    target = copy_files(course)
    assert list(target.iterdir()) == []


def test_a_pipe_does_not_block_the_copy(course):
    folder = course / "submitted" / "bob" / "mnist_mlp"
    os.mkfifo(folder / "submission_secret.txt")
    (folder / "timestamp.txt").write_text("2025-01-15 12:00:00 UTC")
    copier = threading.Thread(target=copy_files, args=(course,), daemon=True)
    copier.start()
    copier.join(timeout=60)  # a guard, not a measure: a blocked open never returns
    assert not copier.is_alive()
    target = course / "feedback" / "bob" / "mnist_mlp"
    assert sorted(path.name for path in target.iterdir()) == ["timestamp.txt"]


def test_no_control_or_bidirectional_character_reaches_a_page():
    record = graded_record(message="expected 1\ngot \x1b[2J\u202e2", notes=("printed \x07\u2066",))
    page = feedback.render_feedback(record)
    for char in ("\x1b", "\u202e", "\x07", "\u2066"):
        assert char not in page
    assert "expected 1\ngot \\x1b[2J\\u202e2" in page  # the message keeps its lines
