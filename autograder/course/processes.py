"""Grading processes: each submission graded by the single-file command in a process of its own.

A grading process runs ``autograder.cli.main`` (or, in tests, another importable function: the
``entry``) in its own session, so that it and whatever its sandbox started can be killed
together. Grading processes are forked from a forkserver (``multiprocessing``'s) that has
imported the grader once: a process starts with NumPy and pytest in memory instead of importing
them again for every submission, and still starts clean (the forkserver runs nothing else). They
die with whoever started them: the forkserver ends when its parent's end of its pipe closes, and
every grading process asks the kernel to kill it when the forkserver dies.

``multiprocessing`` refuses to start a process from a daemonic one, as a Dask worker is: there,
grading processes are started by a grading server (``servers.GradingServers``), an ordinary
child process that runs this module's ``Processes``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib
import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.options import limit_arguments
from autograder.sandbox import Limits

EXIT_NOT_GRADED = 1
GRACE_SECONDS = 60.0  # on top of the submission time limit, for start-up and the checks themselves
# The function a grading process runs, as ``module:function``; tests name a stand-in here.
ENTRY = "autograder.course.processes:grade_notebook"
CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
# What the forkserver imports once for every grading process: the single-file command, and with
# it NumPy and pytest; what every grading imports besides (the data loader with requests and tqdm,
# the checks' shared functions, NumPy's random generators, which NumPy loads on first use).
GRADER_PRELOAD = ["autograder.course.processes", "autograder.cli", "autograder.grade", "autograder.runner",
                  "numpy.random", "autograder.warm"]
STDERR_KEPT = 64 * 1024  # of a grading process's standard error, the end is read back


def die_with(parent: int) -> bool:
    """Ask the kernel to SIGKILL this process when ``parent`` dies; False if it is gone already."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    return os.getppid() == parent  # else the parent died before prctl


def grading_child(
    entry: Callable[[list[str]], int], argv: list[str], cwd: str, stderr_path: str,
    stdout_path: str | None = None, variables: Mapping[str, str] | None = None,
) -> None:
    """A grading process, just forked by the forkserver: its own session, death with the
    forkserver, ``variables`` added to its environment, standard error into ``stderr_path``
    (and standard output into ``stdout_path``, else nowhere); ``entry(argv)`` is its exit status."""
    os.setsid()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    stdout = os.open(stdout_path, flags, 0o600) if stdout_path else os.open(os.devnull, os.O_WRONLY)
    stderr = os.open(stderr_path, flags, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
    for descriptor in (null, stdout, stderr):
        os.close(descriptor)
    if not die_with(os.getppid()):
        print("the forkserver ended before grading began", file=sys.stderr, flush=True)
        sys.exit(EXIT_NOT_GRADED)
    os.environ.update({**CHILD_ENV, **(variables or {})})
    tempfile.tempdir = None  # chosen again from the environment (TMPDIR) when first needed
    os.chdir(cwd)
    sys.exit(entry(argv))


def grade_notebook(argv: list[str]) -> int:
    """The single-file command, as a grading process runs it."""
    from autograder.cli import main

    return main(argv)


def resolve(entry: str) -> Callable[[list[str]], int]:
    """The function ``module:function`` names (``ENTRY``)."""
    module, _, function = entry.partition(":")
    return getattr(importlib.import_module(module), function)


@dataclass
class GraderRun:
    """How a grading process ended: its Gradescope JSON, or why there is none."""

    result: dict[str, Any] | None
    problem: str
    seconds: float


@contextlib.contextmanager
def environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` set, for processes started meanwhile; restored after."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def forkserver(warm: str = "") -> Any:
    """``multiprocessing``'s forkserver context, its server started with ``GRADER_PRELOAD``
    imported (and one BLAS thread) if this process has none running yet; ``warm``
    (``COURSE_ROOT::ASSIGNMENT``) names the assignment whose modules it imports too
    (``autograder.warm``)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(GRADER_PRELOAD)
    with environment({**CHILD_ENV, "AUTOGRADER_WARM": warm}):  # read once, when the server starts
        multiprocessing.forkserver.ensure_running()
    return context


# multiprocessing's processes are not safe to use from several threads: ``Process.start`` polls
# every other child of this interpreter, and when two polls of one forkserver child meet, both
# read its exit status from the same pipe, and the one that finds it emptied sets the status
# to 255. Every start, poll and close of a grading process, in every ``Processes``, takes this.
_MULTIPROCESSING = threading.Lock()


class Processes:
    """The grading processes running now, so that an interrupted batch can end them.

    ``entry`` is what a grading process runs (by default what ``ENTRY`` names: the single-file
    command; a test passes another importable function)."""

    def __init__(self, entry: Callable[[list[str]], int] | None = None, warm: str = "") -> None:
        self._running: set[Any] = set()
        self._context: Any = None
        self.entry = entry or resolve(ENTRY)
        self.warm = warm
        self.stopping = False

    def run(
        self, argv: list[str], cwd: Path, timeout: float, stderr_path: Path,
        stdout_path: Path | None = None, variables: Mapping[str, str] | None = None,
    ) -> int | None:
        """Run ``entry(argv)`` in a grading process (see ``grading_child``) in ``cwd``; its exit
        status, or None when it was killed at ``timeout`` seconds."""
        with _MULTIPROCESSING:
            if self.stopping:
                return None
            self._context = self._context or forkserver(self.warm)
            output = str(stdout_path) if stdout_path else None
            process = self._context.Process(
                target=grading_child, daemon=True,
                args=(self.entry, argv, str(cwd), str(stderr_path), output, variables),
            )
            process.start()
            self._running.add(process)
        try:
            multiprocessing.connection.wait([process.sentinel], timeout)
            status = _exit_status(process)
            if status is None:
                _kill_group(process)
                multiprocessing.connection.wait([process.sentinel])
                _exit_status(process)  # read now, under the lock, so that close() finds it ended
            return status
        finally:
            with _MULTIPROCESSING:
                self._running.discard(process)
                process.close()

    def stop(self) -> None:
        """Kill every running grading process; start no new one."""
        with _MULTIPROCESSING:
            self.stopping = True
            for process in self._running:
                _kill_group(process)


def _exit_status(process: Any) -> int | None:
    """The process's exit status (read once, under the lock), or None while it runs."""
    with _MULTIPROCESSING:
        return process.exitcode


def _kill_group(process: Any) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ValueError):  # closed meanwhile
        process.kill()


def grader_arguments(notebook: Path, results: Path, assignment_notebook: Path, limits: Limits,
                     allow_unisolated: bool = False) -> list[str]:
    """The single-file command's arguments for one notebook."""
    return [
        str(notebook), "--results", str(results), "-q", "--assignment", str(assignment_notebook),
        *limit_arguments(limits), *(["--allow-unisolated"] if allow_unisolated else []),
    ]


def last_line(path: Path) -> str:
    """The last non-blank line of a grading process's standard error, or ''."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - STDERR_KEPT))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return next((line for line in reversed(text.splitlines()) if line.strip()), "")


def run_grader(
    processes: Processes, notebook: Path, scratch: Path, assignment_notebook: Path, limits: Limits,
    cwd: Path, allow_unisolated: bool = False,
) -> GraderRun:
    """Grade ``notebook`` in a grading process; never raises for a bad submission."""
    folder = Path(tempfile.mkdtemp(dir=scratch))
    results = folder / "results.json"
    timeout = limits.submission_seconds + GRACE_SECONDS
    started = time.monotonic()
    arguments = grader_arguments(notebook, results, assignment_notebook, limits, allow_unisolated)
    status = processes.run(arguments, cwd, timeout, folder / "stderr")
    if status is not None and not results.exists() and not last_line(folder / "stderr"):
        # It ended without a result or a word (before it began, or killed outright): once more.
        status = processes.run(arguments, cwd, timeout, folder / "stderr")
    seconds = time.monotonic() - started
    began = (folder / "stderr").exists()
    message = last_line(folder / "stderr")
    try:
        result = json.loads(results.read_text())
    except (OSError, ValueError):
        result = None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if result is not None and status in (0, 1):
        return GraderRun(result, "", seconds)
    if status is None:
        problem = f"the grader was stopped after {timeout:g} s" if not processes.stopping else "interrupted"
    else:
        message = (message or ("no message" if began else "it ended before it began"))[:300]
        problem = f"the grader exited with status {status} without a result ({message})"
    return GraderRun(None, problem, seconds)
