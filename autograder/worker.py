"""The untrusted side: runs a student's cells and calls their functions on request.

This file is copied into each sandbox and run there as a script with only the
standard library and NumPy importable; it must not import anything else of the kit.
The trusted process imports it too, for the wire format (``encode``/``decode``,
``send``/``receive``) and for ``run_call``, which the in-process checks of the
notebook's hidden tests share.

Wire format: a message is an 8-byte big-endian length, a JSON header of that
length, then the raw bytes of the arrays the header lists (dtype, shape, size).
Only numeric and boolean dtypes cross; nothing is ever pickled.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import sys
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

CONTRACT = (
    "one_hot_encoding",
    "relu",
    "relu2deriv",
    "dropout_mask",
    "train_step",
    "evaluate",
    "train",
)
# The other contract functions each one calls; the grader swaps in the reference
# versions of these so that one mistake costs points once.
DEPENDENCIES = {
    "train_step": ("relu", "relu2deriv"),
    "evaluate": ("relu",),
    "train": ("dropout_mask", "train_step", "evaluate"),
}
NUMERIC_KINDS = "biuf"
MAX_MESSAGE_BYTES = 512 * 2**20  # a request (the grader's own)
MAX_REPLY_BYTES = 64 * 2**20  # a reply: the largest honest one (train's arguments back) is ~13 MB
MAX_HEADER_BYTES = 4 * 2**20  # a reply's JSON header
MAX_TEXT = 1000  # characters of any text from the student process that reaches a message
SCALAR_TYPES = {"bool": bool, "int": int, "float": float}
MAX_SCALARS = 10  # distinct values kept per argument position


class WireError(Exception):
    """A message that does not follow the wire format."""


# ----------------------------------------------------------------------------- values


class Rng:
    """An argument that the receiving side turns into ``numpy.random.default_rng(seed)``.

    ``skip`` doubles are drawn first (as if initial weights had been drawn from it);
    within one request, arguments with the same ``key`` are the same Generator.
    """

    def __init__(self, seed: int, key: int = 0, skip: int = 0) -> None:
        self.seed, self.key, self.skip = seed, key, skip


def encode(value: Any, arrays: list[np.ndarray]) -> dict:
    """Describe ``value`` as JSON, appending its arrays to ``arrays``.

    Numbers, booleans and numeric arrays become arrays; tuples, lists and dicts
    with string keys are walked; anything else is described by its type name only.
    """
    if value is None:
        return {"t": "none"}
    if isinstance(value, Rng):
        return {"t": "rng", "id": value.key, "seed": value.seed, "skip": value.skip}
    if type(value) in (bool, int, float):
        return _encode_array(np.asarray(value), arrays, python=type(value).__name__)
    if type(value) is np.ndarray or isinstance(value, np.generic):
        array = np.asarray(value)
        if array.dtype.kind in NUMERIC_KINDS:
            scalar = "numpy" if isinstance(value, np.generic) else None
            return _encode_array(array, arrays, python=scalar)
    if type(value) in (tuple, list):
        return {"t": type(value).__name__, "items": [encode(item, arrays) for item in value]}
    if type(value) is dict and all(type(key) is str for key in value):
        return {"t": "dict", "items": {key: encode(item, arrays) for key, item in value.items()}}
    return {"t": "object", "type": type(value).__name__}


def _encode_array(array: np.ndarray, arrays: list[np.ndarray], python: str | None) -> dict:
    arrays.append(np.asarray(array, order="C"))
    return {"t": "array", "i": len(arrays) - 1, "python": python}


def decode(node: Any, arrays: list[np.ndarray]) -> Any:
    """Inverse of ``encode``: arrays as ``numpy.ndarray``, scalars as Python or NumPy scalars.

    Anything malformed (a forged reply) raises ``WireError``.
    """
    try:
        return _decode(node, arrays)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as error:
        raise WireError(f"malformed value ({type(error).__name__})") from None


def _decode(node: Any, arrays: list[np.ndarray]) -> Any:
    if not isinstance(node, dict):
        raise WireError("malformed value")
    kind = node.get("t")
    if kind == "none":
        return None
    if kind == "array":
        array = arrays[int(node["i"])]
        scalar = node.get("python")
        if scalar in SCALAR_TYPES and array.ndim == 0:
            return SCALAR_TYPES[scalar](array.item())
        return array[()] if scalar == "numpy" and array.ndim == 0 else array
    if kind in ("tuple", "list"):
        items = [_decode(item, arrays) for item in node["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {str(key): _decode(item, arrays) for key, item in node["items"].items()}
    if kind == "object":
        return Opaque(str(node.get("type", "?")))
    raise WireError(f"unknown value kind {kind!r}")


class Opaque:
    """Stands for a returned object that is not a number, an array or a container."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<object of type {self.type_name}>"


# ----------------------------------------------------------------------------- messages


def send(stream: BinaryIO, header: dict, arrays: list[np.ndarray] = ()) -> None:
    """Write one message: the header (plus array descriptions) and the arrays' bytes."""
    header = dict(header, arrays=[[a.dtype.str, list(a.shape)] for a in arrays])
    head = json.dumps(header).encode()
    stream.write(struct.pack(">Q", len(head)) + head)
    for array in arrays:
        if array.size:  # an empty array has no bytes (and its memoryview cannot be cast)
            stream.write(memoryview(array).cast("B"))
    stream.flush()


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, saying so."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def receive(stream: BinaryIO, limit: int = MAX_MESSAGE_BYTES,
            header_limit: int = MAX_MESSAGE_BYTES) -> tuple[dict, list[np.ndarray]]:
    """Read one message written by ``send``: a header of at most ``header_limit`` bytes, arrays of
    at most ``limit`` in all; raise ``WireError`` or ``EOFError``. Sizes are checked before
    anything is read or allocated."""
    size = struct.unpack(">Q", _read_exactly(stream, 8))[0]
    if size > min(limit, header_limit):
        raise WireError("header too large")
    try:
        header = json.loads(_read_exactly(stream, size))
    except (ValueError, RecursionError) as error:
        raise WireError("header is not JSON") from error
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise WireError("header is not an object with arrays")
    arrays, total = [], 0
    for spec in header["arrays"]:
        dtype, shape = _check_array_spec(spec)
        count = int(np.prod(shape, dtype=np.int64))
        total += count * dtype.itemsize
        if total > limit:
            raise WireError("arrays too large")
        data = _read_exactly(stream, count * dtype.itemsize)
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape).copy())
    return header, arrays


def _check_array_spec(spec: Any) -> tuple[np.dtype, tuple[int, ...]]:
    try:
        dtype_str, shape = spec
        dtype = np.dtype(str(dtype_str))
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as error:
        raise WireError("bad array description") from error
    if dtype.kind not in NUMERIC_KINDS or dtype.hasobject or any(n < 0 for n in shape):
        raise WireError(f"refused array of dtype {dtype_str!r}")
    return dtype, shape


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("the other side closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


# ----------------------------------------------------------------------------- calls


def materialize(node: Any, arrays: list[np.ndarray], generators: dict[int, Any]) -> Any:
    """Decode an argument; ``{"t": "rng", "id": k, "seed": s}`` becomes one Generator per id."""
    if isinstance(node, dict) and node.get("t") == "rng":
        key = int(node["id"])
        if key not in generators:
            generators[key] = np.random.default_rng(int(node["seed"]))
            generators[key].random(int(node.get("skip", 0)))
        return generators[key]
    value = decode(node, arrays)
    return value.copy() if isinstance(value, np.ndarray) else value


def run_call(namespace: dict, references: dict, request: dict, arrays: list[np.ndarray]) -> tuple[
    dict, list[np.ndarray]
]:
    """Call ``request["function"]`` from ``namespace`` ``request["repeat"]`` times.

    The other contract functions it depends on are replaced, for the call only,
    by the ``references`` versions, wrapped to count how often they are called.
    Returns a header (``results``: one per repetition, each the return value and
    the arguments as they are after the call; ``calls``; or ``error``) and arrays.
    """
    name = request["function"]
    out_arrays: list[np.ndarray] = []
    function = namespace.get(name)
    if not callable(function):
        return {"missing": True}, out_arrays
    generators: dict[int, Any] = {}
    counts = dict.fromkeys(DEPENDENCIES.get(name, ()), 0)
    scalars: dict[str, set[float]] = {}
    saved = {dep: namespace.get(dep, _ABSENT) for dep in counts}
    for dep in counts:
        namespace[dep] = _counting(references[dep], dep, counts, scalars)
    results = []
    try:
        for _ in range(int(request.get("repeat", 1))):
            args = [materialize(node, arrays, generators) for node in request["args"]]
            kwargs = {k: materialize(v, arrays, generators) for k, v in request["kwargs"].items()}
            with np.errstate(all="ignore"):
                value = function(*args, **kwargs)
            results.append(
                {"value": encode(value, out_arrays), "args": [encode(a, out_arrays) for a in args]}
            )
    except BaseException as error:  # noqa: BLE001 - student code may raise anything, even SystemExit
        return {"error": describe_exception(error)}, []
    finally:
        for dep, value in saved.items():
            if value is _ABSENT:
                namespace.pop(dep, None)
            else:
                namespace[dep] = value
    seen = {key: sorted(values)[:MAX_SCALARS] for key, values in scalars.items()}
    return {"results": results, "calls": counts, "scalars": seen}, out_arrays


_ABSENT = object()


def _counting(
    function: Callable, name: str, counts: dict[str, int], scalars: dict[str, set[float]]
) -> Callable:
    """Wrap a reference function to count its calls and note the numbers passed to it.

    ``scalars["train_step:4"]`` collects the distinct numbers given as argument 4
    (the learning rate), so a check can see what the student's loop passed on.
    """

    def counted(*args: Any, **kwargs: Any) -> Any:
        counts[name] += 1
        for position, arg in enumerate(args):
            if type(arg) in (int, float) or (isinstance(arg, np.generic) and arg.dtype.kind in "iuf"):
                scalars.setdefault(f"{name}:{position}", set()).add(float(arg))
        return function(*args, **kwargs)

    counted.__name__ = name
    return counted


def describe_exception(error: BaseException) -> str:
    """``"ValueError: message (cell 12, line 3)"``, naming the innermost student frame."""
    where = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.startswith("<cell"):
            where = f" ({frame.filename.strip('<>')}, line {frame.lineno})"
            break
    if isinstance(error, SystemExit):
        return f"called sys.exit({error.code!r}){where}"
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    message = str(error)
    if len(message) > 500:
        message = message[:500] + "..."
    return f"{type(error).__name__}: {message}{where}" if message else type(error).__name__ + where


def load_cells(namespace: dict, cells: list[dict]) -> list[str | None]:
    """Run each cell's source in ``namespace`` in order; return each one's error or None."""
    errors = []
    for cell in cells:
        try:
            code = compile(cell["source"], f"<cell {cell['index']}>", "exec")
            with np.errstate(all="ignore"):
                exec(code, namespace)
            errors.append(None)
        except BaseException as error:  # noqa: BLE001 - a failing cell costs only its own functions
            errors.append(describe_exception(error))
    return errors


# ----------------------------------------------------------------------------- main loop


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """Answer requests until ``exit`` or end of input."""
    namespace: dict = {"__name__": "__main__", "np": np}
    references: dict = {"__name__": "reference"}
    while True:
        try:
            header, arrays = receive(requests)
        except EOFError:
            return
        op = header.get("op")
        if op == "references":
            exec(compile(header["source"], "<reference>", "exec"), references)
            send(replies, {})
        elif op == "load":
            send(replies, {"errors": load_cells(namespace, header["cells"])})
        elif op == "call":
            reply, out = run_call(namespace, references, header, arrays)
            send(replies, reply, out)
        else:
            return


SETUP_FAILED = 121  # exit status: the seccomp filter could not be installed (the host's fault)


def main() -> None:
    """``worker.py REQUEST_FD REPLY_FD [--seccomp]``: serve the grader until it is done."""
    import warnings

    warnings.simplefilter("ignore")
    # CPython ignores SIGXFSZ; restore the default so the output limit ends the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    request_fd, reply_fd = int(sys.argv[1]), int(sys.argv[2])
    if "--seccomp" in sys.argv[3:]:
        try:
            import _autograder_seccomp

            _autograder_seccomp.install()
        except Exception as error:  # noqa: BLE001 - any failure here is the host's, reported as such
            print(f"sandbox set-up failed: {error}", file=sys.stderr, flush=True)
            os._exit(SETUP_FAILED)
    with os.fdopen(request_fd, "rb") as requests, os.fdopen(reply_fd, "wb") as replies:
        serve(requests, replies)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
