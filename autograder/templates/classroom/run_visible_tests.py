"""Run one task's visible checks on a notebook: ``python run_visible_tests.py NOTEBOOK GRADE_ID``.

GitHub Classroom's workflow runs this once per task. It runs the notebook's answer cells and
any cell the student added (never the given cells: no data loading, no training), in order,
in one namespace that starts with ``np``, as the autograder does; then the visible checks of
the task ``GRADE_ID``. Those checks come from ``visible_tests.json`` beside this script, a copy
of the released notebook's test cells, so an edited test cell in the notebook changes nothing.

Exit status 0 when the checks pass, 1 when they fail (the reason goes to standard error, the
only thing written there), 2 for a usage error or a file that is not a notebook. Needs only
the standard library and NumPy.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import traceback
import warnings
from pathlib import Path

TESTS = Path(__file__).resolve().parent / "visible_tests.json"
MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$", re.MULTILINE)
EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def student_cells(notebook: dict, given: set[str]) -> list[tuple[int, str]]:
    """``(index, source)`` of every code cell that is not a given cell, numbered from 1."""
    cells = []
    for index, cell in enumerate(notebook["cells"], start=1):
        metadata = cell.get("metadata") if isinstance(cell, dict) else None
        meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(cell, dict) and cell.get("cell_type") == "code" and grade_id not in given:
            source = MAGIC_LINE.sub(lambda m: f"{m.group(1)}pass  # {m.group(2)}", cell_source(cell))
            cells.append((index, source))
    return cells


def run_cells(cells: list[tuple[int, str]], namespace: dict) -> list[str]:
    """Run each cell; a cell that fails is reported and skipped, as the autograder does."""
    problems = []
    for index, source in cells:
        try:
            exec(compile(source, f"<cell {index}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - student code may raise anything, even SystemExit
            if isinstance(error, KeyboardInterrupt):
                raise
            problems.append(f"cell {index} failed to run: {type(error).__name__}: {error}")
    return problems


def failure(error: BaseException, grade_id: str) -> str:
    """What to tell the student when the checks of ``grade_id`` did not pass."""
    if isinstance(error, AssertionError):
        return f"{grade_id}: a visible check failed: {error}"
    where = traceback.extract_tb(error.__traceback__)[-1]
    in_cell = where.filename.startswith("<cell")
    place = f" (in {where.filename.strip('<>')}, line {where.lineno})" if in_cell else ""
    detail = f": {error}" if str(error) else ""
    hint = ""
    if isinstance(error, NameError):
        hint = " Hint: is the function defined in its answer cell, and does that cell run without errors?"
    if isinstance(error, NotImplementedError):
        hint = " Hint: replace `raise NotImplementedError()` in the answer cell with your code."
    return f"{grade_id}: the checks could not run: {type(error).__name__}{detail}{place}.{hint}"


def run(notebook_path: Path, grade_id: str) -> int:
    tests = json.loads(TESTS.read_text())
    if grade_id not in tests["tests"]:
        print(f"unknown grade id {grade_id!r}; known: {', '.join(tests['tests'])}", file=sys.stderr)
        return EXIT_USAGE
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"{notebook_path}: cannot be read as a notebook ({error})", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        print(f"{notebook_path}: JSON, but not a Jupyter notebook (no cells)", file=sys.stderr)
        return EXIT_USAGE
    import numpy as np

    namespace = {"__name__": "__main__", "np": np}
    real_stderr = sys.stderr
    # Only the verdict goes to standard error: the Classroom grader fails a test on any stderr.
    with contextlib.redirect_stderr(sys.stdout), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for problem in run_cells(student_cells(notebook, set(tests["given"])), namespace):
            print(problem)
        try:
            exec(compile(tests["tests"][grade_id]["source"], f"<checks of {grade_id}>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - the checks run student code
            if isinstance(error, KeyboardInterrupt):
                raise
            print(failure(error, grade_id), file=real_stderr)
            return EXIT_FAIL
    print(f"{grade_id}: the visible checks passed ({tests['tests'][grade_id]['points']:g} points)")
    return EXIT_PASS


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python run_visible_tests.py NOTEBOOK GRADE_ID", file=sys.stderr)
        return EXIT_USAGE
    return run(Path(argv[0]), argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
