"""What the grader asks of the student processes of one submission (``Sandbox``).

A call of one of the student's functions, by name or as a function the notebook returned
(``RemoteFunction``), with the grader's functions standing in for some of the student's (their
calls come back here, through ``channel.Channel``); a value read, set or deleted. The student
process holds the student's code and nothing of the grader's. Processes themselves (launched,
loaded, replaced) are ``running.Processes``'s: a request that finds its process out of step (a
forged reply) or ended by itself is asked again of a fresh one, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from autograder import text, wire
from autograder.sandbox import layers as host
from autograder.sandbox.channel import GraderCallables, OutOfStep
from autograder.sandbox.limits import Limits
from autograder.sandbox.replies import CallResult, SandboxError, StudentError, parse_reply
from autograder.sandbox.running import DEFAULT_LIMITS, Cell, ProcessEnded, Processes

__all__ = ["Cell", "RemoteFunction", "Sandbox"]


class RemoteFunction:
    """A function that lives in a student process, called from here through the sandbox: its
    in-place changes to the arguments (arrays, containers, generators) happen here too."""

    def __init__(
        self, sandbox: Sandbox, handle: wire.Handle, name: str, generation: int, process: str
    ) -> None:
        self.sandbox, self.handle, self.__name__ = sandbox, handle, name
        self.generation, self.process = generation, process

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.sandbox.call(self, list(args), kwargs, process=self.process, in_place=True)
        self.warned = result.warned  # warnings the call raised there (a notebook would show them)
        for original, after in zip(args, result.args_after[0], strict=False):
            wire.update_in_place(original, after)
        for key, after in result.kwargs_after[0].items():
            wire.update_in_place(kwargs.get(key), after)
        return result.values[0]

    def __repr__(self) -> str:
        return f"<the notebook's function {self.__name__}>"


class Sandbox(Processes):
    """The student processes of one submission (``running.Processes``) and what is asked of them:
    calls, and values read, set and deleted. Each names its ``process`` (see ``Processes``)."""

    def __init__(
        self,
        cells: Sequence[Cell],
        limits: Limits = DEFAULT_LIMITS,
        layers: host.Layers | None = None,
        prestart: Sequence[str] = (),
    ) -> None:
        super().__init__(cells, limits, layers, prestart)
        self.artifacts: dict[str, Any] = {}  # what checks keep for feedback (learning curve...)
        self._broken: dict[str, str] = {}  # function -> why it killed the process last time
        self._tags = wire.ObjectTags(minting=True)  # objects shared by identity during in-place calls
        self._calls_under_way = 0
        self._tagging = False
        self._function = ""  # the function called last: its checks are done when another's begin

    # -- calls ------------------------------------------------------------------------

    def call(
        self,
        function: str | RemoteFunction,
        args: Sequence[Any],
        kwargs: Mapping[str, Any] | None = None,
        repeat: int = 1,
        *,
        bind: Mapping[str, Callable] | None = None,
        process: str = "",
        after: bool = True,
        in_place: bool = False,
    ) -> CallResult:
        """Call the student's ``function`` (a name, or a function the notebook returned) with
        plain arguments, ``repeat`` times, each on fresh copies; ``bind`` puts functions of the
        grader's in place of names for this call only (the student's code calling them calls
        back here). ``in_place``: the call changes the very arguments given (arrays, containers,
        generators) and an argument the student's code hands back is the very object given, as
        in one process (``wire.ObjectTags``), and runs under this process's NumPy error handling
        (``np.geterr``: a caller's ``np.errstate(over="raise")`` holds there too); else it works on
        copies and ``args_after`` shows them after the call. A function whose call killed the
        process is not called again."""
        name = function if isinstance(function, str) else function.__name__
        if self._grader_error is not None:
            raise self._grader_error
        if name in self._broken:
            raise SandboxError(f"{self._broken[name]} (earlier call; not called again)")
        stale = isinstance(function, RemoteFunction) and function.generation != self.generation
        if stale or (isinstance(function, RemoteFunction) and self._current is None):
            raise SandboxError(f"{name} belonged to a student process that has ended")
        if isinstance(function, str) and not self._calls_under_way and name != self._function:
            self._replace_if_busy()
            self._function = name
        callables = GraderCallables().including(self._bound)
        outermost = not self._calls_under_way
        if outermost:
            self._tagging = in_place  # calls made within an in-place call share its objects too
        self._calls_under_way += 1
        try:
            tags = self._tags if self._tagging else None
            errstate = np.geterr() if in_place else None
            return self._call(function, name, args, kwargs, repeat, bind, process, after, callables, tags,
                              errstate)
        finally:
            self._calls_under_way -= 1
            if outermost:
                self._tags.clear()

    def _call(
        self,
        function: str | RemoteFunction,
        name: str,
        args: Sequence[Any],
        kwargs: Mapping | None,
        repeat: int,
        bind: Mapping | None,
        process: str,
        after: bool,
        callables: GraderCallables,
        tags: wire.ObjectTags | None,
        errstate: dict[str, str] | None,
    ) -> CallResult:
        arrays: list[np.ndarray] = []
        register = _registrar(callables)
        request = {
            "op": "call",
            "target": name if isinstance(function, str) else wire.encode(function.handle, arrays),
            "repeat": repeat,
            "after": after,
            "tags": tags is not None,
            "errstate": errstate,
            "bind": {key: wire.encode(callables.add(f, key), arrays) for key, f in (bind or {}).items()},
            "args": [wire.encode(a, arrays, register, tags=tags) for a in args],
            "kwargs": {
                str(k): wire.encode(v, arrays, register, tags=tags) for k, v in (kwargs or {}).items()
            },
        }
        header, out = self._request(request, arrays, f"in {name}", process, callables, name, tags)
        try:
            result = parse_reply(
                name, header, out, self.cell_errors, self.limits.memory_bytes, self._resolve, tags
            )
        except StudentError as error:
            if callables.failures:
                error.add_note_to_message(text.quote(callables.failures[0], 300))
            raise
        except wire.WireError as error:
            self._kill()
            self._broken[name] = f"broke the connection to the grader ({error}) in {name}"
            raise SandboxError(self._broken[name]) from None
        result.grader_failures = callables.failures
        return result

    def get(self, name: str, process: str = "") -> Any:
        """The value the notebook's ``name`` holds: data, or a ``RemoteFunction``/``wire.Handle``;
        ``NameError`` when the notebook does not define it."""
        header, out = self._request({"op": "get", "name": name}, [], f"reading {name}", process)
        if header.get("missing"):
            raise NameError(f"name {name!r} is not defined")
        if "error" in header:
            parse_reply(name, header, out, self.cell_errors)
        try:
            return wire.decode(header.get("value"), out, self._resolve)
        except wire.WireError as error:
            self._kill()
            raise SandboxError(f"broke the connection to the grader ({error}) reading {name}") from None

    def set(self, values: Mapping[str, Any], process: str = "") -> None:
        """Bind names of the notebook to data, to the notebook's own functions, or to the grader's
        functions (whose calls come back here for as long as the name holds them)."""
        arrays: list[np.ndarray] = []
        nodes = {}
        for key, value in values.items():
            self._unbind(str(key))
            if callable(value) and not isinstance(value, RemoteFunction):
                reference = self._bound.add(value, str(key))
                self._held[str(key)] = reference.ident
                nodes[str(key)] = wire.encode(reference, arrays)
            else:
                nodes[str(key)] = wire.encode(value, arrays, _registrar(GraderCallables()))
        self._request({"op": "set", "values": nodes}, arrays, "setting names", process)

    def delete(self, name: str, process: str = "") -> bool:
        """Remove ``name`` from the notebook's namespace; False when it was not there."""
        self._unbind(name)
        header, _ = self._request({"op": "delete", "name": name}, [], f"deleting {name}", process)
        return not header.get("missing")

    def held(self, name: str) -> Callable | None:
        """The grader's function ``name`` is bound to in the current process (``set``), if any."""
        ident = self._held.get(name)
        return self._bound.functions.get(ident) if ident is not None else None

    def _unbind(self, name: str) -> None:
        """The grader's function ``name`` held (if any) can no longer be called."""
        if name in self._held:
            self._bound.drop(self._held.pop(name))

    def _resolve(self, node: dict) -> Any:
        resolved = wire.decode_reference(node)
        if isinstance(resolved, wire.Handle):
            resolved.type_name = text.one_line(resolved.type_name)[:100]
            resolved.name = text.one_line(resolved.name)[:100]
            if resolved.kind == "function":
                group = self._current.group if self._current is not None else ""
                return RemoteFunction(self, resolved, resolved.name or "function", self.generation, group)
        return resolved

    def _request(
        self,
        request: dict,
        arrays: list[np.ndarray],
        where: str,
        process: str,
        callables: GraderCallables | None = None,
        function: str = "",
        tags: wire.ObjectTags | None = None,
    ) -> tuple[dict, list]:
        """Send ``request`` to the process ``process`` (started if need be). A process found out of
        step (a forged reply, of this call or left by an earlier one) or that ended by itself
        during a call (an exit, a crash: perhaps of a timer or a thread an earlier call left) is
        replaced and the request sent once more, to a fresh process, what the grader's functions
        counted forgotten; the function is blamed when it happens again."""
        for attempt in (1, 2):
            if self._current is not None and self._current.group != process:
                self._kill()
            self._ensure_started(process)
            try:
                header, out = self._exchange(
                    request, arrays, where, callables=callables or self._bound, tags=tags
                )
                if "gone" in header:
                    raise SandboxError(
                        f"an object of the notebook the grader used {where} is gone "
                        "(its process was restarted)"
                    )
                return header, out
            except OutOfStep as error:
                self._kill()
                if attempt == 2 or not _portable(request):
                    said = f"broke the connection to the grader ({error.reason}) {where}"
                    if function:
                        self._broken[function] = said
                    raise SandboxError(said) from None
                _start_over(callables)
            except ProcessEnded as error:
                if attempt == 1 and function and _portable(request):
                    _start_over(callables)
                    continue
                if function:
                    self._broken[function] = str(error)
                raise
            except SandboxError as error:
                if function and self._current is None:  # the process died; a memory error leaves it running
                    self._broken[function] = str(error)
                raise
        raise AssertionError("unreachable")

def _portable(node: Any) -> bool:
    """Whether a request can be sent to another process: it names no object of the notebook kept
    in the one it was made for (a ``handle``: a function the notebook returned, say)."""
    if isinstance(node, dict):
        return node.get("t") != "handle" and all(_portable(value) for value in node.values())
    if isinstance(node, list):
        return all(_portable(item) for item in node)
    return True


def _start_over(callables: GraderCallables | None) -> None:
    """A request is sent again: the failures of the grader's functions in the first attempt, and
    what they counted there (a function the checks count calls of has ``restart``), are dropped."""
    if callables is None:
        return
    callables.failures.clear()
    for restart in {getattr(f, "restart", None) for f in callables.functions.values()} - {None}:
        restart()


def _registrar(callables: GraderCallables) -> Callable[[Any], Any]:
    """For ``wire.encode`` of arguments: a function of the notebook's crosses as its handle, one of
    the grader's as a callable the student's code may call back during the request."""

    def register(value: Any) -> Any:
        if isinstance(value, RemoteFunction):
            return value.handle.ident
        if callable(value):
            return callables.add(value, getattr(value, "__name__", "function"))
        raise TypeError(f"the grader cannot send an object of type {type(value).__name__}")

    return register
