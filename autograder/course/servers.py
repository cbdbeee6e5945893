"""Long-lived helper processes that answer requests, one JSON line for one JSON line.

``Renderers`` draw feedback pages outside the batch's interpreter (matplotlib), so that pages
are drawn in parallel like the grading. ``GradingServers`` grade on a Dask worker: a worker is a
daemonic process, from which ``multiprocessing`` starts no process, so the worker starts an
ordinary child, the grading server, which runs ``processes.Processes`` (a forkserver and its
grading processes) as the batch itself does elsewhere.

Each helper serves one request at a time; a pool keeps the idle ones and starts another when
none is idle, up to its limit. Helpers are started from one thread that lives as long as the
pool, because the kernel's death signal (``PR_SET_PDEATHSIG``) fires when the *thread* that
started a process ends: so they die with the process that started them, and not before.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

from autograder.course.processes import CHILD_ENV, EXIT_NOT_GRADED, Processes, die_with, resolve, run_grader
from autograder.sandbox import Limits

MAIN_CODE = "import sys; from autograder.course import servers; sys.exit(servers.{}(sys.argv[1:]))"
RENDER_CODE, GRADING_CODE = MAIN_CODE.format("render_main"), MAIN_CODE.format("grading_main")


class Pool:
    """Helper processes running ``code`` (with the pool's pid as first argument, then ``arguments``),
    at most ``limit`` at once (unbounded when None)."""

    def __init__(self, code: str, arguments: Sequence[str] = (), limit: int | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.command = [sys.executable, "-c", code, str(os.getpid()), *arguments]
        self.env = {**os.environ, **CHILD_ENV, **(env or {})}
        self._idle: queue.SimpleQueue[subprocess.Popen] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(limit) if limit else contextlib.nullcontext()
        self._lock = threading.Lock()
        self._all: list[subprocess.Popen] = []
        self._launcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="helpers")

    def warm(self, count: int) -> None:
        """Start ``count`` helpers now, to import what they need while there is other work."""
        for _ in range(count):
            self._idle.put(self._start())

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request to an idle helper; its reply, or ``{"error": ...}`` when it failed."""
        with self._slots:
            try:
                process = self._idle.get_nowait()
            except queue.Empty:
                process = self._start()
            try:
                process.stdin.write(json.dumps(request) + "\n")
                process.stdin.flush()
                reply = json.loads(process.stdout.readline() or '{"error": "the helper process ended"}')
            except (OSError, ValueError) as error:
                reply = {"error": f"the helper process failed ({error})"}
            if process.poll() is None and "error" not in reply:
                self._idle.put(process)
            elif process.poll() is None:
                process.kill()  # it may be out of step with its requests: never ask it again
            return reply

    def _start(self) -> subprocess.Popen:
        process = self._launcher.submit(
            subprocess.Popen, self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, env=self.env,
        ).result()
        with self._lock:
            self._all.append(process)
        return process

    def pids(self) -> list[int]:
        """The helpers started so far."""
        with self._lock:
            return [process.pid for process in self._all]

    def close(self) -> None:
        """End every helper (they exit when their input closes)."""
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
        self._launcher.shutdown(wait=True)


def serve(requests: TextIO, replies: TextIO, handle: Any) -> None:
    """Answer every request line with ``handle(request)`` as a line; ends when ``requests`` closes."""
    for line in requests:
        try:
            reply = handle(json.loads(line))
        except Exception as error:  # noqa: BLE001 - reported to whoever asked, which goes on
            reply = {"error": f"{type(error).__name__}: {error}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def _helper_start(parent: str) -> bool:
    """Die with ``parent``; leave Ctrl-C to it."""
    if not die_with(int(parent)):
        return False
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return True


# ----------------------------------------------------------------------------- feedback pages


class Renderers(Pool):
    """Feedback processes: at most ``limit`` pages drawn at once."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__(RENDER_CODE, limit=limit)

    def write(self, task: dict[str, Any]) -> str:
        """Have a feedback process write one page (``feedback.task``); an error message or ''."""
        return self.ask(task).get("error", "")


def render_main(argv: list[str]) -> int:
    """Entry point of a feedback process."""
    if not _helper_start(argv[0]):
        return EXIT_NOT_GRADED
    from autograder.course.feedback import write_task

    serve(sys.stdin, sys.stdout, write_task)
    return 0


# ----------------------------------------------------------------------------- grading servers


class GradingServers(Pool):
    """Grading servers for one assignment: ``entry`` is what their grading processes run
    (``processes.ENTRY``), ``warm`` what their forkserver imports (``COURSE_ROOT::ASSIGNMENT``),
    ``env`` what their grading processes get besides (``MNIST_DATA_DIR``)."""

    def __init__(self, entry: str, warm: str, env: Mapping[str, str], limit: int | None = None) -> None:
        super().__init__(GRADING_CODE, [entry, warm], limit=limit, env=env)

    def grade(self, notebook: Path, scratch: Path, assignment_notebook: Path, limits: Limits, cwd: Path,
              allow_unisolated: bool) -> dict[str, Any]:
        """``processes.run_grader`` in a grading server: ``{"result", "problem", "seconds"}``."""
        return self.ask({
            "notebook": str(notebook), "scratch": str(scratch), "assignment": str(assignment_notebook),
            "limits": vars(limits), "cwd": str(cwd), "allow_unisolated": allow_unisolated,
        })


def grading_main(argv: list[str]) -> int:
    """Entry point of a grading server: ``PARENT_PID ENTRY WARM``."""
    if not _helper_start(argv[0]):
        return EXIT_NOT_GRADED
    processes = Processes(entry=resolve(argv[1]), warm=argv[2])

    def grade(request: dict[str, Any]) -> dict[str, Any]:
        run = run_grader(processes, Path(request["notebook"]), Path(request["scratch"]),
                         Path(request["assignment"]), Limits(**request["limits"]), Path(request["cwd"]),
                         request["allow_unisolated"])
        return {"result": run.result, "problem": run.problem, "seconds": run.seconds}

    try:
        serve(sys.stdin, sys.stdout, grade)
    finally:
        processes.stop()
    return 0
