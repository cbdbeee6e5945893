"""The per-submission records of ``python -m autograder batch``: one JSON file per student.

``reports/<assignment>/results/<student>.json`` holds the single-file grader's
Gradescope-format result of the student's notebook, the SHA-256, size and modification
time of the file that was graded, and the fingerprint of the grader that graded it
(the checks' code, the assignment's package in ``solutions/`` and its grade ids and
points). Each is written to a temporary file and renamed into place, so a record is either
the old one or the new one, never half of either. A rerun grades again only submissions whose file or grader
fingerprint changed, and those whose last attempt failed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autograder.assignment import Assignment
from autograder.report import write_json_atomically

SCHEMA = 1
KIT = Path(__file__).resolve().parent.parent

# What a record's ``status`` says about the submission.
GRADED = "graded"  # the notebook was read and every check ran (limits may have been hit)
UNREADABLE = "unreadable"  # not a notebook, or not read (a link, a pipe): 0 points, with the reason
MISSING = "missing"  # no notebook in the student's folder: 0 points, as nbgrader gives
ERROR = "error"  # the grader itself failed (crash, time-out): not graded, retried on rerun
IN_GRADEBOOK = (GRADED, UNREADABLE, MISSING)


def grading_code(assignment_id: str, course_root: Path) -> tuple[Path, ...]:
    """Where the code that decides the assignment's grades may live: the kit's checks folder, and
    the assignment's package (or module) in ``solutions/`` (its checks and reference functions),
    the kit's and the course's own. Missing ones hold nothing."""
    places = [KIT / "autograder" / "checks"]
    for root in dict.fromkeys([KIT, course_root]):
        places += [root / "solutions" / assignment_id, root / "solutions" / f"{assignment_id}.py"]
    return tuple(places)


def grader_fingerprint(assignment: Assignment, places: tuple[Path, ...]) -> str:
    """Changes when the grading code (each file of ``places``, every ``.py`` file under a folder
    of them) or the assignment's grade ids or points change."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[cell.grade_id, cell.points] for cell in assignment.graded]).encode())
    for index, place in enumerate(places):
        for path in [place] if place.is_file() else sorted(place.rglob("*.py")):
            where = f"{index}/{path.relative_to(place) if path != place else place.name}"
            digest.update(where.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class SubmittedFile:
    """The notebook of one student that is graded (its path in the student's folder), and what
    identifies its content (read by ``autograder.studentfiles``, never through a link)."""

    path: Path
    sha256: str
    size: int
    mtime: float

    def describe(self, root: Path) -> dict[str, Any]:
        return {
            "path": os.path.relpath(self.path, root), "sha256": self.sha256, "size": self.size,
            "mtime": self.mtime,
        }


class ResultStore:
    """The folder of per-student records."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def remove_leftovers(self) -> None:
        """Remove temporary files a killed batch left behind (call with the batch lock held)."""
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink(missing_ok=True)

    def path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def load(self, student: str) -> dict[str, Any] | None:
        """The student's record, or None if there is none (or it cannot be read)."""
        try:
            data = json.loads(self.path(student).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None

    def save(self, record: dict[str, Any]) -> None:
        write_json_atomically(record, self.path(record["student"]))


def is_current(record: dict[str, Any] | None, sha256: str | None, fingerprint: str) -> bool:
    """Whether ``record`` graded this very file with this grader, and did not fail."""
    if record is None or record.get("status") == ERROR:
        return False
    graded = (record.get("submission") or {}).get("sha256")
    return graded == sha256 and record.get("fingerprint") == fingerprint


def new_record(
    student: str, assignment_id: str, status: str, fingerprint: str, *,
    submission: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
    reason: str = "", seconds: float = 0.0, unanswered: list[str] | None = None,
) -> dict[str, Any]:
    """A record as stored: ``result`` is the Gradescope JSON (None when the grader failed)."""
    return {
        "schema": SCHEMA,
        "student": student,
        "assignment": assignment_id,
        "status": status,
        "reason": reason,
        "submission": submission,
        "fingerprint": fingerprint,
        "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "unanswered": sorted(unanswered or []),
        "result": result,
    }


def record_digest(record: dict[str, Any]) -> str:
    """Identifies one grading of one submission (written into its feedback page)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]


def scores_of(record: dict[str, Any]) -> dict[str, float]:
    """Points per grade id, from the record's result."""
    return {test["name"]: float(test["score"]) for test in (record.get("result") or {}).get("tests", [])}
