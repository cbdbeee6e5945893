"""The notebook's hidden tests: the grader's checks, run in the notebook's own kernel.

nbgrader runs a hidden test cell in the same process as the student's code, so
these checks can be fooled there (see docs/grading.md); ``python -m autograder``
runs the very same check functions against a sandboxed process instead.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
import zlib
from typing import Any

import numpy as np

from autograder import worker
from autograder.expect import CheckFailure, GradedStudent, StudentRaised
from autograder.sandbox import CallResult, MissingFunction, StudentError, parse_reply


class InProcessStudent:
    """The student's functions in ``namespace``, called through the sandbox's own call path."""

    def __init__(self, namespace: dict) -> None:
        from solutions import network

        self.namespace = namespace
        self.references = vars(network)

    def call(
        self, function: str, args: list[Any], kwargs: dict | None = None, repeat: int = 1
    ) -> CallResult:
        arrays: list[np.ndarray] = []
        request = {
            "function": function,
            "args": [worker.encode(a, arrays) for a in args],
            "kwargs": {k: worker.encode(v, arrays) for k, v in (kwargs or {}).items()},
            "repeat": repeat,
        }
        header, out = worker.run_call(self.namespace, self.references, request, arrays)
        return parse_reply(function, header, out, {})


def checks_for(grade_id: str) -> list[tuple[str, Any]]:
    """The check functions of a grade id, in the order they are written."""
    module = importlib.import_module(f"autograder.checks.{grade_id}")
    functions = [
        (name, f) for name, f in vars(module).items()
        if name.startswith("test_") and inspect.isfunction(f) and f.__module__ == module.__name__
    ]
    return sorted(functions, key=lambda item: item[1].__code__.co_firstlineno)


def check_rng(grade_id: str, check_name: str) -> np.random.Generator:
    """The generator a check gets: seeded by its names, so every run sees the same inputs."""
    return np.random.default_rng(zlib.crc32(f"{grade_id}::{check_name}".encode()))


def run_checks(grade_id: str, namespace: dict) -> None:
    """Run every check of ``grade_id`` on the functions in ``namespace`` (a notebook's globals()).

    Raises AssertionError listing each failed check's message; prints nothing.
    """
    student = GradedStudent(InProcessStudent(namespace))
    failures = []
    for name, check in checks_for(grade_id):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                check(student, check_rng(grade_id, name))
        except (CheckFailure, StudentError, StudentRaised, MissingFunction) as error:
            failures.append(f"{name}: {error}")
    if failures:
        raise AssertionError("\n".join(failures))
