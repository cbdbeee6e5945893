"""What comes back from a student process: values, or the failure to report, checked and capped.

Everything in a reply is the student's to forge: it is decoded into plain data only, and every
text in it is bounded and shown as one quoted line (``autograder.text.quote``) before it
reaches a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder import text, wire
from autograder.sandbox.limits import size


class SandboxError(Exception):
    """The student process hit a limit, crashed or exited; the message says which and where."""


class GraderError(Exception):
    """The grader could not set up a student process: a fault of the host, never of the student."""


class MissingFunction(Exception):
    """The submission does not define the function (or its cell failed to run)."""


class StudentError(Exception):
    """The student's function raised: the exception's type name, message and where it came from,
    each as the student process reported it (quoted and bounded here)."""

    def __init__(self, function: str, error: dict) -> None:
        self.function = function
        self.kind = text.one_line(str(error.get("type", "Exception")))[:200]
        self.builtin = bool(error.get("builtin")) and self.kind.isidentifier()
        self.bases = (
            [str(b)[:40] for b in error.get("bases", [])][:8] if isinstance(error.get("bases"), list) else []
        )
        self.message = str(error.get("message", ""))[: text.MAX_TEXT]
        self.exit = error.get("exit")
        self.where = place(error)
        self.note = ""
        super().__init__(self.describe())

    def add_note_to_message(self, note: str) -> None:
        """Say what else happened (the grader's own function failed on the student's arguments)."""
        self.note = note
        self.args = (self.describe(),)

    def describe(self) -> str:
        """``square raised ValueError: "message" (cell 12, line 3: "code")``."""
        if self.exit is not None:
            said = f"called sys.exit({text.quote(self.exit, 200)})"
        else:
            said = f"raised {self.brief()}"
        said = f"{self.function} {said}" + (
            f" ({self.where})" if self.where and self.exit is not None else ""
        )
        return said + (f"; before that, {self.note}" if self.note else "")

    def brief(self) -> str:
        """``ValueError: "message" (cell 12, line 3: "code")``: the exception and where it came from."""
        kind = self.kind if self.builtin else text.quote(self.kind, 200)
        said = kind + (f": {text.quote(self.message)}" if self.message else "")
        return said + (f" ({self.where})" if self.where else "")


def place(error: dict) -> str:
    """``cell 12, line 3: "code"`` from an error's ``cell``, ``line`` and ``text``."""
    cell = str(error.get("cell", ""))
    if not cell.startswith("cell ") or not cell[5:].isdigit():
        return ""
    where = f"{cell}, line {int(error.get('line') or 0)}"
    code = str(error.get("text", "")).strip()
    return where + (f": {text.quote(code, 200)}" if code else "")


@dataclass
class CallResult:
    """What one request returned: per repetition the value and the arguments after the call;
    ``calls`` and ``scalars`` of the grader's functions the call used (counted by the grader);
    ``warned``: warnings the student's code raised (a notebook would have shown them)."""

    values: list[Any]
    args_after: list[list[Any]]
    calls: dict[str, int] = field(default_factory=dict)
    scalars: dict[str, list[float]] = field(default_factory=dict)
    kwargs_after: list[dict[str, Any]] = field(default_factory=list)
    warned: int = 0
    grader_failures: list[str] = field(default_factory=list)  # the grader's functions that failed


def parse_reply(
    function: str,
    header: dict,
    arrays: list[np.ndarray],
    cell_errors: dict[int, str],
    memory_limit: int | None = None,
    resolve: Any = None,
    tags: Any = None,
) -> CallResult:
    """Turn a worker reply into a ``CallResult`` or raise the student's failure."""
    if header.get("missing"):
        raise MissingFunction(_missing_message(function, cell_errors))
    if "error" in header:
        error = header["error"] if isinstance(header["error"], dict) else {"message": str(header["error"])}
        if str(error.get("type")) == "MemoryError" and memory_limit:
            raise SandboxError(f"killed: memory limit {size(memory_limit)} exceeded in {function}")
        raise StudentError(function, error)
    try:
        values, args_after, kwargs_after = [], [], []
        for result in header["results"]:
            values.append(wire.decode(result["value"], arrays, resolve))
            args, kwargs = wire.decode_arguments(
                result.get("args", []), result.get("kwargs", {}), arrays, resolve
            )
            args_after.append(args)
            kwargs_after.append(kwargs)
        warned = int(header.get("warned", 0))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise wire.WireError(f"malformed reply ({type(error).__name__})") from None
    return CallResult(values, args_after, kwargs_after=kwargs_after, warned=warned)


def _missing_message(function: str, cell_errors: dict[int, str]) -> str:
    message = f"{function} is not defined in the notebook."
    if cell_errors:
        failures = "; ".join(f"cell {i}: {e}" for i, e in sorted(cell_errors.items()))
        message += f" Cells that failed to run: {failures[: 4 * text.MAX_TEXT]}."
    return message + f"\nHint: run the cell that defines {function} and check it runs without error."
