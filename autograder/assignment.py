"""One notebook of an assignment, as the grader needs to know it, read from nbgrader's metadata.

The instructor's notebook is the one source of truth: grade ids and points of the autograded
test cells (and their test code), the solution cells and the contract they define
(``contract.contract_of``), the manually graded cells (left to nbgrader's formgrader), and the
given cells that run with the student's code. Its release carries the same metadata (without
solutions or hidden tests), so either can be read. Nothing here names an assignment.

Given cells: where some cell of the notebook says ``"autograder": {"context": KIND}``, the cells
that say so are the given cells the grader runs (``"run"``: its source runs in the student's
process, statement by statement; ``"data"``: it runs in the grading process, which can read
files, and the arrays and numbers it defines are handed to the student's process, cut to their
first ``rows`` rows if the metadata gives ``"rows"``). Otherwise every code cell with a grade id
that is neither a solution nor a test is ``"run"``, but for those after the last test cell: in
nbgrader they run after every test.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from autograder.contract import Contract, contract_of

CONTEXT_KINDS = ("run", "data")


@dataclass(frozen=True)
class GradedCell:
    """An autograded test cell: its grade id, its points, its test code (the instructor's, hidden
    tests included when read from the source) and the contract functions its task defines (those
    of the solution cells since the previous test cell)."""

    grade_id: str
    points: float
    source: str = ""
    functions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContextCell:
    """A given cell that runs with the student's cells (see the module's docstring)."""

    grade_id: str
    kind: str
    source: str
    rows: int | None = None


@dataclass(frozen=True)
class ManualCell:
    """A manually graded cell (an answer or a task): nbgrader's formgrader scores it, never the kit."""

    grade_id: str
    points: float


@dataclass(frozen=True)
class Assignment:
    """What the grader needs to know of one instructor notebook.

    ``tasks`` lists the answer cells' grade ids in notebook order (Task 1 first); ``order`` the
    grade ids of all code cells in notebook order; ``name`` and ``notebook_id`` say which
    assignment and notebook it is (empty when read from a bare path).
    """

    graded: tuple[GradedCell, ...]
    solution_ids: frozenset[str]
    instructor_ids: frozenset[str]
    tasks: tuple[str, ...] = ()
    context: tuple[ContextCell, ...] = ()
    order: tuple[str, ...] = ()
    contract: Contract = field(default_factory=Contract)
    manual: tuple[ManualCell, ...] = ()
    name: str = ""
    notebook_id: str = ""
    solution_sources: tuple[str, ...] = ()

    @property
    def total_points(self) -> float:
        return sum(cell.points for cell in self.graded)

    def points(self, grade_id: str) -> float:
        return next(cell.points for cell in self.graded if cell.grade_id == grade_id)

    def grading_key(self) -> tuple:
        """What a release must share with its source: the graded cells' ids and points, and the
        manually graded ones'."""
        return (
            tuple((c.grade_id, c.points) for c in self.graded),
            tuple((c.grade_id, c.points) for c in self.manual),
        )

    def answer_cell_of(self, name: str) -> str | None:
        """The grade id of the answer cell that defines ``name``."""
        from autograder.contract import names_defined

        return next(
            (
                cell
                for cell, source in zip(self.tasks, self.solution_sources, strict=False)
                if name in names_defined(source)
            ),
            None,
        )

    def grade_id_of(self, function: str) -> str | None:
        """The grade id of the test cell of the task that defines ``function``."""
        return next((cell.grade_id for cell in self.graded if function in cell.functions), None)


class AssignmentError(Exception):
    """An assignment's notebook cannot be read or is not an nbgrader notebook (the message says why)."""


def read_assignment(path: str | os.PathLike, name: str = "", notebook_id: str = "") -> Assignment:
    """Read an instructor notebook (source or release) as an ``Assignment``."""
    path = Path(path)
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AssignmentError(f"{path}: cannot be read as a notebook ({error})") from None
    return _from_cells(cells, name or path.parent.name, notebook_id or path.stem)


def _meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _from_cells(cells: list[dict], name: str, notebook_id: str) -> Assignment:
    marked = any(
        isinstance(c.get("metadata", {}).get("autograder"), dict)
        and c["metadata"]["autograder"].get("context")
        for c in cells
    )
    last_test = max((i for i, c in enumerate(cells) if _is_test(c)), default=-1)
    graded, manual, solutions, instructor, context, order, sources = [], [], [], set(), [], [], []
    since_test: list[str] = []
    for index, cell in enumerate(cells):
        meta = _meta(cell)
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not grade_id:
            continue
        code = cell.get("cell_type") == "code"
        if code:
            order.append(grade_id)
        if meta.get("solution"):
            solutions.append(grade_id)
            if code:
                sources.append(_source(cell))
                since_test.append(_source(cell))
        else:
            instructor.add(grade_id)
        if _is_test(cell):
            defined = contract_of(since_test).functions
            graded.append(GradedCell(grade_id, float(meta.get("points", 0)), _source(cell), defined))
            since_test = []
        elif meta.get("grade") or meta.get("task"):
            manual.append(ManualCell(grade_id, float(meta.get("points", 0))))
        elif code and not meta.get("solution") and (marked or index < last_test):
            given = _context(cell, grade_id, marked)
            if given is not None:
                context.append(given)
    return Assignment(
        tuple(graded),
        frozenset(solutions),
        frozenset(instructor),
        tuple(solutions),
        tuple(context),
        tuple(order),
        contract_of(sources),
        tuple(manual),
        name,
        notebook_id,
        tuple(sources),
    )


def _is_test(cell: dict) -> bool:
    meta = _meta(cell)
    return (
        bool(meta.get("grade"))
        and not meta.get("solution")
        and cell.get("cell_type") == "code"
        and isinstance(meta.get("grade_id"), str)
    )


def _context(cell: dict, grade_id: str, marked: bool) -> ContextCell | None:
    settings = cell.get("metadata", {}).get("autograder", {})
    kind = settings.get("context") if isinstance(settings, dict) else None
    if not marked:
        kind = "run"
    if kind not in CONTEXT_KINDS:
        return None
    rows = settings.get("rows") if isinstance(settings, dict) else None
    return ContextCell(grade_id, kind, _source(cell), int(rows) if isinstance(rows, int) else None)
