"""Turn check outcomes into a grade: per grade id all-or-nothing, as nbgrader scores a cell.

Writes Gradescope's ``results.json`` format and prints a table for people.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import text
from autograder.assignment import Assignment
from autograder.runner import CheckOutcome

MAX_MESSAGE = 2000  # characters of one check's message in the results
MAX_NOTES = 40
NOT_WRITTEN = "NotImplementedError"


@dataclass
class GradeResult:
    """The grade of one submission: a test entry per graded cell, a total, and notes."""

    tests: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the grader's, for instructors (isolation...)
    student_notes: list[str] = field(default_factory=list)  # about the notebook: follow the visibility
    assignment: str = ""
    checks: list[CheckOutcome] = field(default_factory=list)
    artifacts: dict = field(default_factory=dict)
    isolation: dict = field(default_factory=dict)
    execution_time: float = 0.0
    grader_peak_bytes: int = 0  # the grading process's own peak resident memory

    @property
    def score(self) -> float:
        return sum(test["score"] for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test["max_score"] for test in self.tests)

    @property
    def full_marks(self) -> bool:
        return bool(self.tests) and self.score == self.max_score


def grade(assignment: Assignment, outcomes: list[CheckOutcome], visibility: str) -> GradeResult:
    """Score each graded cell of ``assignment``: its points if all its checks passed, else 0."""
    result = GradeResult(checks=[_capped(o) for o in outcomes])
    outcomes = result.checks
    for cell in assignment.graded:
        mine = [o for o in outcomes if o.grade_id == cell.grade_id]
        if not mine:
            raise RuntimeError(f"no check ran for grade id {cell.grade_id!r}")
        passed = all(o.passed for o in mine)
        if not_written(mine):
            lines = [f"NOT WRITTEN {cell.grade_id}: {unwritten(mine)} not written yet (the answer cell still "
                     "raises NotImplementedError)"]
        else:
            lines = [f"{'PASS' if o.passed else 'FAIL'} {o.name}" + ("" if o.passed else f": {o.message}")
                     for o in mine]
        result.tests.append({
            "name": cell.grade_id,
            "score": cell.points if passed else 0.0,
            "max_score": cell.points,
            "status": "passed" if passed else "failed",
            "output": "\n".join(lines),
            "visibility": visibility,
        })
    return result


UNWRITTEN = re.compile(rf"\b(\w+) raised {NOT_WRITTEN}")


def unwritten(outcomes: list[CheckOutcome]) -> str:
    """``fit is``, ``square and fit are``: the functions the messages say are not written."""
    names = list(dict.fromkeys(m for o in outcomes for m in UNWRITTEN.findall(o.message))) or ["the task"]
    return " and ".join(names) + (" are" if len(names) > 1 else " is")


def not_written(outcomes: list[CheckOutcome]) -> bool:
    """Whether every check of a cell failed because its function still raises NotImplementedError."""
    return bool(outcomes) and all(not o.passed and f"raised {NOT_WRITTEN}" in o.message for o in outcomes)


def clip(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to ``limit`` characters, saying so."""
    if len(message) <= limit:
        return message
    return message[:limit] + f"... ({len(message) - limit} more characters)"


def _capped(outcome: CheckOutcome) -> CheckOutcome:
    return CheckOutcome(outcome.grade_id, clip(outcome.name, 200), outcome.passed, clip(outcome.message),
                        outcome.seconds)


def zero_grade(assignment: Assignment, reason: str, visibility: str) -> GradeResult:
    """A submission that could not be read or run: every cell 0, with the reason."""
    reason = clip(reason)
    result = GradeResult(student_notes=[reason])
    for cell in assignment.graded:
        result.tests.append({
            "name": cell.grade_id, "score": 0.0, "max_score": cell.points, "status": "failed",
            "output": f"not graded: {reason}", "visibility": visibility,
        })
    return result


def to_gradescope(result: GradeResult, visibility: str = "visible") -> dict:
    """Gradescope's results.json structure (extra details under ``extra_data``).

    The top-level ``output`` is shown to students at once, whatever the tests' visibility: it
    holds the score, and the notes about the notebook only when the tests are visible; else
    those go into a test of 0 points that has the tests' visibility. The grader's own notes
    (the isolation it had) are for instructors: under ``extra_data``.
    """
    summary = f"Score: {result.score:g} / {result.max_score:g}"
    notes = notes_of(result.student_notes)
    tests = list(result.tests)
    if notes and visibility != "visible":
        tests.append({"name": "notes on the notebook", "score": 0.0, "max_score": 0.0, "status": "passed",
                      "output": "\n".join(notes), "visibility": visibility})
        notes = []
    return {
        "score": result.score,
        "execution_time": round(result.execution_time, 3),
        "output": "\n".join([summary, *notes]),
        "tests": tests,
        "extra_data": {
            "assignment": result.assignment,
            "max_score": result.max_score,
            "notes": notes_of(result.notes),
            "student_notes": notes_of(result.student_notes),
            "isolation": result.isolation,
            "grader_peak_bytes": result.grader_peak_bytes,
            "artifacts": result.artifacts,
            "checks": [
                {"grade_id": c.grade_id, "name": c.name, "passed": c.passed, "message": c.message,
                 "seconds": round(c.seconds, 3)}
                for c in result.checks
            ],
        },
    }


def notes_of(notes: list[str]) -> list[str]:
    """The notes, each capped and on one line, at most ``MAX_NOTES`` of them."""
    kept = [text.one_line(clip(note)) for note in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        kept.append(f"... and {len(notes) - MAX_NOTES} more notes")
    return kept


def new_file_mode() -> int:
    """The mode a new file gets under this process's umask (0644 under the usual 022).

    Read from ``/proc/self/status`` where it can be, so that no thread ever sees the umask
    changed; elsewhere set and restored at once."""
    try:
        with open("/proc/self/status") as status:
            mask = next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def write_json_atomically(data: dict, path: str | os.PathLike) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place, readable as any
    new file is (not the temporary file's 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False)
    try:
        with handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.chmod(handle.name, new_file_mode())
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)  # nothing half-done is left beside the file
        raise


def table(result: GradeResult) -> str:
    """A plain-text table: one row per graded cell, failing checks' messages below it."""
    width = max([len(t["name"]) for t in result.tests] + [5])
    rows = [f"{'check':<{width}}  {'points':>9}  status", "-" * (width + 19)]
    for test in result.tests:
        points = f"{test['score']:g}/{test['max_score']:g}"
        rows.append(f"{test['name']:<{width}}  {points:>9}  {test['status']}")
        rows.extend(f"    {text.one_line(line)}" for line in failing_lines(test["output"]))
    rows.append("-" * (width + 19))
    total = f"{result.score:g}/{result.max_score:g}"
    rows.append(f"{'total':<{width}}  {total:>9}")
    rows.extend(notes_of(result.student_notes) + notes_of(result.notes))
    return "\n".join(rows)


def failing_lines(output: str) -> list[str]:
    """A test's failing checks, one line each (a message's hint joined to it)."""
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(("FAIL", "NOT WRITTEN")):
            lines.append(line)
        elif lines and not line.startswith("PASS"):
            lines[-1] += " " + line
    return lines
