"""The student processes of one submission, and the pipes the grader talks to them through.

Each process is launched by ``launch`` (a fresh scratch folder and control group, the layers
set up by ``child.Plan``, its seccomp filter installed before any student code runs), so
nothing one process writes can reach the next. Here: its references and the student's cells
are handed over, calls go back and forth, and a process that failed is stopped and restarted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograder import worker
from autograder.sandbox import layers as host
from autograder.sandbox import uids
from autograder.sandbox.launch import Started, launch
from autograder.sandbox.limits import Limits, size
from autograder.sandbox.orphans import reap_orphans
from autograder.sandbox.replies import GraderError, SandboxError, parse_reply
from autograder.sandbox.workspace import process_of, reference_source

START_SECONDS = 60.0  # starting a process is the grader's work: a generous bound, not the call limit
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Cell:
    """A code cell of the submission that the sandbox runs: its notebook index and source.

    ``label`` names the cell's place as the student sees it ("Task 2 answer cell").
    """

    index: int
    source: str
    label: str = ""


class Sandbox:
    """The student processes of one submission: one at a time runs student code; restarted after a crash.

    ``cells`` run in order when a process starts; a cell that kills the process is
    skipped on restart, so it costs only what depends on it. The functions whose checks
    swap in reference versions of their dependencies (``worker.DEPENDENCIES``) are checked
    in processes that hold only those references (``workspace.PROCESS_OF``), and the other
    functions in a process that holds none: student code that steals a reference from
    memory can use it only where the grader hands it over anyway.

    ``prestart`` names the processes the checks will use (``workspace.PROCESS_ORDER``): with
    namespaces, where no process can see another, they are all launched with the first one,
    before any student code runs, and wait until their turn with nothing of the grader's (no
    references, no cells): their start (NumPy's import) overlaps the grader's work.
    """

    def __init__(
        self, cells: Sequence[Cell], limits: Limits = DEFAULT_LIMITS, layers: host.Layers | None = None,
        prestart: Sequence[str] = (),
    ) -> None:
        self.cells = list(cells)
        self.limits = limits
        self.layers = layers if layers is not None else host.detect()
        self.cell_errors: dict[int, str] = {}
        self.artifacts: dict[str, Any] = {}  # what checks keep for feedback (learning curve...)
        self._skip: set[int] = set()
        self._broken: dict[str, str] = {}  # function -> why it killed the process last time
        self._deadline = time.monotonic() + limits.submission_seconds
        self._current: Started | None = None  # the process whose turn it is
        self._own = Path(tempfile.mkdtemp(prefix="autograder-", dir=self._base_folder()))  # output, processes
        self._prestart = list(prestart)
        self._spares: dict[str, Started] = {}  # started, not yet greeted: no student code has run there
        self._grader_error: GraderError | None = None  # once the host failed us, it fails every call
        self._uid = uids.acquire() if self.layers.own_uid else None
        if self.layers.own_uid and self._uid is None:
            self.layers = self.layers.without("own uid", "no free user id in the sandbox range")

    def _base_folder(self) -> str | None:
        """Where this sandbox's folders go: the temporary folder, unless the process's own user
        could not reach it there (a folder above is closed to others) and no minimal root binds it."""
        if not self.layers.own_uid or self.layers.namespaces:
            return None
        for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
            if os.path.isdir(candidate) and all(
                p.stat().st_mode & 0o001 for p in (Path(candidate), *Path(candidate).parents)
            ):
                return candidate
        self.layers = self.layers.without("own uid", "no temporary folder that other users can reach")
        return None

    # -- public -------------------------------------------------------------------

    def call(
        self, function: str, args: Sequence[Any], kwargs: dict[str, Any] | None = None, repeat: int = 1
    ) -> Any:
        """Call the student's ``function`` with plain arguments; see ``worker.run_call``.

        A function whose call killed the process (time-out, crash, exit) is not
        called again: later checks of it fail at once with the same reason.
        """
        if self._grader_error is not None:
            raise self._grader_error
        if function in self._broken:
            raise SandboxError(f"{self._broken[function]} (earlier call; not called again)")
        group = process_of(function)
        if self._current is not None and self._current.group != group:
            self._kill()
        self._ensure_started(group)
        arrays: list[np.ndarray] = []
        request = {
            "op": "call",
            "function": function,
            "repeat": repeat,
            "args": [worker.encode(a, arrays) for a in args],
            "kwargs": {k: worker.encode(v, arrays) for k, v in (kwargs or {}).items()},
        }
        try:
            header, out = self._exchange(request, arrays, where=f"in {function}")
            return parse_reply(function, header, out, self.cell_errors, self.limits.memory_bytes)
        except worker.WireError as error:
            self._kill()
            self._broken[function] = f"broke the connection to the grader ({error}) in {function}"
            raise SandboxError(self._broken[function]) from None
        except SandboxError as error:
            if self._current is None:  # the process died; a memory error leaves it running
                self._broken[function] = str(error)
            raise

    def start(self) -> None:
        """Launch the processes of ``prestart`` now, so that they load NumPy while the grader gets
        ready; each gets its references (and then the student's cells) when its turn comes."""
        if self._current is None and not self._spares and self._prestart and self._grader_error is None:
            first = self._prestart[0]
            try:
                self._spares[first] = self._launch(first)
            except GraderError:
                return  # the first call launches it again and reports what failed
            self._start_spares(first)

    def close(self) -> None:
        """Kill the student processes and everything they started; remove their folders."""
        self._kill()
        for spare in self._spares.values():
            spare.stop()
        self._spares.clear()
        reap_orphans()
        if self._uid is not None:
            self._uid.release()
            self._uid = None
        shutil.rmtree(self._own, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def output(self) -> str:
        """What the student code printed so far (capped by the output limit)."""
        try:
            with open(self._own / "output", "rb") as handle:
                return handle.read(self.limits.output_bytes).decode(errors="replace")
        except OSError:
            return ""

    # -- process ------------------------------------------------------------------

    def _launch(self, group: str) -> Started:
        """A new process for ``group`` (``launch.launch``); the layers lose what did not work."""
        started, self.layers = launch(group, self.layers, self.limits, self._uid.uid if self._uid else None,
                                      self._own)
        return started

    def _ensure_started(self, group: str) -> None:
        while self._current is None:
            try:
                self._current = self._spares.pop(group, None)
                if self._current is None:
                    self._current = self._launch(group)
                    self._start_spares(group)
                    self._greet()
                else:
                    self._greet_spare()
            except GraderError as error:
                self._kill()
                self._grader_error = error
                raise
            try:
                self._load()
            except SandboxError:
                continue  # the offending cell is now skipped; start again without it

    def _start_spares(self, launched: str) -> None:
        """Launch the other processes of ``prestart`` beside the one just launched (only before any
        student code ran, and only where namespaces keep them apart)."""
        others = [group for group in self._prestart if group != launched]
        self._prestart = []
        if not self.layers.namespaces:
            return
        for group in others:
            try:
                self._spares[group] = self._launch(group)
            except GraderError:
                return  # its own start will say what failed

    def _greet_spare(self) -> None:
        """Take over a launched process; one that is gone is replaced by a new one."""
        group = self._current.group
        try:
            self._greet()
        except GraderError:
            self._kill()
            self._current = self._launch(group)
            self._greet()

    def _greet(self) -> None:
        """Hand the launched process its references; a process that does not answer is the host's fault."""
        try:
            self._exchange(
                {"op": "references", "source": reference_source(self._current.group)},
                [],
                where="while starting",
                seconds=START_SECONDS,
            )
        except SandboxError as error:
            tail = self.output[-500:].strip()
            raise GraderError(
                f"the student process did not start ({error}){': ' + tail if tail else ''}; "
                f"{self.layers.summary()}"
            ) from None

    def _load(self) -> None:
        for cell in self.cells:
            if cell.index in self._skip:
                continue
            request = {"op": "load", "cells": [{"index": cell.index, "source": cell.source}]}
            try:
                header, _ = self._exchange(request, [], where=f"while running cell {cell.index}")
            except SandboxError as error:
                self._skip.add(cell.index)
                self.cell_errors[cell.index] = str(error)
                raise
            errors = header.get("errors")
            error = errors[0] if isinstance(errors, list) and errors else None
            if error:
                self.cell_errors[cell.index] = worker.clip(str(error))

    def _exchange(
        self, request: dict, arrays: list[np.ndarray], where: str, seconds: float | None = None
    ) -> tuple[dict, list[np.ndarray]]:
        now = time.monotonic()
        if seconds is None and now >= self._deadline:
            raise SandboxError(
                f"submission time limit of {self.limits.submission_seconds:g} s used up {where}"
            )
        deadline = (
            now + seconds if seconds is not None else min(now + self.limits.call_seconds, self._deadline)
        )
        current = self._current
        current.requests.deadline = current.replies.deadline = deadline
        try:
            worker.send(current.requests, request, arrays)
            return worker.receive(current.replies, worker.MAX_REPLY_BYTES, worker.MAX_HEADER_BYTES)
        except (TimeoutError, EOFError, BrokenPipeError, worker.WireError) as error:
            reason = self._failure_reason(error, where, seconds is not None)
            self._kill()
            raise SandboxError(reason) from None

    def _failure_reason(self, error: Exception, where: str, starting: bool) -> str:
        if isinstance(error, TimeoutError):
            if starting:
                return f"took over {START_SECONDS:g} s to start"
            if time.monotonic() >= self._deadline - 0.01:
                return f"submission time limit of {self.limits.submission_seconds:g} s used up {where}"
            return f"timed out after {self.limits.call_seconds:g} s {where}"
        if isinstance(error, worker.WireError):
            return f"broke the connection to the grader ({error}) {where}"
        assert self._current is not None
        try:
            status = self._current.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return f"closed its connection to the grader {where}"
        if status < 0:
            return self._signal_reason(-status) + f" {where}"
        if starting and status == worker.SETUP_FAILED:
            return "could not install its seccomp filter"
        return f"exited with status {status} {where}"

    def _signal_reason(self, number: int) -> str:
        if number == signal.SIGXFSZ:
            return f"killed: output limit {size(self.limits.output_bytes)} exceeded"
        if number == signal.SIGXCPU:
            return "killed: CPU time limit exceeded"
        cgroup = self._current.cgroup if self._current else None
        if number == signal.SIGKILL and cgroup is not None and cgroup.out_of_memory():
            return f"killed: memory limit {size(self.limits.memory_bytes)} exceeded"
        if number == signal.SIGKILL:
            return f"killed (memory limit {size(self.limits.memory_bytes)} or an outside kill)"
        return f"crashed with signal {signal.Signals(number).name}"

    def _kill(self) -> None:
        current, self._current = self._current, None
        if current is not None:
            current.stop()
