"""The notebook's hidden tests: an assignment's checks, run in the notebook's own kernel.

nbgrader runs a hidden test cell in the same process as the student's code, so these checks can
be fooled there (see docs/grading.md); ``python -m autograder`` runs the very same check
functions against a sandboxed process instead. A hidden test cell reads::

    from autograder.notebook import run_checks
    run_checks("ASSIGNMENT", "GRADE_ID", globals())
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from autograder.assignments import Graded, course_root, importable, load, notebooks
from autograder.runner import check_rng
from autograder.sandbox import MissingFunction, StudentError
from autograder.student import KernelStudent


def graded_notebook(assignment: str, grade_id: str, root: Path | None = None) -> Graded:
    """The notebook of ``assignment`` whose test cell ``grade_id`` is."""
    root = root or course_root()
    for path in notebooks(root, assignment):
        graded = load(root, assignment, path.stem)
        if any(cell.grade_id == grade_id for cell in graded.assignment.graded):
            return graded
    raise LookupError(f"no test cell {grade_id!r} in assignment {assignment!r} of the course at {root}")


def checks_for(graded: Graded, grade_id: str) -> list[tuple[str, Any]]:
    """The check functions of a grade id, in the order they are written."""
    path = graded.check_module(grade_id)
    if path is None:
        raise LookupError(f"assignment {graded.name} has no checks module for {grade_id}")
    with importable(*graded.import_folders):
        spec = importlib.util.spec_from_file_location(f"_checks_{graded.name}_{grade_id}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    functions = [
        (name, f) for name, f in vars(module).items()
        if name.startswith("test_") and inspect.isfunction(f) and f.__module__ == module.__name__
    ]
    return sorted(functions, key=lambda item: item[1].__code__.co_firstlineno)


class ChecksFailed(AssertionError):
    """The hidden checks of a test cell that failed: Jupyter shows their messages, nothing else."""

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


def run_checks(assignment: str, grade_id: str, namespace: dict) -> None:
    """Run every check of ``grade_id`` on the functions in ``namespace`` (a notebook's globals()).

    Raises AssertionError listing each failed check's message; prints nothing.
    """
    graded = graded_notebook(assignment, grade_id)
    student = KernelStudent(namespace, graded.references, graded.calls)
    failures = []
    for name, check in checks_for(graded, grade_id):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                check(student, check_rng(grade_id, name))
        except (AssertionError, StudentError, MissingFunction) as error:
            failures.append(f"{name}: {error}")
    if failures:
        raise ChecksFailed("\n".join(failures))
