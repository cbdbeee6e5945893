"""Checks for the MNIST assignment: ``check("relu", globals())`` runs the visible checks of a task.

The grader runs the same check functions (``tasks.py``, ``loop.py``) on the inputs of
``visible.py`` and on inputs you have not seen. Only NumPy is needed.
"""

from __future__ import annotations

from .tools import CheckFailure, LocalStudent
from .visible import CHECKS, STAND_INS

TASKS = {"one_hot_encoding": 1, "relu": 2, "relu2deriv": 3, "dropout_mask": 4, "train_step": 5,
         "evaluate": 6, "train": 7}


def check(function: str, namespace: dict) -> None:
    """Run the visible checks of ``function`` on the functions in ``namespace`` (``globals()``)."""
    student = LocalStudent(namespace, STAND_INS.get(function))
    try:
        CHECKS[function](student)
    except CheckFailure as failure:
        raise CheckFailure(str(failure)) from None  # the message, without the checks' own lines
    print(f"{function}: visible checks passed")


def needs(namespace: dict, *functions: str) -> None:
    """Stop with a clear message when a task this cell needs is not written yet."""
    for function in functions:
        defined = namespace.get(function)
        code = getattr(defined, "__code__", None)
        if code is None or "NotImplementedError" in code.co_names:
            raise RuntimeError(
                f"This cell needs Task {TASKS[function]} ({function}): write it above and run its cell "
                "(and its test cell), then run this cell again."
            ) from None
