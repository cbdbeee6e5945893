"""Tools for the checks in mnist_checks.py: messages, comparisons and float32 error bounds.

Tolerances. A function may compute in float32 (unit roundoff u = 2**-24). The worst-case
error of a sum of K products is K*u*sum(|x_i*y_i|), but rounding errors are independent
and average out: the error exceeds LAMBDA*sqrt(K)*u*sum(|x_i*y_i|) only with probability
below 2*exp(-LAMBDA**2/2), 3e-8 for LAMBDA = 6 (probabilistic rounding error analysis, as
in Higham and Mary, 2019). ``Forward`` carries that bound through the network's forward
pass and its squared error: a loss passes when it is within it (about 1e-4 of the loss for
train_step, 3e-5 for evaluate), while real mistakes (a factor 2, a mean for a sum, a
missing mask, the loss after the update) are off by a few percent to several times.
"""
from __future__ import annotations

import linecache
import textwrap
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

Known = tuple | Callable[[], tuple]  # (wrong answer, its hint) pairs, or a function that computes them

U32 = 2.0**-24  # unit roundoff of float32
TRAIN_KEYS = ("training_loss", "training_accurate_pred", "test_loss", "test_accurate_pred")


class CheckFailure(AssertionError):
    """A check failed; the message says what was expected, what came back, and a hint."""

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows for a failing check: the message alone (no lines of the checks' own
        code), wrapped to 80 characters, the hint on a line of its own."""
        return wrapped(str(self))


def wrapped(message: str, width: int = 80) -> list[str]:
    lines: list[str] = []
    for paragraph in message.splitlines():
        lines += textwrap.wrap(paragraph, width, subsequent_indent="  ", break_long_words=True) or [""]
    return lines


class StudentRaised(Exception):
    """The student's function raised ``kind`` (an exception type name) with ``message``; ``where``
    names the student's line it came from."""

    def __init__(self, function: str, kind: str, message: str, where: str = "") -> None:
        separator = " " if message.startswith("(") else ": "
        text = f"{function} raised {kind}{separator + message if message else ''}"
        super().__init__(text + (f" ({where})" if where else ""))
        self.function, self.kind, self.message, self.where = function, kind, message, where


class Rng:
    """An argument that becomes ``np.random.default_rng(seed)`` (``skip`` doubles drawn first)."""

    def __init__(self, seed: int, key: int = 0, skip: int = 0) -> None:
        self.seed, self.key, self.skip = seed, key, skip


# ----------------------------------------------------------------------------- messages


def fail(what: str, expected: str, got: str, hint: str) -> CheckFailure:
    return CheckFailure(f"{what}: expected {expected}, got {got}.\nHint: {hint}")


def describe(value: Any, limit: int = 6) -> str:
    """A short description of a returned value (one line): type, shape, dtype and a few values."""
    if hasattr(value, "type_name"):
        return f"an object of type {short(value.type_name)}"
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return f"{short(np.asarray(value).item())} ({value.dtype})"
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return short(value)
    if isinstance(value, np.ndarray):
        flat = value.ravel()[:limit]
        shown = np.array2string(flat + 0 if flat.dtype.kind in "biufc" else flat, precision=6, separator=", ")
        more = ", ..." if value.size > limit else ""
        return f"array of shape {value.shape}, dtype {value.dtype}, values {short(shown[:-1], 200)}{more}]"
    if isinstance(value, tuple | list):
        items = ", ".join(describe(v, 3) for v in value[:4])
        return f"a {type(value).__name__} of {len(value)}: ({items})"
    if isinstance(value, dict):
        keys = sorted(short(key, 40) for key in list(value)[:12])
        return f"a dict with keys [{', '.join(keys)}]" + (" ..." if len(value) > 12 else "")
    return f"an object of type {short(type(value).__name__)}"


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, at most ``limit`` characters (a value the student returned)."""
    text = repr(value).encode("ascii", "backslashreplace").decode()
    return text if len(text) <= limit else text[:limit] + "..."


def two_numbers(expected: float, got: float) -> tuple[str, str]:
    """Both numbers with just enough digits (at least 6) to show that they differ."""
    expected, got = float(expected) + 0.0, float(got) + 0.0  # + 0.0 turns -0.0 into 0.0
    for digits in range(6, 18):
        a, b = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if a != b:
            return a, b
    return a, b


EXPLAIN = {
    "NotImplementedError": "The function is not written yet: replace raise NotImplementedError() "
    "with your code.",
    "NameError": "A name it uses is not defined where it runs: a function sees only its parameters, np, "
    "the other task functions and the given cells above it; define what else it needs inside it.",
    "TypeError": "An operation got a value of the wrong kind: check what each argument is "
    "(an array, a number, a generator) and what each function you call returns.",
    "IndexError": "An index is out of range: check the shapes and the bounds of your loops.",
    "AttributeError": "A value has no such attribute or method: check its type "
    "(rng is a numpy Generator: rng.integers, rng.random).",
    "ZeroDivisionError": "A division by zero: check what you divide by.",
    "RecursionError": "The function calls itself without end: check that it does not call itself by mistake.",
    "KeyError": "A dictionary has no such key: check the spelling of the keys.",
}
AMBIGUOUS = (
    "Python's max, if, and, or work on single values; on arrays use NumPy's element-wise "
    "operations (np.maximum, np.where, comparisons, &, |)."
)
DOT_NOT_OUTER = (
    "np.dot of two 1-D arrays is one number (their inner product) and needs equal lengths; "
    "an update of a weight matrix needs np.outer(a, b), of shape (len(a), len(b))."
)
SHAPES = "Two array shapes do not fit together: print the shape of every intermediate array."


def explain(kind: str, message: str) -> str:
    """One sentence on what the common exception ``kind`` usually means here."""
    if "truth value of an array" in message:
        return AMBIGUOUS
    if kind == "ValueError" and "not aligned" in message and message.count("(") >= 2 and ",)" in message:
        return DOT_NOT_OUTER
    if kind == "ValueError" and ("shape" in message or "broadcast" in message):
        return SHAPES
    return EXPLAIN.get(kind, "")


def call(student: Any, function: str, args: list, what: str, hint: str, kwargs: dict | None = None,
         repeat: int = 1, stand_ins: bool = True) -> Any:
    """``student.call(...)``; an exception of the student's code fails the check with the hint.

    ``stand_ins=False``: the function runs with the student's own versions of the functions it
    calls (the grader's versions stand in for them otherwise)."""
    try:
        if stand_ins:
            return student.call(function, args, kwargs or {}, repeat)
        return student.call(function, args, kwargs or {}, repeat, stand_ins=False)
    except getattr(student, "Raised", StudentRaised) as error:
        sentence = explain(error.kind, error.message)
        raise CheckFailure(f"{what}: {error}.\n{sentence + chr(10) if sentence else ''}Hint: {hint}") from None


# ----------------------------------------------------------------------------- values


def as_array(value: Any, what: str, hint: str) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise fail(what, "a NumPy array", describe(value), hint)
    return value


def as_number(value: Any, what: str, hint: str) -> float:
    """A returned scalar (Python or NumPy number, or a size-1 array) as a float."""
    if isinstance(value, bool | int | float | np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        if np.isfinite(value).all():
            return float(value.ravel()[0])
    raise fail(what, "one finite number", describe(value), hint)


def as_pair(value: Any, what: str, names: str, hint: str) -> tuple[Any, Any]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise fail(what, f"a pair ({names})", describe(value), hint)
    return value[0], value[1]


def expect_unchanged(result: Any, before: list, names: list[str], function: str, hint: str) -> None:
    """The arguments ``names`` (positions as in ``before``) must be as they were after the call."""
    for position, (value, name) in enumerate(zip(before, names, strict=True)):
        if name and isinstance(value, np.ndarray):
            after = result.args_after[0][position]
            if not (isinstance(after, np.ndarray) and after.shape == value.shape and
                    np.array_equal(after, value, equal_nan=True)):
                raise fail(f"{name} after {function}", f"{name} left unchanged ({describe(value)})",
                           f"it changed to {describe(after)}", hint)


def expect_values(got: np.ndarray, expected: np.ndarray, what: str, hint: str, rtol: float = 0.0,
                  atol: float | np.ndarray = 0.0, known: Known = ()) -> None:
    """Values within ``rtol``/``atol``; ``known`` lists (wrong answer, its hint) to recognise
    (a function giving the list is called only when the values are wrong)."""
    got64 = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got64.shape != expected.shape:
        raise fail(what, f"shape {expected.shape}", describe(got), hint)
    close = np.abs(got64 - expected) <= rtol * np.abs(expected) + atol
    if close.all():
        return
    for wrong, wrong_hint in known() if callable(known) else known:
        if np.shape(wrong) == expected.shape and np.allclose(got64, wrong, rtol=1e-6, atol=1e-12):
            hint = wrong_hint
            break
    where = tuple(int(i) for i in np.argwhere(~close)[0])
    a, b = two_numbers(expected[where], got64[where])
    differ = f"{int((~close).sum())} of {close.size} values differ"
    raise fail(what, f"{a} at index {where}", f"{b} there ({differ})", hint)


def expect_number(got: float, expected: float, what: str, hint: str, tolerance: float,
                  known: Known = ()) -> None:
    """One number within ``tolerance``; ``known`` lists (wrong value, its hint) to recognise
    (a function giving the list is called only when the number is wrong)."""
    if abs(got - expected) <= tolerance:
        return
    for wrong, wrong_hint in known() if callable(known) else known:
        if np.isclose(got, wrong, rtol=1e-6, atol=1e-12):
            hint = wrong_hint
            break
    a, b = two_numbers(expected, got)
    raise fail(what, a, b, hint)


LAMBDA = 6.0  # a K-term float32 sum exceeds LAMBDA * sqrt(K) * u * sum|terms| with probability < 1e-7


def sum_bound(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bound on the rounding error of ``a @ b`` in float32 (inputs rounded to float32 too)."""
    return LAMBDA * np.sqrt(a.shape[-1] + 2) * U32 * (np.abs(a) @ np.abs(b))


class Forward:
    """The forward pass and its squared error, with bounds on their float32 rounding errors.

    ``layer_0`` is one image (784,) or images (n, 784); ``factor`` multiplies the hidden
    layer after ``relu`` (dropout: ``mask * 2``, exact in float32). Each matrix product gets
    the probabilistic bound of ``sum_bound``; errors carried into a later product are added
    as independent errors (root of the sum of squares), as rounding errors behave.
    Attributes: ``hidden``, ``outputs``, ``residual`` (label - outputs), ``loss`` (summed
    squared error) and ``loss_error``, the bound on the loss's float32 error.
    """

    def __init__(self, layer_0: np.ndarray, label: np.ndarray, weights_1: np.ndarray,
                 weights_2: np.ndarray, relu: Any, factor: Any = 1.0) -> None:
        self.hidden = np.asarray(relu(layer_0 @ weights_1), dtype=np.float64) * factor
        hidden_error = sum_bound(layer_0, weights_1) * np.abs(factor)
        self.outputs = self.hidden @ weights_2
        output_error = (np.sqrt(hidden_error**2 @ weights_2**2) + sum_bound(self.hidden, weights_2)
                        + U32 * np.abs(self.outputs))
        self.residual = label - self.outputs
        residual_error = output_error + U32 * np.abs(self.residual)
        self.loss = float(np.sum(self.residual**2))
        self.loss_error = float(np.sqrt(np.sum((2 * self.residual * residual_error) ** 2))
                                + LAMBDA * np.sqrt(self.residual.size) * U32 * self.loss)

    def tolerance(self) -> float:
        """What a loss computed in float32 (or in float64, in any order) may be off by."""
        return self.loss_error + 1e-12 * self.loss


def numerical_gradient(loss: Any, x: np.ndarray, indices: list, h: float = 1e-5) -> np.ndarray:
    """Central differences of ``loss`` at ``x`` for the given entries (``x`` is restored)."""
    gradient = []
    for index in indices:
        saved = x[index]
        x[index] = saved + h
        above = loss(x)
        x[index] = saved - h
        below = loss(x)
        x[index] = saved
        gradient.append((above - below) / (2 * h))
    return np.array(gradient)


# ----------------------------------------------------------------------------- calling


class Result:
    """What a call returned: per repetition the value and the arguments after the call; the
    calls of the stand-ins by name, and the numbers passed to them (``"train_step:4"``)."""

    def __init__(self, values: list, args_after: list, calls: dict, scalars: dict) -> None:
        self.values, self.args_after, self.calls, self.scalars = values, args_after, calls, scalars


class LocalStudent:
    """Calls the functions of a notebook's namespace, each on copies of the arguments.

    While a call runs, the other tasks' functions named in ``stand_ins`` are replaced by
    those stand-ins (counting their calls) and put back afterwards.
    """

    Raised = StudentRaised

    def __init__(self, namespace: dict, stand_ins: dict | None = None) -> None:
        self.namespace, self.stand_ins = namespace, stand_ins or {}

    def passed(self, *functions: str) -> bool | None:
        """Whether those functions passed their checks: not known here."""
        return None

    def call(self, function: str, args: list, kwargs: dict | None = None, repeat: int = 1,
             stand_ins: bool = True) -> Result:
        target = self.namespace.get(function)
        if not callable(target):
            raise CheckFailure(f"{function} is not defined.\nHint: run the cell that defines {function} "
                               "and check that it runs without an error.")
        used = self.stand_ins if stand_ins else {}
        calls = dict.fromkeys(used, 0)
        scalars: dict[str, set] = {}
        saved = {name: self.namespace.get(name) for name in used}
        for name, stand_in in used.items():
            self.namespace[name] = counting(stand_in, name, calls, scalars)
        values, args_after, generators = [], [], {}
        try:
            for _ in range(repeat):
                real = [materialize(a, generators) for a in args]
                real_kwargs = {k: materialize(v, generators) for k, v in (kwargs or {}).items()}
                values.append(target(*real, **real_kwargs))
                args_after.append(real)
        except Exception as error:  # noqa: BLE001 - the student's code may raise anything
            where = ", ".join(filter(None, (student_line(error), argument_sizes(args))))
            raise StudentRaised(function, type(error).__name__, str(error)[:500], where) from None
        finally:
            self.namespace.update(saved)
        return Result(values, args_after, calls, {k: sorted(v) for k, v in scalars.items()})


def student_line(error: BaseException) -> str:
    """``Cell In[7], line 3: hidden = layer_0 @ weights_1``: the notebook line the exception came
    from (the innermost frame that is a notebook cell), or ''."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        name = cell_name(frame.filename)
        if name:
            text = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
            return f"{name}, line {frame.lineno}" + (f": {text}" if text else "")
    return ""


def cell_name(filename: str) -> str:
    """How Jupyter names the cell a file name stands for (``Cell In[7]``), or '' for a module."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        count = shell.compile._filename_map.get(filename) if shell is not None else None
    except (ImportError, AttributeError):
        count = None
    if count is not None:
        return f"Cell In[{count}]"
    return "your cell" if filename.startswith("<") and "cell" in filename else ""


def argument_sizes(args: list) -> str:
    """``called with arrays of shapes (784,), (10,)``: the sizes students see in their notebook."""
    shapes = [str(np.shape(a)) for a in args if isinstance(a, np.ndarray)]
    return f"called with arrays of shapes {', '.join(shapes)}" if shapes else ""


def materialize(value: Any, generators: dict) -> Any:
    """A copy of an argument; an ``Rng`` becomes a Generator (one per key within a call)."""
    if isinstance(value, Rng):
        if value.key not in generators:
            generators[value.key] = np.random.default_rng(value.seed)
            generators[value.key].random(value.skip)
        return generators[value.key]
    return value.copy() if isinstance(value, np.ndarray) else value


def counting(function: Any, name: str, calls: dict, scalars: dict) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        for position, arg in enumerate(args):
            if type(arg) in (int, float) or (isinstance(arg, np.generic) and arg.dtype.kind in "iuf"):
                scalars.setdefault(f"{name}:{position}", set()).add(float(arg))
        return function(*args, **kwargs)

    return counted
