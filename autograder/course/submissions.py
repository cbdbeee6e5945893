"""Which students submitted, and which notebook of each is graded.

Every ``submitted/<student>/<assignment>/`` (as ``nbgrader collect`` or ``zip_collect`` leave
them) is read without following a link (``autograder.studentfiles``): a link, a pipe or a device
where a folder, the notebook or its ``timestamp.txt`` should be is refused with a reason for the
student, and nothing it points to is read. The notebook graded is ``<notebook id>.ipynb``, else
the folder's only notebook (with a note for the student).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder.course.store import ERROR, MISSING, UNREADABLE, SubmittedFile, is_current
from autograder.studentfiles import (
    FILE,
    FOLDER,
    Entry,
    Refused,
    copy_file,
    entries,
    label,
    open_folder,
    read_file,
    refusal,
)
from autograder.submission import MAX_NOTEBOOK_BYTES

NOTEBOOK_FILE = "notebook file"
TIMESTAMP = "timestamp.txt"
TIMESTAMP_BYTES = 4096  # nbgrader writes one line of 30 characters


@dataclass
class Submission:
    """One student's folder in ``submitted/`` and the notebook in it that is graded."""

    student: str
    folder: Path
    notebook: Path | None
    problem: str = ""  # why there is no notebook to grade
    # MISSING (no notebook: scored 0, as nbgrader scores a missing one), UNREADABLE (a link, a
    # pipe... where the notebook or its folder should be: scored 0) or ERROR (not graded)
    problem_status: str = MISSING
    note: str = ""  # something the student should know (a renamed notebook)
    timestamp: datetime | None = None
    file: SubmittedFile | None = None

    def refuse(self, reason: str, status: str = UNREADABLE) -> Submission:
        """No notebook to grade, for ``reason``."""
        self.notebook, self.file, self.problem, self.problem_status = None, None, reason, status
        return self


def is_current_for(record: dict[str, Any] | None, submission: Submission, fingerprint: str) -> bool:
    """Whether ``record`` grades ``submission`` as it is now: the same file graded by the same
    grader, or, without a notebook, recorded so for the same reason (never a failure to read it)."""
    if submission.problem and submission.problem_status == ERROR:
        return False
    if submission.notebook is None:
        return (record is not None and record["status"] == submission.problem_status
                and record["reason"] == submission.problem and record["fingerprint"] == fingerprint)
    assert submission.file is not None
    return is_current(record, submission.file.sha256, fingerprint)


def choose_notebook(listing: list[Entry], notebook_id: str) -> tuple[str | None, str, str]:
    """``(name, problem, note)`` from the entries of a student's folder: ``<notebook_id>.ipynb``,
    else the folder's only notebook; ``Refused`` when the one chosen is a link, a pipe, a device."""
    expected = f"{notebook_id}.ipynb"
    notebooks = [entry for entry in listing if entry.name.endswith(".ipynb") and entry.kind != FOLDER]
    chosen = next((entry for entry in notebooks if entry.name == expected), None)
    note = ""
    if chosen is None and len(notebooks) == 1:
        chosen = notebooks[0]
        note = f"graded {label([chosen.name])}: there is no {expected} in the submission"
    if chosen is None and not notebooks:
        return None, f"no notebook submitted: {expected} is not in the submission", ""
    if chosen is None:
        names = ", ".join(label([entry.name]) for entry in notebooks)
        return None, f"{len(notebooks)} notebooks ({names}) and none of them is {expected}", ""
    if chosen.kind != FILE:
        raise Refused(refusal([chosen.name], chosen.kind, NOTEBOOK_FILE))
    return chosen.name, "", note


def read_timestamp(folder: int, listing: list[Entry]) -> datetime | None:
    """The ``timestamp.txt`` of the open student ``folder``, as nbgrader reads it; None if absent.

    ``Refused`` when it is a link (or a pipe...); ``ValueError`` when nbgrader could not read it.
    """
    from autograder.course.late import parse_timestamp

    if not any(entry.name == TIMESTAMP for entry in listing):
        return None
    raw = read_file(folder, [TIMESTAMP], "file", TIMESTAMP_BYTES)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ValueError("not a timestamp nbgrader can read") from None
    if len(raw) > TIMESTAMP_BYTES:
        raise ValueError("not a timestamp nbgrader can read")
    return parse_timestamp(text)


def students(course: Any) -> list[str]:
    """Every student of ``course`` (a ``nbgrader_course.Course``) with an entry for the assignment
    in their folder of ``submitted/``.

    A student folder that is a link is listed, to be refused when graded; whether it holds the
    assignment is a ``stat`` through the link, which reads nothing there."""
    root = course.submitted_folder()
    try:
        with os.scandir(root) as scan:
            names = [item.name for item in scan if item.is_symlink() or item.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    return sorted(student for student in names if os.path.lexists(course.student_folder(student)))


def in_shard(student: str, index: int, count: int) -> bool:
    """Whether ``student`` belongs to shard ``index`` of ``count`` (0-based): decided by the
    SHA-256 of the id alone, so the same on every machine whoever else submitted."""
    return int.from_bytes(hashlib.sha256(student.encode()).digest()[:8], "big") % count == index


def discover(course: Any, names: list[str], identify: bool = True) -> list[Submission]:
    """The submissions of ``names``: the notebook to grade, its timestamp and (if ``identify``)
    the SHA-256 of its content."""
    return [inspect(course, student, identify) for student in names]


def inspect(course: Any, student: str, identify: bool = True) -> Submission:
    """One student's submission, read without following a link."""
    submission = Submission(student, course.student_folder(student), None)
    base, parts = course.student_path(student)
    try:
        folder = open_folder(base, parts)
    except Refused as refused:
        return submission.refuse(str(refused))
    except OSError as error:
        return submission.refuse(f"{label(parts)}: cannot be read ({error.strerror})", ERROR)
    try:
        _inspect_folder(course, submission, folder, identify)
    except Refused as refused:
        submission.refuse(str(refused))
    except ValueError as error:
        submission.refuse(f"{label([*parts, TIMESTAMP])}: {error}", ERROR)
    except OSError as error:
        submission.refuse(f"{label(parts)}: cannot be read ({error.strerror})", ERROR)
    finally:
        os.close(folder)
    return submission


def _inspect_folder(course: Any, submission: Submission, folder: int, identify: bool) -> None:
    listing = entries(folder)
    chosen, submission.problem, submission.note = choose_notebook(listing, course.notebook_id)
    submission.timestamp = read_timestamp(folder, listing)
    if chosen is None:
        return
    submission.notebook = submission.folder / chosen
    if identify:
        content = copy_file(folder, [chosen], NOTEBOOK_FILE)
        submission.file = SubmittedFile(submission.notebook, content.sha256, content.size, content.mtime)


def copy_notebook(course: Any, submission: Submission, target: Path) -> SubmittedFile:
    """Copy the submission's notebook to ``target`` (as much of it as the grader reads) and
    identify its content, all of it: the grader reads that copy, never the student's folder.
    ``Refused`` when it became a link (or a pipe) since it was discovered."""
    assert submission.notebook is not None
    base, parts = course.student_path(submission.student)
    folder = open_folder(base, parts)
    try:
        content = copy_file(folder, [target.name], NOTEBOOK_FILE, target, keep=MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(folder)
    return SubmittedFile(submission.notebook, content.sha256, content.size, content.mtime)
