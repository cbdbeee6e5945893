"""Helpers the checks share: describing what came back, failing with a hint, gradients."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from autograder.worker import Opaque


class CheckFailure(AssertionError):
    """A check failed; the message says what was expected, what came back, and a hint."""


def fail(what: str, expected: str, got: str, hint: str) -> CheckFailure:
    """Build the failure message every check uses."""
    return CheckFailure(f"{what}: expected {expected}, got {got}. Hint: {hint}")


def describe(value: Any, limit: int = 6) -> str:
    """A short description: type, shape, dtype and a few values."""
    if isinstance(value, Opaque):
        return f"an object of type {value.type_name}"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, np.generic):
        return f"{value.item()!r} ({value.dtype})"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"{value.item()!r} ({value.dtype})"
        flat = value.ravel()
        shown = np.array2string(flat[:limit], precision=4, separator=", ")
        more = ", ..." if flat.size > limit else ""
        return f"array of shape {value.shape}, dtype {value.dtype}, values {shown[:-1]}{more}]"
    if isinstance(value, tuple | list):
        kind = type(value).__name__
        return f"a {kind} of {len(value)}: (" + ", ".join(describe(v, 3) for v in value[:4]) + ")"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(value)}"
    return repr(value)


def as_array(value: Any, what: str, hint: str) -> np.ndarray:
    """``value`` as a NumPy array, or a failure naming what came back instead."""
    if not isinstance(value, np.ndarray):
        raise fail(what, "a NumPy array", describe(value), hint)
    return value


def as_number(value: Any, what: str, hint: str) -> float:
    """A returned scalar (Python or NumPy number, or a 0-d/size-1 array) as a float."""
    if isinstance(value, bool | int | float | np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.size == 1 and np.isfinite(value).all():
        return float(value.ravel()[0])
    raise fail(what, "one finite number", describe(value), hint)


def expect_shape(array: np.ndarray, shape: tuple[int, ...], what: str, hint: str) -> None:
    if array.shape != shape:
        raise fail(what, f"shape {shape}", describe(array), hint)


def expect_close(
    got: np.ndarray, expected: np.ndarray, what: str, hint: str, rtol: float = 1e-7, atol: float = 1e-9
) -> None:
    """Values must match; the message shows the first mismatching position."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise fail(what, f"shape {expected.shape}", describe(got), hint)
    close = np.isclose(got, expected, rtol=rtol, atol=atol)
    if not close.all():
        where = tuple(int(i) for i in np.argwhere(~close)[0])
        raise fail(
            what,
            f"{expected[where]:.6g} at index {where}",
            f"{got[where]:.6g} there ({int((~close).sum())} of {close.size} values differ)",
            hint,
        )


def numerical_gradient(
    loss: Callable[[np.ndarray], float], x: np.ndarray, indices: Iterable[tuple[int, ...]], h: float = 1e-5
) -> dict[tuple[int, ...], float]:
    """Central differences of ``loss`` at ``x`` for the given entries (``x`` is restored)."""
    gradient = {}
    for index in indices:
        saved = x[index]
        x[index] = saved + h
        above = loss(x)
        x[index] = saved - h
        below = loss(x)
        x[index] = saved
        gradient[index] = (above - below) / (2 * h)
    return gradient
