"""Launching one student process, and stopping it so that nothing of it is left.

A launch makes the process's fresh scratch folder and control group, then forks; between fork
and exec ``child.Plan`` sets up the layers, in order. The process runs the worker
(``autograder/worker.py``, copied into the folder) under the real interpreter with ``-I -S``:
only the standard library, NumPy and the worker can be imported. It installs its seccomp
filter, then waits for its first request on its pipe.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox.cgroup import Group
from autograder.sandbox.child import MAX_TASKS, Plan
from autograder.sandbox.filesystem import allow_list
from autograder.sandbox.layers import Layers
from autograder.sandbox.limits import Limits
from autograder.sandbox.replies import GraderError
from autograder.sandbox.streams import DeadlineStream
from autograder.sandbox.workspace import child_environment, prepare_folder

MEMORY_SLACK = 64 * 2**20  # the cgroup's cap above the address-space limit: page tables, the init
GLIBC_SIGNALS = 1 << 31 | 1 << 32  # signals 32 and 33: glibc's own handlers, set by its first thread


@dataclass(frozen=True)
class Started:
    """A launched student process: its pipes, scratch folder and control group, and which of the
    submission's processes it is (``workspace.process_of``)."""

    process: subprocess.Popen
    requests: DeadlineStream
    replies: DeadlineStream
    folder: Path
    cgroup: Group | None
    group: str
    depth: int = 0  # how far below the launched process the worker runs (2 under a PID namespace's init)

    def worker_pid(self) -> int | None:
        """The worker's process id as this process sees it; None where the kernel does not say."""
        pid = self.process.pid
        for _ in range(self.depth):
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                return None
            if len(children) != 1:
                return None
            pid = int(children[0])
        return pid

    def activity(self) -> tuple[str, str] | None:
        """What runs in the worker's process besides its loop, as the kernel says (student code
        cannot forge it): its number of threads and the signals it catches (``Threads`` and
        ``SigCgt`` of ``/proc/<pid>/status``). None where it cannot be read."""
        pid = self.worker_pid()
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines() if pid else []
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        try:
            caught = int(fields["SigCgt"], 16) & ~GLIBC_SIGNALS
            return fields["Threads"].strip(), f"{caught:x}"
        except (KeyError, ValueError):
            return None

    def stop(self) -> None:
        """Kill the process and everything it started; remove its control group and folder."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        for stream in (self.requests, self.replies):
            stream.close()
        remove(self.folder, self.cgroup)


def remove(folder: Path, cgroup: Group | None) -> None:
    if cgroup is not None:
        cgroup.remove()
    remove_tree(folder)


def remove_tree(folder: Path) -> None:
    """Remove ``folder`` and all in it, however deep student code made it (Python 3.11's
    ``shutil.rmtree`` descends by recursion and gives up past about a thousand levels, even with
    ``ignore_errors``: then coreutils' ``rm``, which does not), never following a link."""
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        return
    except (RecursionError, OSError):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", os.fspath(folder)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


PIPE_BYTES = 2**20  # a train_step's weights fit in one write: far fewer switches between the processes


def wide_pipe() -> tuple[int, int]:
    """A pipe with a buffer of ``PIPE_BYTES`` where the system allows it (its default elsewhere)."""
    read, write = os.pipe()
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return read, write


def launch(group: str, layers: Layers, limits: Limits, uid: int | None, own: Path) -> tuple[Started, Layers]:
    """Launch the process for ``group``; its output is appended to ``own/output``.

    Returns it and the layers it has (less the cgroup when no group could be made). Raises
    ``GraderError`` when it cannot be set up; its folder and control group are removed then.
    """
    folder = Path(tempfile.mkdtemp(prefix="process-", dir=own))
    prepare_folder(folder, uid)
    cgroup = None
    if layers.cgroup:
        cgroup = Group.create(limits.memory_bytes + MEMORY_SLACK, MAX_TASKS)
        if cgroup is None:
            layers = layers.without("cgroup", "no writable cgroup tree with memory and pids")
    plan = Plan(layers, allow_list(), folder, limits, uid, cgroup)
    request_read, request_write = wide_pipe()
    reply_read, reply_write = wide_pipe()
    error_read, error_write = os.pipe()
    bootstrap = f"import sys; sys.path[:0] = [{plan.lib!r}]; import _autograder_worker as w; w.main()"
    flags = ["--seccomp"] if layers.seccomp else []
    command = [plan.allowed.interpreter, "-I", "-S", "-u", "-c", bootstrap, str(request_read),
               str(reply_write), *flags]
    failure = None
    try:
        with open(own / "output", "ab") as output:
            os.chmod(own / "output", 0o600)
            process = subprocess.Popen(
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
        failure = error
    for fd in (request_read, reply_write, error_write):  # the child's ends; closed, the error pipe ends
        os.close(fd)
    if failure is not None:
        why = os.read(error_read, 2000).decode(errors="replace") or str(failure)
        for fd in (error_read, request_write, reply_read):
            os.close(fd)
        remove(folder, cgroup)
        raise GraderError(f"could not set up the student process ({why}); {layers.summary()}") from None
    os.close(error_read)
    return Started(process, DeadlineStream(request_write), DeadlineStream(reply_read), folder, cgroup,
                   group, 2 if layers.namespaces else 0), layers
