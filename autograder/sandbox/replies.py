"""What comes back from a student process: values, or the failure to report, checked and capped.

Everything in a reply is the student's to forge: it is decoded into plain arrays and numbers
only, and every text in it is cut to ``worker.MAX_TEXT`` characters before it reaches a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder import worker
from autograder.sandbox.limits import size


class SandboxError(Exception):
    """The student process hit a limit, crashed or exited; the message says which and where."""


class GraderError(Exception):
    """The grader could not set up a student process: a fault of the host, never of the student."""


class StudentError(Exception):
    """The student's function raised; the message names the exception and the cell line."""


class MissingFunction(Exception):
    """The submission does not define the function (or its cell failed to run)."""


@dataclass
class CallResult:
    """What one request returned: per repetition the value and the arguments after the call."""

    values: list[Any]
    args_after: list[list[Any]]
    calls: dict[str, int]
    scalars: dict[str, list[float]]


def parse_reply(
    function: str,
    header: dict,
    arrays: list[np.ndarray],
    cell_errors: dict[int, str],
    memory_limit: int | None = None,
) -> CallResult:
    """Turn a worker reply into a ``CallResult`` or raise the student's failure."""
    if header.get("missing"):
        raise MissingFunction(_missing_message(function, cell_errors))
    if "error" in header:
        message = worker.clip(str(header["error"]))
        if message.startswith("MemoryError") and memory_limit:
            raise SandboxError(f"killed: memory limit {size(memory_limit)} exceeded in {function}")
        raise StudentError(f"{function} raised {message}")
    try:
        values, args_after = [], []
        for result in header["results"]:
            values.append(worker.decode(result["value"], arrays))
            args_after.append([worker.decode(a, arrays) for a in result["args"]])
        calls = {worker.clip(str(k), 40): int(v) for k, v in dict(header.get("calls", {})).items()}
        scalars = {
            worker.clip(str(k), 40): [float(x) for x in list(v)[: worker.MAX_SCALARS]]
            for k, v in dict(header.get("scalars", {})).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as error:
        raise worker.WireError(f"malformed reply ({type(error).__name__})") from None
    if len(calls) > len(worker.CONTRACT) or len(scalars) > 8 * len(worker.CONTRACT):
        raise worker.WireError("malformed reply (too many counters)")
    return CallResult(values, args_after, calls, scalars)


def _missing_message(function: str, cell_errors: dict[int, str]) -> str:
    message = f"{function} is not defined in the notebook."
    if cell_errors:
        failures = "; ".join(f"cell {i}: {e}" for i, e in sorted(cell_errors.items()))
        message += f" Cells that failed to run: {worker.clip(failures, 4 * worker.MAX_TEXT)}."
    return message + f" Hint: run the cell that defines {function} and check it runs without error."
