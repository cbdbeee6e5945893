"""Plain nbgrader test cells (``assert`` lines), run in the grading process, never in the sandbox.

A test cell's code is the instructor's (taken from the assignment's notebook, hidden tests
included, never from the submission), so it runs here, in a namespace that stands for the
notebook's (``NotebookNamespace``):

- a name the solution cells define is the student's: a function stands for a call into the
  sandbox, a value is fetched from it as data, on every use;
- assigning such a name (``relu = fake``) binds it in the student's process (a function of the
  test's own, called from the student's code, calls back here); ``del`` deletes it there;
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
import builtins
import contextlib
import io
import warnings
from collections.abc import Iterable
from typing import Any

from autograder.sandbox import RemoteFunction, Sandbox, StudentError

BUILTIN_NAMES = frozenset(dir(builtins))


class TestCellFailure(AssertionError):
    """A test cell did not run to its end: the message says what stopped it."""


class NotebookNamespace(dict):
    """The globals a test cell runs in (see the module's docstring)."""

    def __init__(self, sandbox: Sandbox, student_names: Iterable[str], process: dict[str, str]) -> None:
        super().__init__(__name__="__main__", __builtins__=builtins)
        self.sandbox = sandbox
        self.student_names = frozenset(student_names)
        self.process = process
        self.fetched = False

    def _where(self, name: str) -> str:
        return self.process.get(name, "")

    def __getitem__(self, name: str) -> Any:
        if name in self.student_names:
            return self._fetch(name)
        return super().__getitem__(name)

    def __missing__(self, name: str) -> Any:
        if name in BUILTIN_NAMES or name.startswith("__"):
            raise KeyError(name)
        try:
            return self._fetch(name)
        except NameError:
            raise KeyError(name) from None

    def _fetch(self, name: str) -> Any:
        held = self.sandbox.held(name)
        if held is not None:
            return held
        self.fetched = True
        try:
            return self.sandbox.get(name, self._where(name))
        except NameError:
            raise NameError(f"name {name!r} is not defined") from None

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except (KeyError, NameError):
            return default

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.student_names

    def __setitem__(self, name: str, value: Any) -> None:
        if name in self.student_names:
            self.sandbox.set({name: value}, self._where(name))
        else:
            super().__setitem__(name, value)

    def __delitem__(self, name: str) -> None:
        if name in self.student_names:
            if not self.sandbox.delete(name, self._where(name)):
                raise KeyError(name)
        else:
            super().__delitem__(name)


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
        ):
            warnings.simplefilter("always")
            exec(code, namespace)
    except AssertionError as error:
        raise TestCellFailure(_assertion_message(error, source)) from None
    except StudentError as error:
        raise TestCellFailure(str(error)) from None
    except Exception as error:  # noqa: BLE001 - the cell failed as it would in the notebook
        raise TestCellFailure(f"the test cell raised {type(error).__name__}: {error}") from None
    if stderr.getvalue() or warned:
        what = f"a warning ({warned[0].category.__name__})" if warned else "text on standard error"
        raise TestCellFailure(
            f"the cell ran to its end, but {what} was written while it ran, and nbgrader scores such a cell 0"
        )


def _assertion_message(error: AssertionError, source: str) -> str:
    """The assertion's own message, or the failing ``assert`` line when it has none."""
    if str(error):
        return f"assertion failed: {error}"
    frame = error.__traceback__
    line = None
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.startswith("<test cell"):
            line = frame.tb_lineno
        frame = frame.tb_next
    lines = source.splitlines()
    if line and 0 < line <= len(lines):
        return f"assertion failed: {lines[line - 1].strip()}"
    return "assertion failed"


def is_remote(value: Any) -> bool:
    return isinstance(value, RemoteFunction)
