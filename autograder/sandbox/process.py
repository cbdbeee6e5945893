"""The student processes of one submission, and the pipes the grader talks to them through.

Each process runs the worker (``autograder/worker.py``, copied into a fresh folder) under the
real interpreter with ``-I -S``: only the standard library, NumPy and the worker can be
imported. It is set up by ``child.Plan`` (namespaces, own user, limits, Landlock) and installs
its seccomp filter before any student code runs. Every process gets a fresh scratch folder,
so nothing one process writes can reach the next.
"""

from __future__ import annotations

import contextlib
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
from autograder.sandbox.cgroup import Group
from autograder.sandbox.child import MAX_TASKS, Plan
from autograder.sandbox.filesystem import allow_list
from autograder.sandbox.limits import Limits, size
from autograder.sandbox.orphans import reap_orphans
from autograder.sandbox.replies import GraderError, SandboxError, parse_reply
from autograder.sandbox.streams import DeadlineStream
from autograder.sandbox.workspace import child_environment, prepare_folder, process_of, reference_source

START_SECONDS = 60.0  # starting a process is the grader's work: a generous bound, not the call limit
DEFAULT_LIMITS = Limits()
MEMORY_SLACK = 64 * 2**20  # the cgroup's cap above the address-space limit: page tables, the init


@dataclass(frozen=True)
class Cell:
    """A code cell of the submission that the sandbox runs: its notebook index and source.

    ``label`` names the cell's place as the student sees it ("Task 2 answer cell").
    """

    index: int
    source: str
    label: str = ""


class Sandbox:
    """The student processes of one submission: one at a time, restarted after a crash.

    ``cells`` run in order when a process starts; a cell that kills the process is
    skipped on restart, so it costs only what depends on it. The functions whose checks
    swap in reference versions of their dependencies (``worker.DEPENDENCIES``) are checked
    in processes that hold only those references (``workspace.PROCESS_OF``), and the other
    functions in a process that holds none: student code that steals a reference from
    memory can use it only where the grader hands it over anyway.
    """

    def __init__(
        self, cells: Sequence[Cell], limits: Limits = DEFAULT_LIMITS, layers: host.Layers | None = None
    ) -> None:
        self.cells = list(cells)
        self.limits = limits
        self.layers = layers if layers is not None else host.detect()
        self.cell_errors: dict[int, str] = {}
        self.artifacts: dict[str, Any] = {}  # what checks keep for feedback (learning curve...)
        self._skip: set[int] = set()
        self._broken: dict[str, str] = {}  # function -> why it killed the process last time
        self._deadline = time.monotonic() + limits.submission_seconds
        self._process: subprocess.Popen | None = None
        self._group_name: str | None = None  # the process running now (``workspace.process_of``)
        self._own = Path(tempfile.mkdtemp(prefix="autograder-", dir=self._base_folder()))  # output, processes
        self._folder: Path | None = None
        self._cgroup: Group | None = None
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
        if self._group_name != group:
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
            if self._process is None:  # the process died; a memory error leaves it running
                self._broken[function] = str(error)
            raise

    def close(self) -> None:
        """Kill the student process and everything it started; remove its folders."""
        self._kill()
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

    def _ensure_started(self, group: str) -> None:
        while self._process is None:
            try:
                self._spawn(group)
            except GraderError as error:
                self._kill()
                self._grader_error = error
                raise
            try:
                self._load()
            except SandboxError:
                continue  # the offending cell is now skipped; start again without it

    def _plan(self) -> Plan:
        folder = Path(tempfile.mkdtemp(prefix="process-", dir=self._own))
        prepare_folder(folder, self._uid.uid if self._uid else None)
        self._cgroup = None
        if self.layers.cgroup:
            self._cgroup = Group.create(self.limits.memory_bytes + MEMORY_SLACK, MAX_TASKS)
            if self._cgroup is None:
                self.layers = self.layers.without("cgroup", "no writable cgroup tree with memory and pids")
        self._folder = folder
        return Plan(
            self.layers, allow_list(), folder, self.limits, self._uid.uid if self._uid else None, self._cgroup
        )

    def _spawn(self, group: str) -> None:
        plan = self._plan()
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        bootstrap = f"import sys; sys.path[:0] = [{plan.lib!r}]; import _autograder_worker as w; w.main()"
        flags = ["--seccomp"] if self.layers.seccomp else []
        command = [
            plan.allowed.interpreter,
            "-I",
            "-S",
            "-u",
            "-c",
            bootstrap,
            str(request_read),
            str(reply_write),
            *flags,
        ]
        error_read, error_write = os.pipe()
        with open(self._own / "output", "ab") as output:
            os.chmod(self._own / "output", 0o600)
            try:
                self._process = subprocess.Popen(
                    command,
                    pass_fds=(request_read, reply_write),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd="/",
                    env=child_environment(plan.work),
                    start_new_session=True,
                    preexec_fn=lambda: plan.setup(error_write),
                )
            except (OSError, subprocess.SubprocessError) as error:
                os.close(error_write)
                why = os.read(error_read, 2000).decode(errors="replace") or str(error)
                raise GraderError(
                    f"could not set up the student process ({why}); {self.layers.summary()}"
                ) from None
            finally:
                for fd in (request_read, reply_write, error_write, error_read):
                    with contextlib.suppress(OSError):
                        os.close(fd)
        self._requests, self._replies = DeadlineStream(request_write), DeadlineStream(reply_read)
        self._group_name = group
        try:
            self._exchange(
                {"op": "references", "source": reference_source(group)},
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
        self._requests.deadline = self._replies.deadline = deadline
        try:
            worker.send(self._requests, request, arrays)
            return worker.receive(self._replies, worker.MAX_REPLY_BYTES, worker.MAX_HEADER_BYTES)
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
        assert self._process is not None
        try:
            status = self._process.wait(timeout=5)
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
        if number == signal.SIGKILL and self._cgroup is not None and self._cgroup.out_of_memory():
            return f"killed: memory limit {size(self.limits.memory_bytes)} exceeded"
        if number == signal.SIGKILL:
            return f"killed (memory limit {size(self.limits.memory_bytes)} or an outside kill)"
        return f"crashed with signal {signal.Signals(number).name}"

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
            for stream in (self._requests, self._replies):
                stream.close()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
