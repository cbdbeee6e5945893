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
CONTEXT_KINDS = ("run", "mnist")


@dataclass(frozen=True)
class GradedCell:
    """An autograded test cell: its grade id and the points it is worth."""

    grade_id: str
    points: float


@dataclass(frozen=True)
class ContextCell:
    """A given cell that defines names the answers may use, run before them in the sandbox.

    ``kind`` is the cell's ``metadata.autograder.context``: ``"run"`` (its source runs as
    written, statement by statement) or ``"mnist"`` (it loads MNIST: the grader defines the
    arrays it would define, ``x_train``, ``y_train``, ``x_test``, ``y_test``, from its own copy).
    """

    grade_id: str
    kind: str
    source: str


@dataclass(frozen=True)
class Assignment:
    """What the grader needs to know of the instructor's notebook.

    ``tasks`` lists the answer cells' grade ids in notebook order (Task 1 first);
    ``context`` the given cells that run with the student's cells (see ``ContextCell``).
    """

    graded: tuple[GradedCell, ...]
    solution_ids: frozenset[str]
    instructor_ids: frozenset[str]
    tasks: tuple[str, ...] = ()
    context: tuple[ContextCell, ...] = ()
    order: tuple[str, ...] = ()  # the grade ids of all code cells, in notebook order

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
    graded, solutions, instructor, context, order = [], [], set(), [], []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if cell["cell_type"] == "code":
            order.append(grade_id)
        if meta.get("solution"):
            solutions.append(grade_id)
        else:
            instructor.add(grade_id)
        if meta.get("grade") and cell["cell_type"] == "code":
            graded.append(GradedCell(grade_id, float(meta.get("points", 0))))
        kind = cell.get("metadata", {}).get("autograder", {}).get("context")
        if kind in CONTEXT_KINDS and cell["cell_type"] == "code" and not meta.get("solution"):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            context.append(ContextCell(grade_id, kind, source))
    return Assignment(tuple(graded), frozenset(solutions), frozenset(instructor), tuple(solutions),
                      tuple(context), tuple(order))


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
