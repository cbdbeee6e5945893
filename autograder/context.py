"""The given cells the student's cells run with, and the names of places.

A given cell of kind ``"run"`` (imports, constants, a preparation of the data) runs in the
student's process, in notebook order, with its source taken from the assignment notebook, never
from the submission. It runs statement by statement, quietly: a statement that cannot run there
(``import matplotlib``, a call of an unfinished task) is skipped, as its names would be missing
in the student's notebook too; what it prints is dropped, and one that prints over a MiB (a
student's function caught in a print loop) is stopped and skipped.

A given cell of kind ``"data"`` loads data: it runs here, in the grading process, which may read
files (the sandbox cannot), together with the given cells above it, and the arrays, numbers and
strings it defines are handed to the student's process as data (cut to their first ``rows``
rows when the cell says so). An assignment's module in ``solutions`` may provide them faster
(``given_values(grade_id)``).
"""

from __future__ import annotations

import ast
import re
from typing import Any

import numpy as np

from autograder.assignment import ContextCell
from autograder.contract import defined_names

# What a given cell prints is dropped; a statement that prints over a MiB (a student's function
# caught in a print loop) is stopped there, not left to fill memory or the output limit.
RUNNER = '''def __given_cell(statements, filename):
    import contextlib

    class Quiet:
        written = 0

        def write(self, text):
            self.written += len(text)
            if self.written > 2**20:
                raise OverflowError("a given cell printed over 1 MiB")
            return len(text)

        def flush(self):
            pass

    for statement in statements:
        try:
            with contextlib.redirect_stdout(Quiet()):
                exec(compile(statement, filename, "exec"), globals())
        except Exception:
            pass
'''
DATA_TYPES = (np.ndarray, np.generic, int, float, bool, str, bytes, complex, type(None))


def context_source(cell: ContextCell) -> str:
    """The source the sandbox runs for a ``"run"`` given cell (see the module's docstring)."""
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return "pass\n"
    statements = [ast.get_source_segment(cell.source, node) or "" for node in tree.body]
    return (RUNNER + f"__given_cell({statements!r}, {f'<given cell {cell.grade_id}>'!r})\n"
            "del __given_cell\n")


def data_values(cell: ContextCell, namespace: dict[str, Any]) -> dict[str, Any]:
    """What a ``"data"`` cell hands to the student's process: the plain data among the names it
    defines, once it has run in ``namespace`` (arrays cut to the cell's ``rows``)."""
    functions, values, _ = defined_names(cell.source)
    found = {}
    for name in values:
        value = namespace.get(name)
        if isinstance(value, DATA_TYPES) and not callable(value):
            if isinstance(value, np.ndarray) and cell.rows is not None and value.ndim:
                value = value[: cell.rows].copy()
            found[name] = value
    return found


PLACE = re.compile(r"\bcell (\d+)\b")


def name_places(text: str, labels: dict[int, str]) -> str:
    """Replace "cell 25" (an index counting every cell) by the place as the student sees it."""
    return PLACE.sub(lambda m: labels.get(int(m.group(1)), m.group(0)), text)
