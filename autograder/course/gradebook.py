"""nbgrader's gradebook, written as ``nbgrader autograde`` writes it.

Through nbgrader's own ``Gradebook`` API and ORM models: ``ensure_assignment`` puts a missing
assignment into the gradebook with nbgrader's ``GenerateAssignment`` converter (and brings its
points up to date while it holds no submission); ``record`` writes one student's submission as
``nbgrader autograde`` would: the student, the submission with its timestamp, an ``auto_score``
for every grade cell (``needs_manual_grade`` false unless a grader already gave a manual score),
the "No response." comment of unanswered solution cells, and the late penalty.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from autograder.course.late import LatePolicy
from autograder.course.nbgrader_course import Course, CourseError

NO_RESPONSE = "No response."


@dataclass(frozen=True)
class GradebookAssignment:
    """What the gradebook knows of the assignment: due date and the release text of answer cells;
    ``updated``: how this run brought its points up to date ('' when it did not have to)."""

    duedate: datetime | None
    solution_sources: dict[str, str]
    updated: str = ""


@dataclass(frozen=True)
class _Recorded:
    """The gradebook's grade cells of the notebook (name -> points) and its submissions."""

    cells: dict[str, float]
    submissions: int


def ensure_assignment(course: Course) -> GradebookAssignment:
    """Make sure the gradebook has the assignment with the source notebook's grade cells.

    A missing assignment or notebook is added as ``nbgrader generate_assignment`` adds it
    (its converter runs, writing its release into a temporary folder, not ``release/``).
    Grade cells whose ids or points differ from the source notebook's (the points changed
    and ``make release`` ran with ``--no-db``) are brought up to date the same way, as
    ``nbgrader generate_assignment --force`` would, while the gradebook holds no submission
    of the notebook. With submissions (grades a change would leave out of step) it is a
    ``CourseError`` naming the command that updates them.
    """
    expected = source_grade_cells(course.source_notebook)
    recorded = _recorded(course)
    updated = ""
    if recorded is None:
        _generate_assignment(course)
    elif recorded.cells != expected:
        if recorded.submissions:
            raise CourseError(_stale_message(course, recorded, expected))
        _generate_assignment(course)
        updated = (f"the grade cells of {course.assignment_id}/{course.notebook_id} now have the source "
                   f"notebook's points ({_changes(recorded.cells, expected)})")
    with course.gradebook() as gb:
        notebook = gb.find_notebook(course.notebook_id, course.assignment_id)
        cells = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
        if cells != expected:
            raise CourseError(
                f"the gradebook's grade cells of {course.assignment_id}/{course.notebook_id} "
                f"({_points(cells)}) differ from the source notebook's ({_points(expected)}) after "
                f"nbgrader's update; run 'nbgrader generate_assignment {course.assignment_id} --force' "
                "from the course root and see what it says"
            )
        return GradebookAssignment(
            duedate=notebook.assignment.duedate,
            solution_sources={
                cell.name: _source_cell(gb, course, cell.name) for cell in notebook.solution_cells
            },
            updated=updated,
        )


def source_grade_cells(notebook: Path) -> dict[str, float]:
    """The grade cells of the source notebook as nbgrader records them: every cell marked
    ``grade`` (autograded tests and answers graded by hand), grade id -> points."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if isinstance(meta, dict) and meta.get("grade") and isinstance(meta.get("grade_id"), str):
            found[meta["grade_id"]] = float(meta.get("points", 0))
    return found


def _recorded(course: Course) -> _Recorded | None:
    """The gradebook's grade cells and submissions of the notebook; None if it has no such notebook."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        try:
            notebook = gb.find_notebook(course.notebook_id, course.assignment_id)
        except MissingEntry:
            return None
        cells = {cell.name: float(cell.max_score) for cell in notebook.grade_cells}
        return _Recorded(cells, len(notebook.submissions))


def _stale_message(course: Course, recorded: _Recorded, expected: dict[str, float]) -> str:
    """Why the batch stops, and the exact command that brings the gradebook up to date."""
    assignment_id = course.assignment_id
    what = (f"the gradebook's grade cells of {assignment_id}/{course.notebook_id} differ from the source "
            f"notebook's ({_changes(recorded.cells, expected)}), and the gradebook holds "
            f"{recorded.submissions} submission(s) of it, whose grades an update would leave out of "
            "step, so the batch does not change them itself")
    if set(recorded.cells) == set(expected):
        return (f"{what}. To update the points, run from the course root "
                f"'nbgrader generate_assignment {assignment_id} --force' (it also writes release/); "
                "the batch then grades every submission again with the new points")
    # nbgrader itself refuses to add or remove grade cells of a notebook with submissions.
    due = _duedate(course)
    command = f"nbgrader db assignment remove {assignment_id} --force"
    if due:
        command += f' && nbgrader db assignment add {assignment_id} --duedate="{due}"'
    return (f"{what}, and nbgrader cannot add or remove grade cells while there are submissions. "
            f"To start the assignment's gradebook afresh (this deletes every grade of it, manual "
            f"grades, comments and extensions included), run from the course root '{command}'; "
            "the batch then grades every submission again and records its scores")


def _duedate(course: Course) -> str:
    with course.gradebook() as gb:
        duedate = gb.find_assignment(course.assignment_id).duedate
    return f"{duedate:%Y-%m-%d %H:%M:%S} UTC" if duedate else ""


def _changes(old: dict[str, float], new: dict[str, float]) -> str:
    """``test_square 10 -> 15 points, test_extra added (5 points)``: what differs."""
    changes = []
    for cell in [*old, *(cell for cell in new if cell not in old)]:
        if cell not in new:
            changes.append(f"{cell} removed")
        elif cell not in old:
            changes.append(f"{cell} added ({new[cell]:g} points)")
        elif old[cell] != new[cell]:
            changes.append(f"{cell} {old[cell]:g} -> {new[cell]:g} points")
    return ", ".join(changes)


def _points(cells: dict[str, float]) -> str:
    return ", ".join(f"{name} {points:g}" for name, points in cells.items()) or "none"


def _source_cell(gb: Any, course: Course, name: str) -> str:
    return gb.find_source_cell(name, course.notebook_id, course.assignment_id).source


def _generate_assignment(course: Course) -> None:
    """Put the source notebook's cells into the gradebook through nbgrader's converter (its
    release goes to a temporary folder); ``CourseError`` when nbgrader refuses."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory

    scratch = Path(tempfile.mkdtemp(prefix="autograder-release-"))
    try:
        coursedir = CourseDirectory(config=course.config)
        coursedir.root = str(course.root)
        coursedir.release_directory = str(scratch)
        coursedir.assignment_id = course.assignment_id
        converter = GenerateAssignment(coursedir=coursedir, config=course.config)
        converter.log.setLevel(logging.WARNING)
        converter.start()
    except NbGraderException as error:
        raise CourseError(
            f"nbgrader could not put {course.assignment_id} into the gradebook ({error}); run "
            f"'nbgrader generate_assignment {course.assignment_id} --force' from the course root to see why"
        ) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass
class Entry:
    """One student's submission of the assignment: in the gradebook, or as it should be there."""

    scores: dict[str, float | None]  # auto_score per grade cell
    manual: dict[str, bool] = field(default_factory=dict)  # whether a grader set a manual score
    total: float = 0.0  # the notebook's score as nbgrader computes it (manual scores first)
    timestamp: datetime | None = None
    penalty: float | None = None
    no_response: frozenset[str] = frozenset()  # solution cells with the "No response." comment
    needs_manual: dict[str, bool] = field(default_factory=dict)


def read_entries(course: Course, gb: Any) -> dict[str, Entry]:
    """Every student's gradebook entry for the assignment's notebook, in three queries."""
    from nbgrader.api import (
        Assignment as DbAssignment,
    )
    from nbgrader.api import (
        BaseCell,
        Comment,
        Grade,
        Notebook,
        SubmittedAssignment,
        SubmittedNotebook,
    )

    def query(*columns: Any, joins: tuple = ()) -> Any:
        rows = (
            gb.db.query(*columns)
            .select_from(SubmittedNotebook)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .join(DbAssignment, DbAssignment.id == SubmittedAssignment.assignment_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
        )
        for table, condition in joins:
            rows = rows.join(table, condition)
        return rows.filter(DbAssignment.name == course.assignment_id, Notebook.name == course.notebook_id)

    entries: dict[str, Entry] = {}
    for student, timestamp, penalty in query(
        SubmittedAssignment.student_id, SubmittedAssignment.timestamp,
        SubmittedNotebook.late_submission_penalty,
    ):
        entries[student] = Entry(scores={}, timestamp=timestamp, penalty=penalty)
    grades = ((Grade, Grade.notebook_id == SubmittedNotebook.id), (BaseCell, BaseCell.id == Grade.cell_id))
    for student, name, auto, manual, score, needs in query(
        SubmittedAssignment.student_id, BaseCell.name, Grade.auto_score, Grade.manual_score, Grade.score,
        Grade.needs_manual_grade, joins=grades,
    ):
        entry = entries[student]
        entry.scores[name] = auto
        entry.manual[name] = manual is not None
        entry.needs_manual[name] = bool(needs)
        entry.total += float(score or 0.0)
    comments = (
        (Comment, Comment.notebook_id == SubmittedNotebook.id), (BaseCell, BaseCell.id == Comment.cell_id)
    )
    for student, name in query(SubmittedAssignment.student_id, BaseCell.name, joins=comments).filter(
        Comment.auto_comment == NO_RESPONSE
    ):
        entries[student].no_response |= {name}
    return entries


def read_extensions(course: Course, gb: Any) -> dict[str, timedelta]:
    """Students' due-date extensions for the assignment (set in formgrader or the database)."""
    from nbgrader.api import Assignment as DbAssignment
    from nbgrader.api import SubmittedAssignment

    rows = (
        gb.db.query(SubmittedAssignment.student_id, SubmittedAssignment.extension)
        .join(DbAssignment, DbAssignment.id == SubmittedAssignment.assignment_id)
        .filter(DbAssignment.name == course.assignment_id, SubmittedAssignment.extension.isnot(None))
    )
    return {student: extension for student, extension in rows}


def in_sync(actual: Entry | None, wanted: Entry, student: str, policy: LatePolicy) -> bool:
    """Whether the gradebook already holds ``wanted`` (and the penalty nbgrader would give)."""
    if actual is None or actual.scores != wanted.scores or actual.no_response != wanted.no_response:
        return False
    if any(actual.needs_manual.get(name) != actual.manual.get(name) for name in actual.scores):
        return False
    if wanted.timestamp is not None and actual.timestamp != wanted.timestamp:
        return False
    expected = policy.penalty(student, actual.total, policy.seconds_late(student, actual.timestamp))
    return actual.penalty == expected


def record(course: Course, gb: Any, student: str, wanted: Entry, policy: LatePolicy) -> float | None:
    """Write one student's submission as ``nbgrader autograde`` would; returns the late penalty.

    Idempotent: the student and the submission are created once and updated after that.
    """
    gb.update_or_create_student(student)
    if wanted.timestamp is not None:
        submission = gb.update_or_create_submission(course.assignment_id, student, timestamp=wanted.timestamp)
    else:
        submission = gb.update_or_create_submission(course.assignment_id, student)
    notebook = gb.find_submission_notebook(course.notebook_id, course.assignment_id, student)
    for grade in notebook.grades:
        grade.auto_score = wanted.scores.get(grade.name)
        grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
    for comment in notebook.comments:
        comment.auto_comment = NO_RESPONSE if comment.name in wanted.no_response else None
    gb.db.commit()
    # As AssignLatePenalties: from the notebook's score (manual scores first) and the
    # submission's lateness (due date plus any extension).
    penalty = policy.penalty(student, float(notebook.score), float(submission.total_seconds_late))
    notebook.late_submission_penalty = penalty
    gb.db.commit()
    return penalty
