"""The student processes of one submission, as processes: launched, loaded, spoken to, replaced.

``Processes`` (the base of ``process.Sandbox``, which says what is asked of them) keeps the
process whose turn it is and the spares launched before any student code ran. It loads the
student's cells into a fresh process (a cell that kills it is skipped on restart), sends one
request at a time through its ``channel.Channel`` under the call and submission time limits,
says why a process failed (a limit, a signal, an exit of its own) and replaces it. Each process
is launched by ``launch`` (a fresh scratch folder and control group, the layers set up by
``child.Plan``, its seccomp filter installed before any student code runs), so nothing one
process writes can reach the next.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np

from autograder import wire
from autograder.sandbox import layers as host
from autograder.sandbox import uids
from autograder.sandbox.channel import Channel, GraderCallables, OutOfStep
from autograder.sandbox.launch import Started, launch, remove_tree
from autograder.sandbox.limits import Limits, size
from autograder.sandbox.orphans import reap_orphans
from autograder.sandbox.replies import GraderError, SandboxError, StudentError
from autograder.worker import SETUP_FAILED

START_SECONDS = 60.0  # starting a process is the grader's work: a generous bound, not the call limit
DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Cell:
    """A code cell of the submission that the sandbox runs: its notebook index and source.

    ``label`` names the cell's place as the student sees it ("Task 2 answer cell"); ``values``
    (instead of a source) are names the cell would define, given as data.
    """

    index: int
    source: str
    label: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    grade_id: str = ""  # the nbgrader grade id of the cell, if it has one


class ProcessEnded(SandboxError):
    """The student process ended by itself during a request (an exit, a crash)."""



class Processes:
    """The processes of one submission: one at a time runs student code; restarted after a crash.

    ``cells`` run in order when a process starts. Each request names its ``process`` (a key the
    caller chooses: checks that must not share a process get different keys); switching keys
    ends the current process. ``prestart`` lists the keys the checks will use: with namespaces,
    where no process can see another, they are all launched with the first one, before any
    student code runs, and wait with nothing in them until their turn.
    """

    def __init__(
        self,
        cells: Sequence[Cell],
        limits: Limits = DEFAULT_LIMITS,
        layers: host.Layers | None = None,
        prestart: Sequence[str] = (),
    ) -> None:
        self.cells = list(cells)
        self.limits = limits
        self.layers = layers if layers is not None else host.detect()
        self.cell_errors: dict[int, str] = {}
        self.generation = 0  # counts the processes started: a remote function belongs to one
        self._skip: set[int] = set()
        self._deadline = time.monotonic() + limits.submission_seconds
        self._current: Started | None = None  # the process whose turn it is
        self._channel: Channel | None = None
        self._bound = GraderCallables()  # the grader's functions set in place of names (``set``)
        self._held: dict[str, int] = {}  # name -> id of the grader's function it holds
        self._own = Path(tempfile.mkdtemp(prefix="autograder-", dir=self._base_folder()))
        self._prestart = list(prestart)
        self._spares: dict[str, Started] = {}  # launched, not yet loaded: no student code has run there
        self._grader_error: GraderError | None = None  # once the host failed us, it fails every call
        self._calm: tuple[str, str] | None = None  # the worker's threads and handlers before student code
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

    def start(self) -> None:
        """Launch the processes of ``prestart`` now, so that they load NumPy while the grader gets
        ready; each gets the student's cells when its turn comes."""
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
        remove_tree(self._own)

    def __enter__(self) -> Self:
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

    def _launch(self, group: str) -> Started:
        """A new process for ``group`` (``launch.launch``); the layers lose what did not work."""
        started, self.layers = launch(
            group, self.layers, self.limits, self._uid.uid if self._uid else None, self._own
        )
        return started

    def _ensure_started(self, group: str) -> None:
        while self._current is None:
            try:
                spare = self._spares.pop(group, None)
                self._current = spare or self._launch(group)
                self._channel = Channel(self._current.requests, self._current.replies)
                self.generation += 1
                self._bound, self._held = GraderCallables(), {}
                if spare is None:
                    self._start_spares(group)
                self._greet(replace_if_gone=spare is not None)
                self._calm = self._current.activity()
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

    def _greet(self, replace_if_gone: bool) -> None:
        """Wait for the launched process to answer; one that does not is the host's fault (a
        spare that died waiting is replaced once)."""
        try:
            self._exchange({"op": "load", "cells": []}, [], "while starting", seconds=START_SECONDS)
        except SandboxError as error:
            if replace_if_gone:
                group = self._current.group if self._current else ""
                self._kill()
                self._current = self._launch(group)
                self._channel = Channel(self._current.requests, self._current.replies)
                self._greet(replace_if_gone=False)
                return
            tail = self.output[-500:].strip()
            raise GraderError(
                f"the student process did not start ({error}){': ' + tail if tail else ''}; "
                f"{self.layers.summary()}"
            ) from None

    def _load(self) -> None:
        for cell in self.cells:
            if cell.index in self._skip:
                continue
            if cell.values:
                arrays: list[np.ndarray] = []
                nodes = {k: wire.encode(v, arrays) for k, v in cell.values.items()}
                request = {"op": "set", "values": nodes}
                where = f"while defining the data of cell {cell.index}"
            else:
                request, where = (
                    {"op": "load", "cells": [{"index": cell.index, "source": cell.source}]},
                    f"while running cell {cell.index}",
                )
                arrays = []
            try:
                header, _ = self._exchange(request, arrays, where)
            except OutOfStep as error:  # the cell wrote a reply of its own: it is skipped
                self._kill()
                self._skip.add(cell.index)
                self.cell_errors[cell.index] = f"broke the connection to the grader ({error.reason}) {where}"
                raise SandboxError(self.cell_errors[cell.index]) from None
            except SandboxError as error:
                self._skip.add(cell.index)
                self.cell_errors[cell.index] = str(error)
                raise
            errors = header.get("errors")
            error = errors[0] if isinstance(errors, list) and errors else None
            if isinstance(error, dict):
                self.cell_errors[cell.index] = StudentError("", error).brief()

    def _exchange(
        self,
        request: dict,
        arrays: list[np.ndarray],
        where: str,
        seconds: float | None = None,
        callables: GraderCallables | None = None,
        tags: wire.ObjectTags | None = None,
    ) -> tuple[dict, list[np.ndarray]]:
        now = time.monotonic()
        if seconds is None and now >= self._deadline:
            raise SandboxError(
                f"submission time limit of {self.limits.submission_seconds:g} s used up {where}"
            )
        deadline = (
            now + seconds if seconds is not None else min(now + self.limits.call_seconds, self._deadline)
        )
        assert self._channel is not None
        self._channel.set_deadline(deadline)
        try:
            return self._channel.request(request, arrays, callables, tags)
        except OutOfStep:
            raise
        except (TimeoutError, EOFError, BrokenPipeError, wire.WireError) as error:
            reason = self._failure_reason(error, where, seconds is not None)
            ended = self._ended_by_itself(error)
            self._kill()
            raise (ProcessEnded if ended else SandboxError)(reason) from None

    def _failure_reason(self, error: Exception, where: str, starting: bool) -> str:
        if isinstance(error, TimeoutError):
            if starting:
                return f"took over {START_SECONDS:g} s to start"
            if time.monotonic() >= self._deadline - 0.01:
                return f"submission time limit of {self.limits.submission_seconds:g} s used up {where}"
            return f"timed out after {self.limits.call_seconds:g} s {where}"
        if isinstance(error, wire.WireError):
            return f"broke the connection to the grader ({error}) {where}"
        assert self._current is not None
        try:
            status = self._current.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return f"closed its connection to the grader {where}"
        if status < 0:
            return self._signal_reason(-status) + f" {where}"
        if starting and status == SETUP_FAILED:
            return "could not install its seccomp filter"
        return f"exited with status {status} {where}"

    def _ended_by_itself(self, error: Exception) -> bool:
        """Whether the process ended of its own (an exit, a crash, a signal it raised), not at a limit
        the grader holds it to (time, output, CPU, memory) nor killed from outside."""
        if not isinstance(error, EOFError | BrokenPipeError) or self._current is None:
            return False
        status = self._current.process.returncode
        if status is None:
            return False
        return status >= 0 or -status not in (signal.SIGXFSZ, signal.SIGXCPU, signal.SIGKILL)

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
        return f"crashed with signal {signal_name(number)}"

    def _replace_if_busy(self) -> None:
        """End the current process when student code left something running in it (a thread, a
        signal handler) that could write to the grader while the next function is checked: that
        function's checks start in a fresh process, with nothing of the last one's."""
        if self._current is not None and self._calm is not None and self._current.activity() != self._calm:
            self._kill()

    def _kill(self) -> None:
        current, self._current, self._channel = self._current, None, None
        if current is not None:
            current.stop()


def signal_name(number: int) -> str:
    """``SIGSEGV``, ``SIGRTMIN+6``, or ``signal 99``: any number a process can die of."""
    try:
        return signal.Signals(number).name
    except ValueError:
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return f"signal {number}"

