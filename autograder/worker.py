"""The untrusted side: runs a student's cells and answers the grading process's requests.

This file is copied into each sandbox (as ``_autograder_worker``, beside ``_autograder_wire``)
and run there with only the standard library and NumPy importable. It holds the student's code
and nothing of the grader's: no reference, no check, no expected value. Where a check wants a
student function to run with another function in place of one it calls (the grader's
version, for one-mistake-once), the grader sends a *callable id*: the worker puts a proxy
under that name, and each call of it is a request back to the grading process, which runs its
own function there and answers with plain data (in-place changes of the arguments included).

Requests (``op``): ``load`` (run cells), ``call`` (call a function ``repeat`` times, with
``bind``: names in place for the call only), ``get`` (a name's value, as data or a handle),
``set`` (bind names to values, callables or handles), ``delete`` (a name). Every reply and
every call back carries the ``seq`` of the request it belongs to.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import traceback
import warnings
from typing import Any, BinaryIO

import numpy as np

if __package__:  # imported by the kit (tests)
    from autograder import wire
else:  # in the sandbox
    import _autograder_wire as wire  # type: ignore[no-redef]

MAX_TEXT = 1000  # characters of any text sent back
MAX_HANDLES = 100_000
MAX_CALLBACK_DEPTH = 20
SETUP_FAILED = 121  # exit status: the seccomp filter could not be installed (the host's fault)
_ABSENT = object()


class Gone(LookupError):
    """A request names an object of the notebook this process no longer holds (or never held)."""


class Worker:
    """The student's namespace and the two pipes to the grading process."""

    def __init__(self, requests: BinaryIO, replies: BinaryIO) -> None:
        self.requests, self.replies = requests, replies
        self.namespace: dict[str, Any] = {"__name__": "__main__", "np": np}
        self.handles: dict[int, Any] = {}
        self.sources: dict[str, list[str]] = {}  # cell file name -> its lines, for error messages
        self._ids = itertools.count(1)
        self.seqs: list[Any] = []  # the requests under way, innermost last
        self.tags = wire.ObjectTags(step=-1)  # objects shared by identity with the grader, by tag

    # -- the loop ---------------------------------------------------------------------

    def serve(self) -> None:
        """Answer requests until ``exit`` or end of input."""
        while True:
            try:
                header, arrays = wire.receive(self.requests)
            except EOFError:
                return
            if not self.answer(header, arrays):
                return

    def answer(self, header: dict, arrays: list[np.ndarray]) -> bool:
        """Carry out one request and send its reply; False for ``exit`` (or an unknown op)."""
        op = header.get("op")
        handler = {
            "load": self.load,
            "call": self.call,
            "get": self.get,
            "set": self.set,
            "delete": self.delete,
        }.get(op)
        if handler is None:
            return False
        self.seqs.append(header.get("seq"))
        try:
            reply, out = handler(header, arrays)
        finally:
            self.seqs.pop()
        wire.send(self.replies, dict(reply, seq=header.get("seq")), out)
        return True

    # -- requests ---------------------------------------------------------------------

    def load(self, header: dict, arrays: list[np.ndarray]) -> tuple[dict, list]:
        errors = []
        for cell in header["cells"]:
            name = f"<cell {int(cell['index'])}>"
            self.sources[name] = cell["source"].splitlines()
            try:
                code = compile(cell["source"], name, "exec")
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    exec(code, self.namespace)
                errors.append(None)
            except BaseException as error:  # noqa: BLE001 - a failing cell costs only its own names
                errors.append(self.describe(error))
        return {"errors": errors}, []

    def call(self, header: dict, arrays: list[np.ndarray]) -> tuple[dict, list]:
        if header.get("tags"):  # the grader shares objects by identity in this conversation
            self.tags.minting = True
        target = (
            self.resolve(header["target"])
            if isinstance(header["target"], dict)
            else self.namespace.get(str(header["target"]), _ABSENT)
        )
        if not callable(target):
            return {"missing": True}, []
        repeat, after = int(header.get("repeat", 1)), bool(header.get("after", True))
        errstate = error_handling(header.get("errstate"))
        generators: dict[int, np.random.Generator] = {}  # one Generator per key for all repetitions
        calls = []
        for _ in range(repeat):
            fresh = arrays if repeat == 1 else [array.copy() for array in arrays]  # copies for each
            calls.append(
                (
                    [self.value(node, fresh, generators) for node in header["args"]],
                    {k: self.value(v, fresh, generators) for k, v in header["kwargs"].items()},
                )
            )
        stand_ins = {
            name: self.value(node, arrays, generators) for name, node in header.get("bind", {}).items()
        }
        saved = {name: self.namespace.get(name, _ABSENT) for name in stand_ins}
        out: list[np.ndarray] = []
        results, warned = [], 0
        self.namespace.update(stand_ins)
        try:
            for args, kwargs in calls:
                with warnings.catch_warnings(record=True) as caught, np.errstate(**errstate):
                    warnings.simplefilter("always")
                    value = target(*args, **kwargs)
                warned += len(caught)
                results.append(
                    {
                        "value": self.encode(value, out),
                        "args": [self.encode(a, out) for a in args] if after else [],
                        "kwargs": {k: self.encode(v, out) for k, v in kwargs.items()} if after else {},
                    }
                )
        except BaseException as error:  # noqa: BLE001 - student code may raise anything, even SystemExit
            return {"error": self.describe(error)}, []
        finally:
            for name, value in saved.items():
                if value is _ABSENT:
                    self.namespace.pop(name, None)
                else:
                    self.namespace[name] = value
        return {"results": results, "warned": warned}, out

    def get(self, header: dict, arrays: list[np.ndarray]) -> tuple[dict, list]:
        value = self.namespace.get(str(header["name"]), _ABSENT)
        if value is _ABSENT:
            return {"missing": True}, []
        out: list[np.ndarray] = []
        try:
            return {"value": self.encode(value, out)}, out
        except BaseException as error:  # noqa: BLE001 - a value whose encoding runs student code
            return {"error": self.describe(error)}, []

    def set(self, header: dict, arrays: list[np.ndarray]) -> tuple[dict, list]:
        for name, node in header["values"].items():
            self.namespace[str(name)] = self.value(node, arrays, {})
        return {}, []

    def delete(self, header: dict, arrays: list[np.ndarray]) -> tuple[dict, list]:
        return {"missing": self.namespace.pop(str(header["name"]), _ABSENT) is _ABSENT}, []

    # -- values -----------------------------------------------------------------------

    def encode(self, value: Any, arrays: list[np.ndarray]) -> dict:
        return wire.encode(value, arrays, self.keep, tags=self.tags)

    def keep(self, value: Any) -> int:
        """A handle id for ``value``, which stays here."""
        if len(self.handles) >= MAX_HANDLES:
            raise RuntimeError("too many objects kept for the grader")
        ident = next(self._ids)
        self.handles[ident] = value
        return ident

    def value(self, node: Any, arrays: list[np.ndarray], generators: dict) -> Any:
        """An argument as the student's code gets it (arrays are the worker's own copies)."""
        return wire.decode(node, arrays, lambda ref: self.resolve(ref, generators), self.tags)

    def resolve(self, node: dict, generators: dict | None = None) -> Any:
        kind = node["t"]
        if kind == "rng":
            key = int(node["id"])
            if generators is None:
                generators = {}
            if key not in generators:
                generators[key] = np.random.default_rng(int(node["seed"]))
                generators[key].random(int(node.get("skip", 0)))
            return generators[key]
        if kind == "callable":
            return self.proxy(int(node["id"]), str(node.get("name", "function")))
        ident = int(node["id"])
        if ident not in self.handles:
            raise Gone(f"object {ident} of the notebook is gone")
        return self.handles[ident]

    # -- calls back to the grader ------------------------------------------------------

    def proxy(self, ident: int, name: str) -> Any:
        """A stand-in that asks the grading process to run its function ``ident`` (as part of
        the request under way when it is called)."""
        worker = self

        def stand_in(*args: Any, **kwargs: Any) -> Any:
            return worker.call_back(ident, args, kwargs)

        stand_in.__name__ = stand_in.__qualname__ = name
        return stand_in

    def call_back(self, ident: int, args: tuple, kwargs: dict) -> Any:
        if len(self.seqs) >= MAX_CALLBACK_DEPTH or not self.seqs:
            raise RecursionError("calls between the notebook and the grader nested too deeply")
        out: list[np.ndarray] = []
        message = {
            "op": "callback",
            "id": ident,
            "seq": self.seqs[-1],
            "args": [self.encode(a, out) for a in args],
            "kwargs": {str(k): self.encode(v, out) for k, v in kwargs.items()},
        }
        wire.send(self.replies, message, out)
        while True:
            header, arrays = wire.receive(self.requests)
            if header.get("op") == "return":
                return self.returned(header, arrays, args, kwargs)
            if header.get("op") == "raise":
                raise exception_from(header)
            if not self.answer(header, arrays):  # a nested request of the grader's
                os._exit(0)

    def returned(self, header: dict, arrays: list[np.ndarray], args: tuple, kwargs: dict) -> Any:
        """The value the grader's function returned; its changes to the arguments applied here."""
        for key, node in header.get("changed", []):
            original = args[int(key)] if str(key).isdigit() else kwargs.get(str(key))
            wire.update_in_place(original, self.value(node, arrays, {}))
        return self.value(header["value"], arrays, {})

    # -- errors -----------------------------------------------------------------------

    def describe(self, error: BaseException) -> dict:
        """The exception as plain data: its type, message and the student's line it came from."""
        described = {
            "type": type(error).__name__[:200],
            "builtin": type(error).__module__ == "builtins",
            "bases": [c.__name__ for c in type(error).__mro__ if c.__module__ == "builtins"][:8],
            "message": _text(error),
        }
        if isinstance(error, SystemExit):
            described["exit"] = _text(error.code)
        if isinstance(error, SyntaxError):
            described.update(
                cell=str(error.filename or "").strip("<>")[:40],
                line=error.lineno or 0,
                message=str(error.msg)[:MAX_TEXT],
                text=(error.text or "").strip()[:MAX_TEXT],
            )
            return described
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            if frame.filename in self.sources:
                lines = self.sources[frame.filename]
                text = lines[frame.lineno - 1].strip() if 0 < (frame.lineno or 0) <= len(lines) else ""
                described.update(cell=frame.filename.strip("<>"), line=frame.lineno, text=text[:MAX_TEXT])
                break
        return described


ERROR_KINDS = ("divide", "over", "under", "invalid")
ERROR_ACTIONS = ("ignore", "warn", "raise", "print")


def error_handling(asked: Any) -> dict[str, str]:
    """The NumPy error handling the grader asked a call to run under (``np.errstate``'s keywords),
    only what needs no callback; none asked: the process's own."""
    if not isinstance(asked, dict):
        return {}
    return {kind: action for kind, action in asked.items() if kind in ERROR_KINDS and action in ERROR_ACTIONS}


def _text(value: Any) -> str:
    """``str(value)``, bounded; a ``__str__`` that fails gives its exception's name."""
    try:
        text = str(value)
    except BaseException as error:  # noqa: BLE001 - the student's __str__ may raise anything
        return f"<str() raised {type(error).__name__}>"
    return text[:MAX_TEXT]


def exception_from(header: dict) -> BaseException:
    """The exception the grader's function raised, as the student's code sees it: the builtin
    type of that name (else ``RuntimeError``) with the grader's message."""
    import builtins

    kind = getattr(builtins, str(header.get("type")), None)
    message = str(header.get("message", ""))[:MAX_TEXT]
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except Exception:  # noqa: BLE001 - an exception type with another signature
            pass
    return RuntimeError(message)


def main() -> None:
    """``worker.py REQUEST_FD REPLY_FD [--seccomp]``: serve the grader until it is done."""
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
        Worker(requests, replies).serve()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
