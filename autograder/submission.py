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

import nbformat

from autograder.assignment import Assignment
from autograder.sandbox import Cell

MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)


class SubmissionError(Exception):
    """The submission cannot be graded at all (not a notebook, unreadable...)."""


def student_cells(path: str | os.PathLike, assignment: Assignment) -> list[Cell]:
    """The code cells to run for a submission, as ``Cell(index, source)`` in notebook order.

    ``index`` counts all cells from 1, as JupyterLab shows them when numbered.
    """
    notebook = read_notebook(path)
    cells = []
    for index, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in assignment.instructor_ids:
            continue
        cells.append(Cell(index, strip_magics(str(cell.get("source", "")))))
    return cells


def read_notebook(path: str | os.PathLike) -> nbformat.NotebookNode:
    """Read and validate a notebook (any nbformat version >= 3, upgraded to 4)."""
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
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise SubmissionError(f"{name}: JSON, but not a Jupyter notebook (no cells).")
    major = data.get("nbformat")
    if not isinstance(major, int) or major < 3:
        raise SubmissionError(f"{name}: unsupported notebook format version {major!r} (need 3 or 4).")
    try:
        notebook = nbformat.reads(raw.decode(), as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for broken files
        raise SubmissionError(f"{name}: not a valid notebook ({error}).") from None
    if not isinstance(notebook.get("cells"), list):
        raise SubmissionError(f"{name}: not a valid notebook (cells is not a list).")
    return notebook


def strip_magics(source: str) -> str:
    """Turn IPython magics and shell escapes (``%time``, ``!ls``) into ``pass`` lines."""
    return MAGIC_LINE.sub(lambda m: f"{m.group(1)}pass  # {m.group(2)}", source)
