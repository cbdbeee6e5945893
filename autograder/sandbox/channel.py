"""The conversation with one student process: requests, replies, and calls back to the grader.

Every request carries a sequence number, and so must every message that answers it. While a
request is under way, the student process may call back: a function the grader put in place
of one of the student's (``bind``) runs *here*, in the grading process, on the arguments
that came back as plain data, and its result and its in-place changes to the arguments are
sent back the same way. Only the functions of the request under way can be called, and only
while it is under way. A message that answers an earlier request (a forged reply left the
pipe out of step) raises ``OutOfStep``, so the caller can replace the process and ask again.

Every text and value in the pipe is the student's to forge: student code can write a whole
reply of its own before the worker's. So each reply is confirmed: a probe whose id the
student's code cannot know beforehand must be answered next, else the request was answered
more than once (``AnsweredTwice``, an ``OutOfStep``: its process is not to be trusted). A call
of the grader's function may add at most ``CALLBACK_BYTES`` to the grading process's address
space (beyond, it raises ``MemoryError`` there): its arguments are the student's. They are
bounded too, as the grader's work on them runs in the grading process, out of reach of the
sandbox's limits: none is started once the request's time is up; its arrays hold at most as
many elements as the request's own (or ``CALLBACK_ELEMENTS``), of no dtype whose arithmetic
NumPy does without BLAS at a crawl (``SLOW_DTYPES``).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import resource
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograder import wire
from autograder.sandbox.streams import DeadlineStream


class OutOfStep(wire.WireError):
    """A message that belongs to an earlier request: the process broke the protocol before."""

    reason = "replies out of step"


class AnsweredTwice(OutOfStep):
    """More than one message answered the request just made: student code wrote a reply (the
    function called, or something an earlier call left behind in the process)."""

    reason = "more than one reply to one request"


CALLBACK_BYTES = 256 * 2**20  # what one call of the grader's function may map: honest calls need a few MB
MAX_FAILURES = 8  # failures of the grader's functions kept per request (the first is reported)
CALLBACK_ELEMENTS = 2**20  # array elements a call back may always send, whatever the request sent
SLOW_DTYPES = "egG"  # float16, long double and its complex: no BLAS, a matrix product ~30x float64's time


_IDS = itertools.count(
    1
)  # ids of the grader's functions, never reused: a kept proxy cannot reach a newer one


@dataclass
class GraderCallables:
    """The grader's functions a request lets the student process call, by id, and what
    happened when they were called (failures, for the check's message)."""

    functions: dict[int, Callable] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, function: Callable, name: str) -> wire.Callable:
        ident = next(_IDS)
        self.functions[ident], self.names[ident] = function, name
        return wire.Callable(ident, name)

    def drop(self, ident: int) -> None:
        self.functions.pop(ident, None)
        self.names.pop(ident, None)

    def including(self, other: GraderCallables) -> GraderCallables:
        """These functions and ``other``'s, failures recorded here."""
        return GraderCallables(
            {**other.functions, **self.functions}, {**other.names, **self.names}, self.failures
        )


class Channel:
    """The two pipe ends of one student process, with the reply caps of ``wire``."""

    def __init__(
        self,
        requests: DeadlineStream,
        replies: DeadlineStream,
        remote: Callable[[wire.Handle], Any] | None = None,
    ) -> None:
        self.requests, self.replies = requests, replies
        self.remote = remote  # turns a handle of a student function into something callable here
        self._seq = itertools.count(1)
        self.callbacks = 0
        self._allowance = CALLBACK_ELEMENTS  # array elements the request under way lets a call back send

    def set_deadline(self, deadline: float) -> None:
        self.requests.deadline = self.replies.deadline = deadline

    def request(
        self, header: dict, arrays: list[np.ndarray] = (), callables: GraderCallables | None = None,
        tags: wire.ObjectTags | None = None,
    ) -> tuple[dict, list[np.ndarray]]:
        """Send one request and return its reply, answering calls back on the way."""
        seq = next(self._seq)
        self._allowance = max(CALLBACK_ELEMENTS, sum(int(a.size) for a in arrays))
        wire.send(self.requests, dict(header, seq=seq), list(arrays))
        while True:
            reply, received = self._receive()
            if reply.get("op") == "callback":
                if reply.get("seq") != seq:
                    raise OutOfStep("a call back that belongs to no request under way")
                self._answer(reply, received, callables or GraderCallables(), tags)
                continue
            if reply.get("seq") != seq:
                raise OutOfStep(f"a reply to request {str(reply.get('seq'))[:20]} while {seq} was under way")
            self._confirm()
            return reply, received

    def _receive(self) -> tuple[dict, list[np.ndarray]]:
        try:
            return wire.receive(self.replies, wire.MAX_REPLY_BYTES, wire.MAX_HEADER_BYTES)
        except (ValueError, TypeError, OverflowError) as error:  # a reply wire.receive did not foresee
            raise wire.WireError(f"unreadable reply ({type(error).__name__})") from None

    def _confirm(self) -> None:
        """The reply just read was the request's only one: a probe (a request that runs nothing),
        sent under an id the student's code cannot guess, is answered next. The worker answers
        requests one at a time, so a reply the student's code wrote besides the worker's (before
        it, or after it from a thread) comes first: ``AnsweredTwice``."""
        probe = secrets.token_hex(16)
        wire.send(self.requests, {"op": "load", "cells": [], "seq": probe})
        reply, _ = self._receive()
        if reply.get("seq") != probe or reply.get("op") == "callback":
            raise AnsweredTwice("more than one reply to one request")

    def _answer(
        self,
        message: dict,
        arrays: list[np.ndarray],
        callables: GraderCallables,
        tags: wire.ObjectTags | None,
    ) -> None:
        self.callbacks += 1
        ident = message.get("id")
        function = callables.functions.get(ident) if type(ident) is int else None  # a forged id: any JSON
        if function is None:
            self._send_raise("RuntimeError", "this function of the grader's cannot be called now")
            return
        name = callables.names[ident]
        if time.monotonic() >= self.replies.deadline:
            raise TimeoutError  # as the next read would: the grader's work does not outlast the call
        refused = self._refused(arrays)
        if refused:
            if len(callables.failures) < MAX_FAILURES:
                callables.failures.append(f"{name} (the grader's version) refused its arguments: {refused}")
            self._send_raise("ValueError", f"the grader's version of {name} refused its arguments: {refused}")
            return
        args, kwargs = wire.decode_arguments(
            message.get("args"), message.get("kwargs"), arrays, self._resolve, tags
        )
        before = [_snapshot(a) for a in args], {k: _snapshot(v) for k, v in kwargs.items()}
        try:
            with address_space_budget(CALLBACK_BYTES):
                value = function(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - the grader's function failed on the student's input
            if len(callables.failures) < MAX_FAILURES:
                said = f"{name} (the grader's version) raised {type(error).__name__}: {error}"
                callables.failures.append(said)
            self._send_raise(
                type(error).__name__,
                f"the grader's version of {name} raised {type(error).__name__} on the arguments it was given",
            )
            return
        out: list[np.ndarray] = []
        register = _registrar(callables)
        changed = [
            [str(i), wire.encode(a, out, register, tags=tags)]
            for i, a in enumerate(args)
            if not _same(a, before[0][i])
        ]
        changed += [
            [k, wire.encode(v, out, register, tags=tags)]
            for k, v in kwargs.items()
            if not _same(v, before[1][k])
        ]
        returned = wire.encode(value, out, register, tags=tags)
        wire.send(self.requests, {"op": "return", "value": returned, "changed": changed}, out)

    def _refused(self, arrays: list[np.ndarray]) -> str:
        """Why the arrays of a call back are more than the grader will work on ("" if they are not)."""
        slow = sorted({a.dtype.name for a in arrays if a.dtype.char in SLOW_DTYPES})
        if slow:
            return f"arrays of dtype {', '.join(slow)} (use float64)"
        elements = sum(int(a.size) for a in arrays)
        if elements > self._allowance:
            return (f"arrays of {elements:,} elements in all, more than the {self._allowance:,} "
                    "this call was given")
        return ""

    def _send_raise(self, kind: str, message: str) -> None:
        wire.send(self.requests, {"op": "raise", "type": kind, "message": message})

    def _resolve(self, node: dict) -> Any:
        resolved = wire.decode_reference(node)
        if isinstance(resolved, wire.Handle) and resolved.kind == "function" and self.remote is not None:
            return self.remote(resolved)
        return resolved


def _registrar(callables: GraderCallables) -> Callable[[Any], Any]:
    """For ``wire.encode``: a function of the grader's crosses as a callable; nothing else may."""

    def register(value: Any) -> wire.Callable:
        if callable(value):
            return callables.add(value, getattr(value, "__name__", "function"))
        raise TypeError(f"the grader cannot send an object of type {type(value).__name__}")

    return register


def _snapshot(value: Any) -> Any:
    if isinstance(value, np.random.Generator):
        return copy.deepcopy(value.bit_generator.state)
    if isinstance(value, np.ndarray | list | dict | set):
        return copy.deepcopy(value)
    return None


def _same(value: Any, snapshot: Any) -> bool:
    """Whether an argument is as it was before the call (only mutable kinds can have changed)."""
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state == snapshot
    if isinstance(value, np.ndarray):
        return (
            snapshot is not None
            and value.shape == snapshot.shape
            and np.array_equal(value, snapshot, equal_nan=value.dtype.kind in "fc")
        )
    if isinstance(value, list | dict | set):
        try:
            return bool(value == snapshot)
        except ValueError:  # containers of arrays: compare what the wire would carry
            return False
    return True


_blas_ready = False


def _warm_blas() -> None:
    """Have OpenBLAS allocate its work buffers now (once): it ends the whole process when it cannot
    allocate them, as it could not under the budget below."""
    global _blas_ready
    if not _blas_ready:
        square = np.ones((256, 256))
        single = square.astype(np.float32)
        for left, right in ((square, square), (square, square[0]), (square[0], square), (single, single)):
            np.matmul(left, right)
        _blas_ready = True


def _mapped_bytes() -> int | None:
    """This process's address space now (Linux), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def address_space_budget(budget: int) -> Iterator[None]:
    """Let the code inside map at most ``budget`` more bytes than this process has mapped now: an
    allocation beyond fails with ``MemoryError`` (NumPy's, Python's) instead of growing the grading
    process without bound. Nothing changes where the address space cannot be read or is already
    capped lower."""
    _warm_blas()
    used = _mapped_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = None if used is None else used + budget
    if ceiling is not None and hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    if ceiling is None or (soft != resource.RLIM_INFINITY and soft <= ceiling):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
