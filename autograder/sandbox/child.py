"""The set-up of a student process, step by step, between ``fork`` and ``exec``.

``Plan`` says what the process gets; ``Plan.setup`` (the ``preexec_fn``) applies it in this
order, each step only where the host allows its layer (``layers.Layers``):

1. die with the grader; join the process's control group (memory and task caps);
2. new namespaces; the minimal root; host name; fork into the new PID namespace;
3. drop every capability from the bounding set; become the process's own user;
4. resource limits (address space, file size, CPU time, open files, tasks, core dumps);
5. Landlock: only the allow-list readable, only the scratch folder writable.

The worker then installs the seccomp filter itself, once the interpreter has started
(``worker.main``), before it runs any student code.
"""

from __future__ import annotations

import ctypes
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox import landlock, namespaces, uids
from autograder.sandbox.cgroup import Group
from autograder.sandbox.filesystem import WORKER_ROOT, AllowList
from autograder.sandbox.layers import Layers
from autograder.sandbox.limits import Limits

PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
MAX_TASKS = 32  # threads of the worker (BLAS, the student's own) and the namespace's init
MAX_OPEN_FILES = 256


@dataclass(frozen=True)
class Plan:
    """Everything one student process gets: its layers, folders, identity and limits."""

    layers: Layers
    allowed: AllowList
    folder: Path  # on the host: lib/ (the worker), work/ (scratch), root/ (mount point)
    limits: Limits
    uid: int | None
    group: Group | None

    @property
    def lib(self) -> str:
        """The worker's folder as the worker sees it."""
        return f"{WORKER_ROOT}/lib" if self.layers.namespaces else str(self.folder / "lib")

    @property
    def work(self) -> str:
        """The scratch folder (the working directory) as the worker sees it."""
        return f"{WORKER_ROOT}/work" if self.layers.namespaces else str(self.folder / "work")

    def setup(self, error_fd: int = -1) -> None:
        """Run in the child after ``fork``; returns in the process that will ``exec`` the worker.

        A step that fails writes what failed to ``error_fd`` for the grader, then raises.
        """
        try:
            self._setup()
        except BaseException as error:
            if error_fd >= 0:
                os.write(error_fd, f"{type(error).__name__}: {error}".encode()[:2000])
            raise

    def _setup(self) -> None:
        namespaces.die_with_parent()
        if self.group is not None:
            self.group.add(0)
        if self.layers.namespaces:
            self._enter_namespaces()
        if os.geteuid() == 0:
            _drop_bounding_set()
        if self.uid is not None:
            uids.switch_to(self.uid)
            namespaces.die_with_parent()  # a change of user clears it
        self._set_rlimits()
        if self.layers.landlock_abi:
            landlock.restrict(
                [*self.allowed.readable, self.lib],
                [self.work],
                self.allowed.listable,
                abi=self.layers.landlock_abi,
            )
        os.chdir(self.work)

    def _enter_namespaces(self) -> None:
        namespaces.unshare()
        owner = f",uid={self.uid},gid={self.uid}" if self.uid is not None else ""
        size = min(self.limits.memory_bytes, 256 * 2**20)
        namespaces.build_root(
            self.folder / "root",
            self.allowed.mount_readable,
            self.allowed.covered,
            self.allowed.symlinks,
            binds={str(self.folder / "lib"): self.lib},
            scratch={
                self.work: f"size={size},mode=0700{owner}",
                "/tmp": f"size={size},mode=1777",
                "/dev/shm": f"size={size},mode=1777",
            },
        )
        namespaces.set_host_name()
        namespaces.enter_pid_namespace()

    def _set_rlimits(self) -> None:
        limits = self.limits
        cpu = int(limits.submission_seconds) + 5
        for kind, value in (
            (resource.RLIMIT_AS, limits.memory_bytes),
            (resource.RLIMIT_FSIZE, limits.output_bytes),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_CPU, cpu),
            (resource.RLIMIT_NOFILE, MAX_OPEN_FILES),
        ):
            resource.setrlimit(kind, (value, value))
        if self.uid is not None:  # counts every task of the user: only this sandbox's, then
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_TASKS, MAX_TASKS))


def _drop_bounding_set() -> None:
    """No capability can come back through ``exec``, even to a process that is still uid 0:
    none in the bounding or the ambient set, and no set-uid program can give one back."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in range(64):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
