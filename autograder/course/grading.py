"""One submission's record: its notebook copied privately, graded by an engine, its result read.

The engine (``LocalEngine`` here, ``cluster.DaskEngine`` on a Dask cluster) grades a private
copy of the notebook and says how it went (``processes.GraderRun``); everything else happens
where the batch runs, the same whichever engine graded: the copy, taken without following a
link; the status (graded, unreadable, not graded); the note for a renamed notebook; and the
digests of the answer cells, from which the answer cells still as released are found
(``unanswered``: nbgrader's "No response."), once the gradebook's release text is known.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from autograder.assignment import Assignment
from autograder.assignments import load, mismatch
from autograder.course.processes import GraderRun, Processes, run_grader
from autograder.course.store import ERROR, GRADED, MISSING, UNREADABLE, Versions, new_record
from autograder.course.submissions import Submission, copy_notebook
from autograder.sandbox import Limits
from autograder.studentfiles import Refused, label

MAX_DIGESTS = 8  # of one answer cell's id: a notebook with more such cells is a student's edit


class Engine(Protocol):
    """What grades a private copy of a notebook."""

    capacity: int  # submissions it grades at once (the batch's threads waiting for it)
    stopping: bool  # set once interrupted: its failures are no grader's verdict

    def grade(self, notebook: Path, scratch: Path) -> GraderRun: ...

    def stop(self) -> None: ...


class LocalEngine:
    """Grading processes on this machine, ``jobs`` at a time, forked from this process's forkserver."""

    def __init__(self, assignment_notebook: Path, limits: Limits, cwd: Path, allow_unisolated: bool,
                 jobs: int, warm: str = "") -> None:
        self.processes = Processes(warm=warm)
        self.assignment_notebook, self.limits, self.cwd = assignment_notebook, limits, cwd
        self.allow_unisolated = allow_unisolated
        self.capacity = jobs

    @property
    def stopping(self) -> bool:
        return self.processes.stopping

    def grade(self, notebook: Path, scratch: Path) -> GraderRun:
        return run_grader(self.processes, notebook, scratch, self.assignment_notebook, self.limits,
                          self.cwd, self.allow_unisolated)

    def stop(self) -> None:
        self.processes.stop()


def answer_digests(notebook: Path, solution_ids: frozenset[str]) -> dict[str, list[str]]:
    """SHA-256 of the text of each cell of ``notebook`` that carries an answer cell's grade id."""
    from autograder.submission import SubmissionError, cell_source, nbgrader_metadata, read_notebook

    try:
        cells = read_notebook(notebook)["cells"]
    except SubmissionError:
        return {}
    found: dict[str, set[str]] = {}
    for cell in cells:
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id in solution_ids:
            found.setdefault(grade_id, set()).add(_digest(cell_source(cell)))
    return {grade_id: sorted(digests)[:MAX_DIGESTS] for grade_id, digests in sorted(found.items())}


def unanswered(answers: dict[str, list[str]], released: dict[str, str]) -> list[str]:
    """The answer cells whose text is as released (``released``: grade id -> the release's text)."""
    return sorted(grade_id for grade_id, digests in answers.items()
                  if grade_id in released and _digest(released[grade_id]) in digests)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


_PARSING = threading.Lock()


@dataclass
class Grader:
    """Makes the records of one assignment's submissions. ``released``: the gradebook's text of
    each answer cell as released (None where no gradebook is open: a shard leaves ``unanswered``
    to the merge, from the record's digests)."""

    course: Any  # nbgrader_course.Course
    assignment: Assignment
    versions: Versions
    engine: Engine
    released: dict[str, str] | None
    # ``assignments.load`` that reads each of the course's notebooks once a batch
    _read: Callable[..., Any] = field(default_factory=lambda: functools.cache(load), init=False, repr=False)

    def record(self, submission: Submission, scratch: Path) -> dict[str, Any]:
        """Grade one submission (in a private folder of ``scratch``); its record. A fault of the
        batch's own code here is that submission's grader error, retried on the next run: the
        rest of the class is graded."""
        if submission.notebook is None:
            return self.zero_record(submission, submission.problem_status, submission.problem)
        private = Path(tempfile.mkdtemp(dir=scratch))
        try:
            return self._grade_copy(submission, scratch, private)
        except Exception as error:  # noqa: BLE001 - one submission's fault of ours stops no batch
            why = f"grader error, not the student's ({type(error).__name__}: {error})"
            return self.zero_record(submission, ERROR, why)
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def zero_record(self, submission: Submission, status: str, reason: str,
                    described: dict[str, Any] | None = None) -> dict[str, Any]:
        """No notebook graded: 0 points for a missing or unreadable one, no result for an error;
        ``described``: the file it was (a rerun then skips it until it changes)."""
        from autograder.report import to_gradescope, zero_grade

        scored = status in (MISSING, UNREADABLE)
        result = to_gradescope(zero_grade(self.assignment, reason, "visible")) if scored else None
        return new_record(submission.student, self.course.assignment_id, status, self.versions,
                          submission=described, result=result, reason=reason)

    def _of_another_assignment(self, notebook: Path) -> str:
        """Why the copied ``notebook`` is not one of this assignment's (its grade ids say whose it
        is), or "" (the single-file grader would refuse it as a usage error)."""
        course, read = self.course, self._read
        with _PARSING:  # Python 3.11's ast.parse is not safe in threads that run at once
            graded = read(course.root, course.assignment_id, course.notebook_id)
            return mismatch(notebook, course.root, graded, loader=read)

    def _grade_copy(self, submission: Submission, scratch: Path, private: Path) -> dict[str, Any]:
        assert submission.notebook is not None
        notebook = private / submission.notebook.name
        try:
            described = copy_notebook(self.course, submission, notebook).describe(self.course.root)
        except Refused as refused:  # made a link (or a pipe) since it was discovered
            return self.zero_record(submission, UNREADABLE, str(refused))
        except OSError as error:
            where = label([submission.student, submission.notebook.name])
            return self.zero_record(submission, ERROR, f"{where}: cannot be read ({error.strerror})")
        elsewhere = self._of_another_assignment(notebook)
        if elsewhere:  # the student handed in the wrong notebook: theirs to fix, not the grader's
            return self.zero_record(submission, UNREADABLE, elsewhere, described)
        run = self.engine.grade(notebook, scratch)
        student, assignment_id = submission.student, self.course.assignment_id
        if run.result is None:
            return new_record(student, assignment_id, ERROR, self.versions, submission=described,
                              reason=run.problem, seconds=run.seconds)
        result = run.result
        if submission.note:
            result["output"] += "\n" + submission.note
        if not result["extra_data"]["checks"]:  # the single-file grader could not read the notebook
            reason = (result["output"].splitlines()[1:] or ["not a notebook"])[0]
            return new_record(student, assignment_id, UNREADABLE, self.versions, submission=described,
                              result=result, reason=reason, seconds=run.seconds)
        answers = answer_digests(notebook, self.assignment.solution_ids)
        return new_record(
            student, assignment_id, GRADED, self.versions, submission=described, result=result,
            seconds=run.seconds, answers=answers,
            unanswered=unanswered(answers, self.released) if self.released is not None else None,
        )
