"""The student's functions as an assignment's checks see them (the ``student`` of every check).

``student.call(function, args, kwargs, repeat, stand_ins=True)`` calls one of the student's
functions on copies of ``args`` and returns a ``Result``: each call's value and the arguments as
they are after it. With ``stand_ins`` the assignment's reference versions of the other contract
functions it calls are put in their place for the call (one mistake costs points once); the
calls they get are counted *here*, in the grading process, with the numbers passed to them
(``scalars["fn:4"]``: the distinct numbers given to ``fn`` as argument 4).

``GradedStudent`` reaches a sandboxed student process; ``KernelStudent`` the namespace of
nbgrader's kernel (the notebook's hidden tests run the same checks there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder import wire
from autograder.sandbox import MissingFunction, Sandbox, StudentError

MAX_SCALARS = 10  # distinct numbers kept per argument position


@dataclass
class Result:
    """What a call returned: per repetition the value and the arguments after the call; the calls
    of the stand-ins by name, and the numbers passed to them."""

    values: list[Any]
    args_after: list[list[Any]]
    calls: dict[str, int] = field(default_factory=dict)
    scalars: dict[str, list[float]] = field(default_factory=dict)
    warned: int = 0


class Counter:
    """Counts the calls of stand-ins and notes the numbers passed to them."""

    def __init__(self, names: Any) -> None:
        self.calls = dict.fromkeys(names, 0)
        self._scalars: dict[str, set[float]] = {}

    def wrap(self, function: Callable, name: str) -> Callable:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            for position, arg in enumerate(args):
                if type(arg) in (int, float) or (isinstance(arg, np.generic) and arg.dtype.kind in "iuf"):
                    kept = self._scalars.setdefault(f"{name}:{position}", set())
                    kept.add(float(arg))
                    if len(kept) > 2 * MAX_SCALARS:  # only the smallest are reported: the rest need no memory
                        kept.intersection_update(sorted(kept)[:MAX_SCALARS])
            return function(*args, **kwargs)

        counted.__name__ = name
        counted.restart = self.reset  # the call is made again (in a new process): count afresh
        return counted

    def reset(self) -> None:
        """Forget the calls counted so far."""
        self.calls = dict.fromkeys(self.calls, 0)
        self._scalars.clear()

    @property
    def scalars(self) -> dict[str, list[float]]:
        return {key: sorted(values)[:MAX_SCALARS] for key, values in self._scalars.items()}


def _plain(value: Any) -> Any:
    """A check's ``Rng`` (any object with ``seed``, ``key`` and ``skip``) as the wire's."""
    if all(hasattr(value, name) for name in ("seed", "key", "skip")) and not isinstance(value, wire.Rng):
        return wire.Rng(value.seed, value.key, value.skip)
    return value


class GradedStudent:
    """The submission's functions in its sandbox. ``references`` are the assignment's versions of
    the contract functions, ``calls`` which of them each function calls, ``process`` the student
    process each function is checked in, ``passed(function)`` whether its checks passed so far."""

    Raised = StudentError

    def __init__(
        self,
        sandbox: Sandbox,
        references: Mapping[str, Callable] | None = None,
        calls: Mapping[str, tuple[str, ...]] | None = None,
        process: Mapping[str, str] | None = None,
        passed: Callable[[str], bool | None] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.references = references or {}
        self.dependencies = calls or {}
        self.process = process or {}
        self._passed = passed

    @property
    def artifacts(self) -> dict:
        return self.sandbox.artifacts

    def passed(self, *functions: str) -> bool | None:
        """Whether every one of ``functions``, and every contract function they call (their own
        versions would run), passed its checks (None when unknown)."""
        if self._passed is None:
            return None
        seen, pending = set(), list(functions)
        while pending:
            function = pending.pop()
            if function not in seen:
                seen.add(function)
                pending.extend(self.dependencies.get(function, ()))
        return all(self._passed(function) for function in seen)

    def stand_ins(self, function: str) -> tuple[str, ...]:
        return tuple(name for name in self.dependencies.get(function, ()) if name in self.references)

    def call(
        self, function: str, args: list, kwargs: dict | None = None, repeat: int = 1, stand_ins: bool = True
    ) -> Result:
        names = self.stand_ins(function) if stand_ins else ()
        counter = Counter(names)
        bind = {name: counter.wrap(self.references[name], name) for name in names}
        result = self.sandbox.call(
            function,
            [_plain(a) for a in args],
            {k: _plain(v) for k, v in (kwargs or {}).items()},
            repeat,
            bind=bind,
            process=self.process.get(function, ""),
        )
        return Result(result.values, result.args_after, counter.calls, counter.scalars, result.warned)


class KernelStudent:
    """The functions of a notebook's namespace (nbgrader's kernel), each called on copies of the
    arguments, with the reference versions of the functions it calls put in place for the call."""

    Raised = StudentError

    def __init__(
        self,
        namespace: dict,
        references: Mapping[str, Callable] | None = None,
        calls: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.namespace = namespace
        self.references = references or {}
        self.dependencies = calls or {}
        self.artifacts = None

    def passed(self, *functions: str) -> bool | None:
        return None

    def call(
        self, function: str, args: list, kwargs: dict | None = None, repeat: int = 1, stand_ins: bool = True
    ) -> Result:
        target = self.namespace.get(function)
        if not callable(target):
            raise MissingFunction(
                f"{function} is not defined in the notebook.\nHint: run the cell that "
                f"defines {function} and check it runs without error."
            )
        names = [n for n in self.dependencies.get(function, ()) if n in self.references] if stand_ins else []
        counter = Counter(names)
        saved = {name: self.namespace.get(name) for name in names}
        self.namespace.update({name: counter.wrap(self.references[name], name) for name in names})
        values, after = [], []
        try:
            generators: dict[int, np.random.Generator] = {}  # one per key for all repetitions
            for _ in range(repeat):
                real = [_materialize(a, generators) for a in args]
                real_kwargs = {k: _materialize(v, generators) for k, v in (kwargs or {}).items()}
                values.append(target(*real, **real_kwargs))
                after.append(real)
        except Exception as error:  # noqa: BLE001 - the student's code may raise anything
            raise StudentError(
                function, {"type": type(error).__name__, "builtin": True, "message": str(error)[:1000]}
            ) from None
        finally:
            self.namespace.update(saved)
        return Result(values, after, counter.calls, counter.scalars)


def _materialize(value: Any, generators: dict) -> Any:
    """A copy of an argument; an ``Rng`` becomes a Generator (one per key within a call)."""
    value = _plain(value)
    if isinstance(value, wire.Rng):
        if value.key not in generators:
            generators[value.key] = np.random.default_rng(value.seed)
            generators[value.key].random(value.skip)
        return generators[value.key]
    return value.copy() if isinstance(value, np.ndarray) else value
