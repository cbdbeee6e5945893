"""Read a submitted notebook and pick the cells that hold the student's code.

Only solution cells and cells the student added run, in notebook order; the
instructor's cells (given code, data loading, plots, tests) are recognised by their
grade ids and skipped. A file that is not a readable notebook raises
``SubmissionError`` with a message that names the file and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autograder import text
from autograder.assignment import Assignment
from autograder.context import context_source
from autograder.sandbox import Cell

MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)
MAX_NOTEBOOK_BYTES = 16 * 2**20  # a notebook with every output kept is a few MiB


class SubmissionError(Exception):
    """The submission cannot be graded at all (not a notebook, unreadable...)."""


def nbgrader_metadata(cell: dict) -> dict:
    """The cell's ``metadata.nbgrader`` dict, or an empty one (also for malformed metadata).

    A ``grade_id`` that is not a string (a student's edit, or a broken file) is left out, so
    that it can match nothing and crash nothing.
    """
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(meta, dict):
        return {}
    if "grade_id" in meta and not isinstance(meta["grade_id"], str):
        meta = {key: value for key, value in meta.items() if key != "grade_id"}
    return meta


def student_cells(path: str | os.PathLike, assignment: Assignment,
                  data: Mapping[str, Mapping[str, Any]] | None = None) -> list[Cell]:
    """The code cells to run for a submission, as ``Cell(index, source, label)`` in notebook order.

    The answer cells and the cells the student added, and, before each answer cell, the given
    context cells above it in the assignment (their source from the assignment, never from the
    submission; see ``autograder.context``). ``index`` counts all cells of the submission from
    1 (context cells the submission lacks get indices after its last cell); ``label`` names
    the place as the student sees it: "Task 2 answer cell", "your cell after Task 2",
    "given cell setup". A data cell's names come from ``data`` (its grade id -> names).
    """
    data = data or {}

    notebook = read_notebook(path)
    cells = notebook["cells"]
    pending = list(assignment.context)
    positions = {nbgrader_metadata(cell).get("grade_id"): i for i, cell in enumerate(cells, start=1)}
    spare = len(cells)
    chosen, task, added = [], 0, 0

    def given_up_to(grade_id: str | None) -> None:
        """Add the pending context cells that come before ``grade_id`` in the assignment (None: all)."""
        nonlocal spare
        limit = assignment.order.index(grade_id) if grade_id in assignment.order else len(assignment.order)
        while pending and assignment.order.index(pending[0].grade_id) <= limit:
            given = pending.pop(0)
            index = positions.get(given.grade_id) or (spare := spare + 1)
            label = f"given cell {given.grade_id}"
            if given.kind == "data":
                chosen.append(Cell(index, "", label, values=dict(data.get(given.grade_id, {}))))
            else:
                chosen.append(Cell(index, context_source(given), label))

    for index, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id in assignment.order:
            given_up_to(grade_id)
        if grade_id in assignment.instructor_ids:
            continue
        if grade_id in assignment.tasks:
            task, added = assignment.tasks.index(grade_id) + 1, 0
            label = f"Task {task} answer cell"
        else:
            added += 1
            label = f"your cell after Task {task}" if task else "your cell before Task 1"
            label += f" (the {_ordinal(added)})" if added > 1 else ""
        chosen.append(Cell(index, strip_magics(cell_source(cell)), label, grade_id=grade_id or ""))
    given_up_to(None)
    return chosen


def _ordinal(n: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def place_labels(cells: list[Cell]) -> dict[int, str]:
    """Each cell's index and the name of its place (for messages that say "cell 25")."""
    return {cell.index: cell.label for cell in cells if getattr(cell, "label", "")}


def read_notebook(path: str | os.PathLike) -> dict:
    """Read a notebook as JSON, checking its structure; nbformat 3 is upgraded to 4.

    Version 4 is read with ``json`` alone: importing ``nbformat`` costs close to a
    second (its JSON-schema validator), about a third of a whole grading run.
    """
    path = Path(path)
    name = text.name(path.name)
    raw = read_regular_file(path, name, MAX_NOTEBOOK_BYTES + 1)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(
            f"{name}: the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB. Hint: clear the outputs "
            "(Edit > Clear Outputs of All Cells), save, and submit again."
        )
    if not raw.strip():
        raise SubmissionError(f"{name}: the file is empty. Hint: save the notebook and submit again.")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise SubmissionError(f"{name}: not a valid notebook (its JSON is nested too deeply).") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise SubmissionError(
            f"{name}: not a notebook: the file is not valid JSON ({error}); it may be truncated. "
            "Hint: download the notebook again from JupyterLab (File > Download)."
        ) from None
    if not isinstance(data, dict) or ("cells" not in data and "worksheets" not in data):
        raise SubmissionError(f"{name}: JSON, but not a Jupyter notebook (no cells).")
    major = data.get("nbformat")
    if major == 3:
        data = _upgrade(raw, name)
    elif major != 4:
        raise SubmissionError(
            f"{name}: unsupported notebook format version {text.quote(major, 40)} (need 3 or 4)."
        )
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(_is_cell(cell) for cell in cells):
        raise SubmissionError(f"{name}: not a valid notebook (its cells are malformed).")
    return data


def submission_digest(path: str | os.PathLike) -> str:
    """The SHA-256 of the submitted file (it seeds the checks' inputs: ``runner.check_rng``)."""
    return hashlib.sha256(read_regular_file(Path(path), Path(path).name, MAX_NOTEBOOK_BYTES + 1)).hexdigest()


def read_regular_file(path: Path, name: str, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path``, which must be a regular file reached without following a
    link at its last step (a link could point anywhere: at the course's own notebooks, a FIFO)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == 40 or path.is_symlink():  # ELOOP: the last step is a link
            raise SubmissionError(f"{name}: is a symbolic link, not a notebook. Hint: submit the notebook "
                                  "file itself.") from None
        raise SubmissionError(f"{name}: cannot be read ({error.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise SubmissionError(f"{name}: is not a regular file. Hint: submit the notebook file itself.")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit)
    except OSError as error:
        raise SubmissionError(f"{name}: cannot be read ({error.strerror})") from None
    finally:
        os.close(fd)


def _is_cell(cell: object) -> bool:
    if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
        return False
    source = cell.get("source", "")
    return isinstance(source, str) or (
        isinstance(source, list) and all(isinstance(line, str) for line in source)
    )


def _upgrade(raw: bytes, name: str) -> dict:
    import nbformat

    try:
        return dict(nbformat.reads(raw.decode(), as_version=4))
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for broken files
        raise SubmissionError(f"{name}: not a valid notebook ({error}).") from None


def cell_source(cell: dict) -> str:
    """A cell's source as one string (notebook files may store it as a list of lines)."""
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def strip_magics(source: str) -> str:
    """Turn IPython magics and shell escapes (``%time``, ``!ls``) into ``pass`` lines."""
    return MAGIC_LINE.sub(lambda m: f"{m.group(1)}pass  # {m.group(2)}", source)
