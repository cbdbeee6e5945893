"""Read a submitted notebook and pick the cells that hold the student's code.

Only solution cells and cells the student added run, in notebook order; the
instructor's cells (data loading, training, plots, tests) are recognised by their
grade ids and skipped. A file that is not a readable notebook raises
``SubmissionError`` with a message that names the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from autograder.assignment import Assignment
from autograder.sandbox import Cell

MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)


class SubmissionError(Exception):
    """The submission cannot be graded at all (not a notebook, unreadable...)."""


def nbgrader_metadata(cell: dict) -> dict:
    """The cell's ``metadata.nbgrader`` dict, or an empty one (also for malformed metadata)."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def student_cells(path: str | os.PathLike, assignment: Assignment) -> list[Cell]:
    """The code cells to run for a submission, as ``Cell(index, source)`` in notebook order.

    ``index`` counts all cells from 1, as JupyterLab shows them when numbered.
    """
    notebook = read_notebook(path)
    cells = []
    for index, cell in enumerate(notebook["cells"], start=1):
        if cell.get("cell_type") != "code":
            continue
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id in assignment.instructor_ids:
            continue
        cells.append(Cell(index, strip_magics(cell_source(cell))))
    return cells


def read_notebook(path: str | os.PathLike) -> dict:
    """Read a notebook as JSON, checking its structure; nbformat 3 is upgraded to 4.

    Version 4 is read with ``json`` alone: importing ``nbformat`` costs close to a
    second (its JSON-schema validator), about a third of a whole grading run.
    """
    path = Path(path)
    name = path.name
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise SubmissionError(f"{name}: cannot be read ({error.strerror})") from None
    if not raw.strip():
        raise SubmissionError(f"{name}: the file is empty. Hint: save the notebook and submit again.")
    try:
        data = json.loads(raw)
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
        raise SubmissionError(f"{name}: unsupported notebook format version {major!r} (need 3 or 4).")
    cells = data.get("cells")
    if not isinstance(cells, list) or not all(_is_cell(cell) for cell in cells):
        raise SubmissionError(f"{name}: not a valid notebook (its cells are malformed).")
    return data


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
