"""The wire format between the grading process and a student process: plain data, never pickles.

A message is an 8-byte big-endian length, a JSON header of that length, then the raw bytes of
the arrays the header lists (dtype, shape). Values are described by ``encode`` as JSON nodes:
numbers, strings, bytes, containers and arrays of fixed-size dtypes (numbers, booleans, text)
cross as data; a NumPy ``Generator`` crosses as its bit generator's state; anything else stays
where it is and crosses as a ``Handle`` (an id and a type name). Functions of the other side
cross as ``Callable`` ids. Sizes are checked before anything is read or allocated.

This module uses only the standard library and NumPy: it is copied into every sandbox
(as ``_autograder_wire``) beside the worker.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any, BinaryIO

import numpy as np

ARRAY_KINDS = "biufcUS"  # fixed-size dtypes: no object, no pointer, nothing to unpickle
MAX_MESSAGE_BYTES = 512 * 2**20  # a request (the grader's own)
MAX_REPLY_BYTES = 64 * 2**20  # a reply: the largest honest one (a full data set's arrays back) is ~13 MB
MAX_HEADER_BYTES = 4 * 2**20  # a reply's JSON header
MAX_DEPTH = 50  # nesting of containers
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


class WireError(Exception):
    """A message that does not follow the wire format."""


class Rng:
    """An argument that the receiving side turns into ``numpy.random.default_rng(seed)``.

    ``skip`` doubles are drawn first (as if initial weights had been drawn from it); within
    one request, arguments with the same ``key`` are the same Generator.
    """

    def __init__(self, seed: int, key: int = 0, skip: int = 0) -> None:
        self.seed, self.key, self.skip = seed, key, skip


class Callable:
    """A function of the sending side, named by an id the other side can call back."""

    def __init__(self, ident: int, name: str = "function") -> None:
        self.ident, self.name = ident, name


class Handle:
    """An object that stayed on the student's side: its id there, its type's name and (for a
    function or a class) its own name."""

    def __init__(self, ident: int, kind: str, type_name: str, name: str = "") -> None:
        self.ident, self.kind, self.type_name, self.name = ident, kind, type_name, name

    def __repr__(self) -> str:
        return f"<{self.kind} of type {self.type_name}>"


# ----------------------------------------------------------------------------- values


MUTABLE = (np.ndarray, list, dict, set, np.random.Generator)


def encode(
    value: Any, arrays: list[np.ndarray], handle: Any = None, depth: int = 0, tags: Any = None
) -> dict:
    """Describe ``value`` as a JSON node, appending its arrays to ``arrays``.

    ``handle(value)`` gives the id of an object that cannot cross as data (None: it crosses as
    a ``Handle`` with id -1, its type name only). ``tags`` (an ``ObjectTags``) gives a mutable
    object shared by both sides its tag: it crosses as ``tagged``, so that the other side hands
    back its own object of that tag, brought up to date.
    """
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if tags is not None and type(value) in MUTABLE:
        tag = tags.tag(value)
        if tag is not None:
            return {"t": "tagged", "tag": tag, "value": _encode(value, arrays, handle, depth + 1, tags)}
    return _encode(value, arrays, handle, depth, tags)


def _encode(value: Any, arrays: list[np.ndarray], handle: Any, depth: int, tags: Any) -> dict:
    kind = type(value)
    if value is None:
        return {"t": "none"}
    if kind in (bool, int, float):
        return {"t": kind.__name__, "v": value if kind is not int else str(value)}
    if kind is str:
        return {"t": "str", "v": value}
    if kind is bytes:
        return {"t": "bytes", "v": base64.b64encode(value).decode()}
    if kind is complex:
        return {"t": "complex", "v": [value.real, value.imag]}
    if isinstance(value, Rng):
        return {"t": "rng", "id": value.key, "seed": value.seed, "skip": value.skip}
    if isinstance(value, Callable):
        return {"t": "callable", "id": value.ident, "name": value.name}
    if isinstance(value, Handle):
        return {
            "t": "handle",
            "id": value.ident,
            "kind": value.kind,
            "type": value.type_name,
            "name": value.name,
        }
    if kind is np.ndarray or isinstance(value, np.generic):
        array = np.asarray(value)
        if array.dtype.kind in ARRAY_KINDS and not array.dtype.hasobject and array.dtype.names is None:
            arrays.append(array if array.flags.c_contiguous else array.copy(order="C"))
            return {"t": "array", "i": len(arrays) - 1, "scalar": isinstance(value, np.generic)}
    if kind is np.random.Generator:
        state = value.bit_generator.state
        return {"t": "generator", "state": encode(state, arrays, None, depth + 1)}
    if kind in (tuple, list, set, frozenset):
        items = [encode(item, arrays, handle, depth + 1, tags) for item in value]
        return {"t": kind.__name__, "items": items}
    if kind is dict:
        pairs = [
            [encode(k, arrays, handle, depth + 1, tags), encode(v, arrays, handle, depth + 1, tags)]
            for k, v in value.items()
        ]
        return {"t": "dict", "items": pairs}
    ref = handle(value) if handle is not None else -1
    if isinstance(ref, Callable):
        return {"t": "callable", "id": ref.ident, "name": ref.name}
    own_name = getattr(value, "__name__", "") if callable(value) else ""
    return {
        "t": "handle",
        "id": ref,
        "kind": _kind_of(value),
        "type": type(value).__name__,
        "name": own_name if isinstance(own_name, str) else "",
    }


def _kind_of(value: Any) -> str:
    if isinstance(value, type):
        return "exception class" if issubclass(value, BaseException) else "class"
    if callable(value):
        return "function"
    return "object"


def decode(node: Any, arrays: list[np.ndarray], resolve: Any = None, tags: Any = None) -> Any:
    """Inverse of ``encode``. ``resolve(node)`` turns ``callable`` and ``handle`` nodes into what
    the receiving side uses for them (by default ``Callable`` and ``Handle``); ``tags`` turns a
    ``tagged`` value into this side's object of that tag (by default: the value). Anything
    malformed (a forged reply) raises ``WireError``."""
    try:
        return _decode(node, arrays, resolve, 0, tags)
    except WireError:
        raise
    except (
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        AttributeError,
        OverflowError,
        RecursionError,
    ) as error:
        raise WireError(f"malformed value ({type(error).__name__})") from None


def _decode(node: Any, arrays: list[np.ndarray], resolve: Any, depth: int, tags: Any = None) -> Any:
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        raise WireError("malformed value")
    kind = node.get("t")
    if kind == "tagged":
        inner = _decode(node["value"], arrays, resolve, depth + 1, tags)
        if not isinstance(inner, MUTABLE):
            raise WireError("malformed value")
        return tags.resolve(int(node["tag"]), inner) if tags is not None else inner
    if kind == "none":
        return None
    if kind == "bool":
        return bool(_checked(node["v"], bool))
    if kind == "int":
        text = _checked(node["v"], str)
        if len(text) > 4300:
            raise WireError("integer too long")
        return int(text)
    if kind == "float":
        return float(_checked(node["v"], (int, float)))
    if kind == "str":
        return _checked(node["v"], str)
    if kind == "bytes":
        return base64.b64decode(_checked(node["v"], str), validate=True)
    if kind == "complex":
        real, imag = node["v"]
        return complex(float(real), float(imag))
    if kind == "array":
        array = arrays[_checked(node["i"], int)]
        return array[()] if node.get("scalar") and array.ndim == 0 else array
    if kind in ("tuple", "list", "set", "frozenset"):
        items = [_decode(item, arrays, resolve, depth + 1, tags) for item in _checked(node["items"], list)]
        return {"tuple": tuple, "list": list, "set": set, "frozenset": frozenset}[kind](items)
    if kind == "dict":
        return {
            _decode(k, arrays, resolve, depth + 1, tags): _decode(v, arrays, resolve, depth + 1, tags)
            for k, v in _checked(node["items"], list)
        }
    if kind == "generator":
        return generator_from(_decode(node["state"], arrays, None, depth + 1))
    if kind in ("callable", "handle", "rng"):
        return resolve(node) if resolve is not None else _default_resolve(node)
    raise WireError(f"unknown value kind {str(kind)[:40]!r}")


def _checked(value: Any, kinds: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kinds):
        raise WireError("malformed value")
    return value


def decode_arguments(
    args: Any, kwargs: Any, arrays: list[np.ndarray], resolve: Any = None, tags: Any = None
) -> tuple[list, dict[str, Any]]:
    """A call's positional and keyword arguments (lists of nodes, a dict of str to nodes)."""
    if not isinstance(args, list) or not isinstance(kwargs, dict) or len(args) > 256 or len(kwargs) > 256:
        raise WireError("malformed arguments")
    return (
        [decode(node, arrays, resolve, tags) for node in args],
        {str(key)[:100]: decode(node, arrays, resolve, tags) for key, node in kwargs.items()},
    )


class ObjectTags:
    """Mutable objects the two sides share by identity during one conversation (a call and every
    call back within it): a tag names the same object on both sides, each side holding its own
    copy. An object that comes back tagged is this side's own object, brought up to date in
    place, so that ``is`` and in-place changes work across the processes as within one.
    ``minting``: this side gives the objects it sends new tags, counting by ``step`` (the grader
    upwards, the student's process downwards, so that the two never give the same tag)."""

    def __init__(self, minting: bool = False, step: int = 1) -> None:
        self.minting, self.step = minting, step
        self.objects: dict[int, Any] = {}
        self._tag_of: dict[int, int] = {}
        self._next = 0

    def tag(self, value: Any) -> int | None:
        found = self._tag_of.get(id(value))
        if found is not None and self.objects.get(found) is value:
            return found
        if not self.minting:
            return None
        self._next += self.step
        self._keep(self._next, value)
        return self._next

    def resolve(self, tag: int, inner: Any) -> Any:
        existing = self.objects.get(tag)
        if existing is not None and type(existing) is type(inner) and update_in_place(existing, inner):
            return existing
        self._keep(tag, inner)
        return inner

    def _keep(self, tag: int, value: Any) -> None:
        self.objects[tag] = value  # held, so that its id stays its own for the conversation
        self._tag_of[id(value)] = tag

    def clear(self) -> None:
        self.objects.clear()
        self._tag_of.clear()


def decode_reference(node: dict) -> Any:
    """A ``callable``, ``handle`` or ``rng`` node as ``Callable``, ``Handle`` or ``Rng``."""
    try:
        return _default_resolve(node)
    except (KeyError, TypeError, ValueError) as error:
        raise WireError(f"malformed reference ({type(error).__name__})") from None


def _default_resolve(node: dict) -> Any:
    if node["t"] == "callable":
        return Callable(int(node["id"]), str(node.get("name", "function"))[:100])
    if node["t"] == "rng":
        return Rng(int(node["seed"]), int(node["id"]), int(node.get("skip", 0)))
    return Handle(
        int(node["id"]),
        str(node.get("kind", "object"))[:40],
        str(node.get("type", "?"))[:200],
        str(node.get("name", ""))[:200],
    )


def generator_from(state: Any) -> np.random.Generator:
    """A Generator whose bit generator has ``state`` (as ``bit_generator.state`` gives it)."""
    if not isinstance(state, dict) or state.get("bit_generator") not in BIT_GENERATORS:
        raise WireError("malformed generator state")
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def update_in_place(original: Any, new: Any) -> bool:
    """Make ``original`` (an argument of a call made on the other side) hold ``new``, as an in-place
    change there did: arrays are copied into, containers updated entry by entry (so that the arrays
    inside keep their identity), a Generator takes the new state. False if it cannot."""
    if isinstance(original, np.ndarray) and isinstance(new, np.ndarray):
        if original.shape != new.shape or not original.flags.writeable:
            return False
        np.copyto(original, new, casting="unsafe")
    elif isinstance(original, list) and isinstance(new, list):
        if len(original) == len(new):
            for index, item in enumerate(new):
                if not update_in_place(original[index], item):
                    original[index] = item
        else:
            original[:] = new
    elif isinstance(original, dict) and isinstance(new, dict):
        for key in [k for k in original if k not in new]:
            del original[key]
        for key, item in new.items():
            if key not in original or not update_in_place(original[key], item):
                original[key] = item
    elif isinstance(original, set) and isinstance(new, set):
        original.clear()
        original.update(new)
    elif isinstance(original, np.random.Generator) and isinstance(new, np.random.Generator):
        original.bit_generator.state = new.bit_generator.state
    else:
        return False
    return True


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


def receive(
    stream: BinaryIO, limit: int = MAX_MESSAGE_BYTES, header_limit: int = MAX_MESSAGE_BYTES
) -> tuple[dict, list[np.ndarray]]:
    """Read one message written by ``send``: a header of at most ``header_limit`` bytes, arrays of
    at most ``limit`` in all; raise ``WireError`` or ``EOFError``."""
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
        dtype, shape = _check_array_spec(spec, limit)
        nbytes = math.prod(shape) * dtype.itemsize  # Python's integers: no overflow to wrap around
        total += nbytes
        if total > limit:
            raise WireError("arrays too large")
        data = _read_exactly(stream, nbytes)
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape).copy())
    return header, arrays


def _check_array_spec(spec: Any, limit: int) -> tuple[np.dtype, tuple[int, ...]]:
    """The dtype and shape an array description gives, each dimension at most ``limit`` (the
    message's byte limit: no larger dimension can hold data) and the item size at least 1."""
    try:
        dtype_str, shape = spec
        dtype = np.dtype(str(dtype_str))
        shape = tuple(int(n) for n in shape)
    except (TypeError, ValueError) as error:
        raise WireError("bad array description") from error
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.names is not None or dtype.itemsize == 0:
        raise WireError(f"refused array of dtype {str(dtype_str)[:40]!r}")
    if len(shape) > 32:
        raise WireError("too many dimensions")
    if any(n < 0 or n > limit for n in shape):
        raise WireError("refused array shape: a dimension below 0 or beyond the size limit")
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
