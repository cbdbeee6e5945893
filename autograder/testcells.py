"""Plain nbgrader test cells (``assert`` lines), run in the grading process, never in the sandbox.

A test cell's code is the instructor's (taken from the assignment's notebook, hidden tests
included, never from the submission), so it runs here, in a namespace that stands for the
notebook's (``autograder.namespace.NotebookNamespace``):

- a name the solution cells define is the student's: a function stands for a call into the
  sandbox, a value is fetched from it as data, on every use;
- assigning such a name (``square = fake``) binds it in the student's process (a function of the
  test's own, called from the student's code, calls back here); ``del`` deletes it there; so
  does assigning a name a given cell defines (the given cells ran there too), which is also
  kept here;
- the given cells' definitions (imports, helpers, data) come from running those cells here,
  statement by statement, before the test cells that follow them (a call they make of a student
  function goes to the sandbox); a student can neither see nor replace them;
- any other name the test cell uses that it has not defined is looked up in the student's
  process, as data (never a builtin).

A test cell scores its points when its code runs to the end, as nbgrader scores it. It fails,
as in nbgrader, when it raises or when something is written to standard error while it runs
(a warning of the student's code included).
"""

from __future__ import annotations

import ast
import contextlib
import io
import warnings

import numpy as np

from autograder import text
from autograder.namespace import CellStopped, GraderStopped, NotebookNamespace, StudentWarning
from autograder.sandbox import StudentError

NUMPY_DEFAULTS = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}  # np.geterr()'s


class TestCellFailure(AssertionError):
    """A test cell did not run to its end: the message says what stopped it."""


def run_statements(source: str, namespace: dict, filename: str) -> None:
    """Run a given cell here, statement by statement: one that fails is skipped, as its names would
    be missing in the student's notebook too. What it prints is dropped."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    for node in tree.body:
        module = ast.Module(body=[node], type_ignores=[])
        try:
            with (
                contextlib.redirect_stdout(io.StringIO()),
                contextlib.redirect_stderr(io.StringIO()),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                exec(compile(module, filename, "exec"), namespace)
        except Exception:  # noqa: BLE001, S110 - a statement that cannot run here defines nothing
            pass


def run_test_cell(source: str, namespace: NotebookNamespace, grade_id: str) -> None:
    """Run a test cell's code; ``TestCellFailure`` with the reason when it does not run to its end."""
    try:
        code = compile(source, f"<test cell {grade_id}>", "exec")
    except SyntaxError as error:
        raise TestCellFailure(
            f"the test cell itself does not compile ({error.msg}, line {error.lineno}): "
            "a fault of the assignment, not of your notebook"
        ) from None
    stderr = io.StringIO()
    warned: list = []
    try:
        with (
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(stderr),
            warnings.catch_warnings(record=True) as warned,
            np.errstate(**NUMPY_DEFAULTS),  # as in a fresh kernel, not as the grader runs its checks
        ):
            warnings.simplefilter("always")
            exec(code, namespace)
    except AssertionError as error:
        raise TestCellFailure(text.one_line(_assertion_message(error, source))[: 2 * text.MAX_TEXT]) from None
    except GraderStopped as stopped:
        raise stopped.error from None
    except CellStopped as error:
        raise TestCellFailure(str(error)) from None
    except StudentError as error:
        raise TestCellFailure(str(error)) from None
    except Exception as error:  # noqa: BLE001 - the cell failed as it would in the notebook
        student = getattr(error, "student_error", None)
        if student is not None:
            raise TestCellFailure(str(student)) from None
        said = text.quote(error, text.MAX_TEXT)  # may hold what the student's code returned
        raise TestCellFailure(f"the test cell raised {type(error).__name__}: {said}") from None
    if stderr.getvalue() or warned:
        what = "text on standard error"
        if warned:
            first = warned[0]
            what = (f"a warning of {first.message}" if issubclass(first.category, StudentWarning)
                    else f"a warning ({first.category.__name__})")
        raise TestCellFailure(
            f"the cell ran to its end, but {what} was written while it ran, and nbgrader scores such a cell 0"
        )


def _assertion_message(error: AssertionError, source: str) -> str:
    """The assertion's own message (written for students), or, when it has none, the failing
    ``assert`` line, unless that line is a hidden test's (hidden tests are never shown)."""
    if str(error):
        return f"assertion failed: {error}"
    frame = error.__traceback__
    line = None
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.startswith("<test cell"):
            line = frame.tb_lineno
        frame = frame.tb_next
    lines = source.splitlines()
    if not line or not 0 < line <= len(lines):
        return "assertion failed"
    if _hidden(lines, line):
        return "a hidden test failed"
    return f"assertion failed: {lines[line - 1].strip()}"


def _hidden(lines: list[str], line: int) -> bool:
    """Whether line ``line`` (from 1) lies between nbgrader's hidden-tests markers."""
    inside = False
    for text_ in lines[:line]:
        if "BEGIN HIDDEN TESTS" in text_:
            inside = True
        elif "END HIDDEN TESTS" in text_:
            inside = False
    return inside
