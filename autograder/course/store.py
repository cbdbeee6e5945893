"""The records of a class: one JSON file per student, and what makes a record current.

``reports/<assignment>/results/<student>.json`` holds the single-file grader's Gradescope-format
result of the student's notebook, the SHA-256, size and modification time of the file graded,
and the three things a grade depends on besides the file: the assignment's version (every file
of ``source/<assignment>/`` and of its module in ``solutions/``), the grader's version (the
kit's grading code) and the grade ids and points, hashed together into the record's
``fingerprint``. A record is current when the file has the same SHA-256 and the fingerprint is
the same: a rerun, a shard or a merge skips it; any other change grades the submission again.
Each record is written to a temporary file and renamed into place, so it is whole or absent.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from autograder.assignment import Assignment
from autograder.assignments import solutions_folder
from autograder.report import write_json_atomically

SCHEMA = 2  # 2: versions of the assignment and the grader, digests of the answer cells
KIT = Path(__file__).resolve().parents[2]

# What a record's ``status`` says about the submission.
GRADED = "graded"  # the notebook was read and every check ran (limits may have been hit)
UNREADABLE = "unreadable"  # not a notebook, or not read (a link, a pipe): 0 points, with the reason
MISSING = "missing"  # no notebook in the student's folder: 0 points, as nbgrader gives
ERROR = "error"  # the grader itself failed (crash, time-out): not graded, retried on rerun
IN_GRADEBOOK = (GRADED, UNREADABLE, MISSING)

SKIPPED_NAMES = ("__pycache__", ".ipynb_checkpoints")
NAME_MAX = 255  # bytes of a file name, on every file system the kit meets
# Parts of the kit that do not decide a grade: a change there grades nothing again.
NOT_GRADING = ("course", "authoring", "lms", "package.py", "__main__.py")


def _files(top: Path) -> list[Path]:
    """``top`` itself if it is a file, else its files (not hidden, not caches), sorted."""
    if top.is_file():
        return [top]
    found = [path for path in top.rglob("*") if path.is_file()]
    return sorted(path for path in found if not any(
        part in SKIPPED_NAMES or part.startswith(".") for part in path.relative_to(top).parts))


def assignment_files(course_root: Path, assignment_id: str) -> dict[str, Path]:
    """What decides the assignment's grades besides the grader, by the path a worker gives it:
    ``source/<assignment>/...`` (notebooks, test cells, the visible checks package) and its
    module ``solutions/<assignment>`` (the course's own, else the kit's: reference and checks)."""
    files: dict[str, Path] = {}
    source = course_root / "source" / assignment_id
    for path in _files(source) if source.is_dir() else []:
        files[f"source/{assignment_id}/{path.relative_to(source).as_posix()}"] = path
    solutions = solutions_folder(course_root, assignment_id)
    for place in (solutions / assignment_id, solutions / f"{assignment_id}.py"):
        for path in _files(place) if place.exists() else []:
            files[f"solutions/{path.relative_to(solutions).as_posix()}"] = path
    return files


def digest_files(files: dict[str, Path]) -> str:
    """SHA-256 over the names and contents of ``files``."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name].read_bytes()).digest())
    return digest.hexdigest()


def assignment_version(course_root: Path, assignment_id: str) -> str:
    return digest_files(assignment_files(course_root, assignment_id))


def grader_files() -> dict[str, Path]:
    """The kit's grading code: every ``.py`` file of ``autograder`` but those that grade nothing
    (``NOT_GRADING``), and ``solutions``' own modules that every grading imports."""
    package = KIT / "autograder"
    files = {f"autograder/{path.relative_to(package).as_posix()}": path for path in _files(package)
             if path.suffix == ".py" and path.relative_to(package).parts[0] not in NOT_GRADING}
    for name in ("__init__.py", "data.py", "_download.py"):  # the package, the MNIST loader
        files[f"solutions/{name}"] = KIT / "solutions" / name
    return {name: path for name, path in files.items() if path.is_file()}


@cache
def grader_version() -> str:
    """The version of this process's grader (``grader_files``)."""
    return digest_files(grader_files())


def fingerprint(assignment: Assignment, assignment_digest: str, grader_digest: str) -> str:
    """Changes with the assignment's files, the grader's code, or the grade ids and points."""
    points = json.dumps([[cell.grade_id, cell.points] for cell in assignment.graded])
    return hashlib.sha256(f"{points}\0{assignment_digest}\0{grader_digest}".encode()).hexdigest()


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
    """A folder of per-student records."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def remove_leftovers(self) -> None:
        """Remove temporary files a killed batch left behind (call with the batch lock held)."""
        for leftover in self.folder.glob("*.tmp"):
            leftover.unlink(missing_ok=True)

    def path(self, student: str) -> Path:
        """``STUDENT.json``; for an id too long for a file name with that suffix (a folder name may
        take all 255 bytes), its first 200 bytes and a digest of the whole id."""
        name = f"{student}.json"
        if len(os.fsencode(name)) > NAME_MAX:
            head = os.fsencode(student)[:200].decode(errors="ignore")
            name = f"{head}-{hashlib.sha256(os.fsencode(student)).hexdigest()[:16]}.json"
        return self.folder / name

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
    """Whether ``record`` graded this very file with this grader and assignment, and did not fail."""
    if record is None or record.get("status") == ERROR:
        return False
    graded = (record.get("submission") or {}).get("sha256")
    return graded == sha256 and record.get("fingerprint") == fingerprint


@dataclass(frozen=True)
class Versions:
    """What a grade depends on besides the submission, as a record keeps it."""

    assignment: str
    grader: str
    fingerprint: str


def new_record(
    student: str, assignment_id: str, status: str, versions: Versions, *,
    submission: dict[str, Any] | None = None, result: dict[str, Any] | None = None,
    reason: str = "", seconds: float = 0.0, answers: dict[str, list[str]] | None = None,
    unanswered: list[str] | None = None,
) -> dict[str, Any]:
    """A record as stored: ``result`` is the Gradescope JSON (None when the grader failed);
    ``answers`` the SHA-256 of each answer cell's text (``grading.answer_digests``)."""
    return {
        "schema": SCHEMA,
        "student": student,
        "assignment": assignment_id,
        "status": status,
        "reason": reason,
        "submission": submission,
        "fingerprint": versions.fingerprint,
        "versions": {"assignment": versions.assignment, "grader": versions.grader},
        "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "answers": answers or {},
        "unanswered": sorted(unanswered or []),
        "result": result,
    }


def record_digest(record: dict[str, Any]) -> str:
    """Identifies one grading of one submission (written into its feedback page)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:32]


def scores_of(record: dict[str, Any]) -> dict[str, float]:
    """Points per grade id, from the record's result."""
    return {test["name"]: float(test["score"]) for test in (record.get("result") or {}).get("tests", [])}
