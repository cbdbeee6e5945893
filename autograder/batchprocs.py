"""The processes of ``python -m autograder batch``: grading processes and feedback processes.

Each submission is graded by ``python -m autograder NOTEBOOK --results ...`` (started through
``child_main``) in its own session, so that it and whatever its sandbox started can be killed
together; feedback pages are drawn by long-lived feedback processes (``render_main``), one per
worker thread at a time, outside the batch's interpreter. Both ask the kernel to kill them
when the batch dies, so an interrupted batch leaves nothing running.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.cli import limit_arguments
from autograder.sandbox import Limits

EXIT_NOT_GRADED = 1
GRACE_SECONDS = 60.0  # on top of the submission time limit, for start-up and the checks themselves
CHILD_CODE = "import sys; from autograder.batchprocs import child_main; sys.exit(child_main(sys.argv[1:]))"
RENDER_CODE = "import sys; from autograder.batchprocs import render_main; sys.exit(render_main(sys.argv[1:]))"
CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def die_with(parent: int) -> bool:
    """Ask the kernel to SIGKILL this process when ``parent`` (the batch) dies; False if it is gone."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    return os.getppid() == parent  # else the batch died before prctl


def child_main(argv: list[str]) -> int:
    """Entry point of a grading process: die with the batch, then run the single-file command."""
    if not die_with(int(argv[0])):
        return EXIT_NOT_GRADED
    from autograder.cli import main

    return main(argv[1:])


def render_main(argv: list[str]) -> int:
    """Entry point of a feedback process: die with the batch, then write pages on request."""
    if not die_with(int(argv[0])):
        return EXIT_NOT_GRADED
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle
    from autograder.feedback import serve

    serve(sys.stdin, sys.stdout)
    return 0


class Renderers:
    """Feedback processes, one per worker thread at a time: pages are drawn outside the batch's
    interpreter, so that drawing them (matplotlib) runs in parallel like the grading."""

    def __init__(self) -> None:
        self._idle: queue.SimpleQueue[subprocess.Popen] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._all: list[subprocess.Popen] = []

    def warm(self, count: int) -> None:
        """Start ``count`` processes now: they import matplotlib while the first notebooks are graded."""
        for _ in range(count):
            self._idle.put(self._start())

    def write(self, task: dict[str, Any]) -> str:
        """Have an idle feedback process write one page; returns an error message or ''."""
        try:
            process = self._idle.get_nowait()
        except queue.Empty:
            process = self._start()
        try:
            process.stdin.write(json.dumps(task) + "\n")
            process.stdin.flush()
            reply = json.loads(process.stdout.readline() or '{"error": "the feedback process ended"}')
        except (OSError, ValueError) as error:
            reply = {"error": f"the feedback process failed ({error})"}
        if process.poll() is None:
            self._idle.put(process)
        return reply.get("error", "")

    def _start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", RENDER_CODE, str(os.getpid())], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, **CHILD_ENV},
        )
        with self._lock:
            self._all.append(process)
        return process

    def close(self) -> None:
        """End every feedback process (they exit when their input closes)."""
        with self._lock:
            processes, self._all = self._all, []
        for process in processes:
            with contextlib.suppress(OSError):
                process.stdin.close()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class GraderRun:
    """How a grading process ended: its Gradescope JSON, or why there is none."""

    result: dict[str, Any] | None
    problem: str
    seconds: float


class Processes:
    """The grading processes running now, so that an interrupted batch can end them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.stopping = False

    def run(self, command: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
        """Run ``command`` in its own session; ``(exit status or None on time-out, stderr)``."""
        with self._lock:
            if self.stopping:
                return None, "interrupted"
            process = subprocess.Popen(
                command, cwd=cwd, env={**os.environ, **CHILD_ENV}, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True,
                errors="replace",
            )
            self._running.add(process)
        try:
            _, stderr = process.communicate(timeout=timeout)
            return process.returncode, stderr
        except subprocess.TimeoutExpired:
            _kill_group(process)
            _, stderr = process.communicate()
            return None, stderr
        finally:
            with self._lock:
                self._running.discard(process)

    def stop(self) -> None:
        """Kill every running grading process; start no new one."""
        with self._lock:
            self.stopping = True
            running = list(self._running)
        for process in running:
            _kill_group(process)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def grader_command(notebook: Path, results: Path, assignment_notebook: Path, limits: Limits,
                   allow_unisolated: bool = False) -> list[str]:
    """The single-file command for one notebook, started through ``child_main``."""
    return [
        sys.executable, "-c", CHILD_CODE, str(os.getpid()),
        str(notebook), "--results", str(results), "-q", "--assignment", str(assignment_notebook),
        *limit_arguments(limits), *(["--allow-unisolated"] if allow_unisolated else []),
    ]


def run_grader(
    processes: Processes, notebook: Path, scratch: Path, assignment_notebook: Path, limits: Limits,
    cwd: Path, allow_unisolated: bool = False,
) -> GraderRun:
    """Grade ``notebook`` in a grading process; never raises for a bad submission."""
    results = Path(tempfile.mkdtemp(dir=scratch)) / "results.json"
    started = time.monotonic()
    status, stderr = processes.run(
        grader_command(notebook, results, assignment_notebook, limits, allow_unisolated), cwd,
        limits.submission_seconds + GRACE_SECONDS,
    )
    seconds = time.monotonic() - started
    try:
        result = json.loads(results.read_text())
    except (OSError, ValueError):
        result = None
    finally:
        shutil.rmtree(results.parent, ignore_errors=True)
    if result is not None and status in (0, 1):
        return GraderRun(result, "", seconds)
    if status is None:
        problem = (f"the grader was stopped after {limits.submission_seconds + GRACE_SECONDS:g} s"
                   if not processes.stopping else "interrupted")
    else:
        last = [line for line in stderr.strip().splitlines() if line.strip()][-1:] or ["no message"]
        problem = f"the grader exited with status {status} without a result ({last[0][:300]})"
    return GraderRun(None, problem, seconds)
