"""The assignment's grading metadata, read from nbgrader's cell metadata in a notebook.

The source notebook is the one source of truth for grade ids and points; its
release carries the same metadata (without solutions or hidden tests), so either
can be read. Nothing here repeats a grade id or a point value.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
ASSIGNMENT_ID = "mnist_mlp"


@dataclass(frozen=True)
class GradedCell:
    """An autograded test cell: its grade id and the points it is worth."""

    grade_id: str
    points: float


@dataclass(frozen=True)
class Assignment:
    """What the grader needs to know of the instructor's notebook."""

    graded: tuple[GradedCell, ...]
    solution_ids: frozenset[str]
    instructor_ids: frozenset[str]

    @property
    def total_points(self) -> float:
        return sum(cell.points for cell in self.graded)

    def points(self, grade_id: str) -> float:
        return next(cell.points for cell in self.graded if cell.grade_id == grade_id)


def read_assignment(path: str | os.PathLike | None = None) -> Assignment:
    """Read grade ids and points from an nbgrader notebook (source or release).

    ``path`` defaults to ``$AUTOGRADER_ASSIGNMENT``, else the source notebook of
    this checkout, else its release.
    """
    notebook = json.loads(Path(path or default_assignment_path()).read_text())
    graded, solutions, instructor = [], set(), set()
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if meta.get("solution"):
            solutions.add(grade_id)
        else:
            instructor.add(grade_id)
        if meta.get("grade") and cell["cell_type"] == "code":
            graded.append(GradedCell(grade_id, float(meta.get("points", 0))))
    return Assignment(tuple(graded), frozenset(solutions), frozenset(instructor))


def default_assignment_path() -> Path:
    """``$AUTOGRADER_ASSIGNMENT`` or the notebook of this checkout that carries the metadata."""
    if os.environ.get("AUTOGRADER_ASSIGNMENT"):
        return Path(os.environ["AUTOGRADER_ASSIGNMENT"])
    for folder in ("source", "release"):
        candidate = REPOSITORY / folder / ASSIGNMENT_ID / f"{ASSIGNMENT_ID}.ipynb"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        "no assignment notebook found: set AUTOGRADER_ASSIGNMENT to the source or release notebook"
    )
