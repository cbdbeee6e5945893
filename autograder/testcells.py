"""Plain nbgrader test cells (``assert`` lines), run in the grading process, never in the sandbox.

A test cell's code is the instructor's (taken from the assignment's notebook, hidden tests
included, never from the submission), so it runs here, in a namespace that stands for the
notebook's (``NotebookNamespace``):

- a name the solution cells define is the student's: a function stands for a call into the
  sandbox, a value is fetched from it as data, on every use;
- assigning such a name (``relu = fake``) binds it in the student's process (a function of the
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
import builtins
import contextlib
import io
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from autograder.sandbox import (
    GraderError,
    MissingFunction,
    RemoteFunction,
    Sandbox,
    SandboxError,
    StudentError,
)

BUILTIN_NAMES = frozenset(dir(builtins))


class TestCellFailure(AssertionError):
    """A test cell did not run to its end: the message says what stopped it."""


_ABSENT = object()


class NotebookNamespace(dict):
    """The globals a test cell runs in (see the module's docstring).

    A test's own assignments land here. Those of the student's names and of the given cells'
    names are carried to the student's process (``sync``) before anything runs there: at once
    for a plain assignment or ``del``, and, for one Python writes straight into this dict (a name
    declared ``global`` anywhere in the cell), before the next call into the notebook.
    """

    def __init__(
        self,
        sandbox: Sandbox,
        student_names: Iterable[str],
        given_names: Iterable[str] = (),
        unwritten: Callable[[str], bool] = lambda name: False,
    ) -> None:
        super().__init__(__name__="__main__", __builtins__=builtins)
        self.sandbox = sandbox
        self.unwritten = unwritten  # whether a student name's answer cell still raises NotImplementedError
        self.student_names = frozenset(student_names)
        self.given_names = frozenset(given_names) - self.student_names
        self.propagate = True  # off while the given cells run here: they ran in the student's process too
        self._synced: dict[str, Any] = {}  # shared name -> the value the student's process was given

    @property
    def shared(self) -> frozenset[str]:
        return self.student_names | self.given_names

    def mark_synced(self) -> None:
        """What this dict holds now of the given cells' names is what the student's process holds."""
        self._synced.update({name: dict.get(self, name, _ABSENT) for name in self.given_names})

    def sync(self) -> None:
        """Carry the test's changes of shared names to the student's process."""
        for name in self.shared:
            current = dict.get(self, name, _ABSENT)
            if current is not self._synced.get(name, _ABSENT):
                self._carry(name, current)

    def _carry(self, name: str, value: Any) -> None:
        self._synced[name] = value
        if value is _ABSENT:
            self.sandbox.delete(name, "")
            return
        try:
            self.sandbox.set({name: value}, "")
        except TypeError:  # an object that cannot cross (a module): the notebook keeps its own
            if name in self.student_names:
                raise

    def __getitem__(self, name: str) -> Any:
        if name in self.student_names and not dict.__contains__(self, name):
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
        self.sync()
        try:
            value = self.sandbox.get(name, "")
        except NameError:
            if name in self.student_names and self.unwritten(name):
                raise CellStopped(
                    f"{name} raised NotImplementedError (its answer cell is not written yet)"
                ) from None
            raise NameError(f"name {name!r} is not defined") from None
        return SyncedFunction.of(value, self) if isinstance(value, RemoteFunction) else value

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except (KeyError, NameError):
            return default

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.student_names

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        if name in self.student_names or (name in self.given_names and self.propagate):
            self._carry(name, value)
        elif name in self.given_names:
            self._synced[name] = value

    def __delitem__(self, name: str) -> None:
        present = dict.__contains__(self, name)
        if present:
            super().__delitem__(name)
        if name in self.student_names or (name in self.given_names and self.propagate):
            self._synced[name] = _ABSENT
            if not self.sandbox.delete(name, "") and not present:
                raise KeyError(name)
        elif not present:
            raise KeyError(name)


class SyncedFunction(RemoteFunction):
    """A function of the notebook, as a test cell holds it: the test's changes of names reach the
    student's process before each call."""

    namespace: NotebookNamespace

    @classmethod
    def of(cls, function: RemoteFunction, namespace: NotebookNamespace) -> SyncedFunction:
        synced = cls(
            function.sandbox, function.handle, function.__name__, function.generation, function.process
        )
        synced.namespace = namespace
        return synced

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.namespace.sync()
        try:
            return super().__call__(*args, **kwargs)
        except StudentError as error:
            if error.exit is not None:
                raise CellStopped(str(error)) from None
            raise as_raised(error) from None
        except (SandboxError, MissingFunction) as error:
            raise CellStopped(str(error)) from None
        except GraderError as error:
            raise GraderStopped(error) from None


class CellStopped(BaseException):
    """The student's process failed under a test cell (a limit, a crash, an exit): the cell stops
    there, whatever ``except`` clauses the test has, as a notebook cell would."""


class GraderStopped(BaseException):
    """The grader could not go on (the host's fault); carried past the test's ``except`` clauses."""

    def __init__(self, error: GraderError) -> None:
        super().__init__(str(error))
        self.error = error


_RAISED_TYPES: dict[tuple[str, str], type] = {}


def as_raised(error: StudentError) -> BaseException:
    """The student's exception as the test cell sees it: the builtin type of that name (so that
    ``except ValueError`` catches it as in the notebook), or a class of that name derived from the
    nearest builtin one; its message the student's."""
    found = getattr(builtins, error.kind, None) if error.builtin else None
    if not (isinstance(found, type) and issubclass(found, Exception)):
        base = next(
            (
                getattr(builtins, b)
                for b in error.bases
                if isinstance(getattr(builtins, b, None), type)
                and issubclass(getattr(builtins, b), Exception)
            ),
            Exception,
        )
        key = (error.kind, base.__name__)
        if key not in _RAISED_TYPES:
            _RAISED_TYPES[key] = type(
                error.kind if error.kind.isidentifier() else "StudentException", (base,), {}
            )
        found = _RAISED_TYPES[key]
    try:
        raised = found(error.message)
    except Exception:  # noqa: BLE001 - a builtin type with other arguments (UnicodeError...)
        raised = Exception(error.message)
    raised.student_error = error
    return raised


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
