"""The grader's side of the shared checks: the student seen through the sandbox, and places.

The check functions live in ``autograder/checks/mnist_checks/`` (shipped beside the
release notebook for its visible checks). Here they get a ``GradedStudent``: calls go to
the sandbox (or, in nbgrader's kernel, to the notebook's namespace), the shared ``Rng``
becomes the wire's, and an exception of the student's code becomes ``StudentRaised``.
"""

from __future__ import annotations

import re
from typing import Any

from autograder import worker
from autograder.checks.mnist_checks.tools import CheckFailure, Rng, StudentRaised
from autograder.sandbox import StudentError

__all__ = ["CheckFailure", "GradedStudent", "StudentRaised", "split_error"]
ERROR = re.compile(r"^(?P<kind>[A-Za-z_][\w.]*)(?P<rest>(?::| \(|$).*)$", re.S)


def split_error(function: str, text: str) -> tuple[str, str]:
    """``"relu raised ValueError: ..."`` as ("ValueError", "...")."""
    text = text.removeprefix(f"{function} raised ")
    match = ERROR.match(text)
    if not match or text.startswith("called sys.exit"):
        return "", text
    return match["kind"], match["rest"].removeprefix(":").strip()


class GradedStudent:
    """Wraps a ``Sandbox`` (or the notebook's ``InProcessStudent``) for the shared checks."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def artifacts(self) -> dict | None:
        return getattr(self.inner, "artifacts", None)

    def call(self, function: str, args: list, kwargs: dict | None = None, repeat: int = 1) -> Any:
        def convert(value: Any) -> Any:
            return worker.Rng(value.seed, value.key, value.skip) if isinstance(value, Rng) else value

        try:
            return self.inner.call(function, [convert(a) for a in args],
                                   {k: convert(v) for k, v in (kwargs or {}).items()}, repeat)
        except StudentError as error:
            kind, message = split_error(function, str(error))
            if not kind:
                raise
            raise StudentRaised(function, kind, message) from None
