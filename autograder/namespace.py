"""The namespace a plain test cell runs in: the notebook's names as the grading process sees them.

See ``autograder.testcells``: a student's name stands for a call into the sandbox or a value
fetched from it; the test's changes of the notebook's names are carried there; the student's
exceptions arrive as the builtin exception of their name; a failure of the student's process
stops the cell whatever ``except`` clauses the test has.
"""

from __future__ import annotations

import builtins
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
            value = super().__call__(*args, **kwargs)
            if self.warned:  # shown under the cell in a notebook, on standard error: nbgrader scores 0
                warnings.warn(self.__name__, StudentWarning, stacklevel=2)
            return value
        except StudentError as error:
            if error.exit is not None:
                raise CellStopped(str(error)) from None
            raise as_raised(error) from None
        except (SandboxError, MissingFunction) as error:
            raise CellStopped(str(error)) from None
        except GraderError as error:
            raise GraderStopped(error) from None


class StudentWarning(UserWarning):
    """The student's function (named in the message) raised a warning in the student's process."""


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
