"""Linux namespaces for the student process: its own mounts (a minimal root), processes,
IPC, host name, network and cgroup view. Needs ``CAP_SYS_ADMIN`` (a grader running as root).

``build_root`` makes a fresh tmpfs the process's root, holding read-only bind mounts of the
allow-list and three private tmpfs folders, then ``pivot_root``s into it: nothing else of the
host's files exists for the process. ``enter_pid_namespace`` forks twice, so the worker is
process 2 of a new PID namespace whose process 1 is a small waiting init: when the init ends,
the kernel ends everything left in the namespace.
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterable
from pathlib import Path

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
ALL = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def unshare(flags: int = ALL) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def encode(text: str | None) -> bytes | None:
        return text.encode() if text is not None else None

    _check(
        _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}"
    )


def bind_read_only(source: str, target: Path) -> None:
    """Bind ``source`` (a file or folder) at ``target``, read-only, no set-uid programs."""
    if os.path.isdir(source):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
    mount(source, str(target), None, MS_BIND | MS_REC)
    mount(None, str(target), None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)


def build_root(
    root: Path,
    readable: Iterable[str],
    covered: Iterable[str],
    symlinks: Iterable[tuple[str, str]],
    binds: dict[str, str],
    scratch: dict[str, str],
) -> None:
    """Make ``root`` (an empty folder) the new ``/`` of this mount namespace.

    ``readable``: host paths bound read-only at the same path; ``covered``: folders among
    them hidden under an empty read-only tmpfs; ``symlinks``: links to recreate;
    ``binds``: host path -> path inside, read-only; ``scratch``: path inside -> tmpfs options.
    """
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", str(root), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    # The private folders first: an allowed path inside one (a venv under /tmp) is bound on top.
    for inside, options in scratch.items():
        folder = root / inside.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        mount("tmpfs", str(folder), "tmpfs", MS_NOSUID | MS_NODEV, options)
    for path in readable:
        bind_read_only(path, root / path.lstrip("/"))
    for path in covered:
        inside = root / path.lstrip("/")
        if inside.is_dir():
            mount("tmpfs", str(inside), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
    for link, target in symlinks:
        inside = root / link.lstrip("/")
        if not inside.exists() and not inside.is_symlink():
            inside.parent.mkdir(parents=True, exist_ok=True)
            inside.symlink_to(target)
    for source, inside in binds.items():
        bind_read_only(source, root / inside.lstrip("/"))
    old = root / ".old-root"
    old.mkdir()
    machine = os.uname().machine
    _check(_libc.syscall(SYS_PIVOT_ROOT[machine], str(root).encode(), str(old).encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old-root", MNT_DETACH), "umount old root")
    os.rmdir("/.old-root")
    mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def set_host_name(name: str = "sandbox") -> None:
    _check(_libc.sethostname(name.encode(), len(name)), "sethostname")


def die_with_parent() -> None:
    """SIGKILL this process when its parent ends (cleared by a change of user: call it after)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def enter_pid_namespace() -> None:
    """Fork into the PID namespace made by ``unshare``: returns only in the worker (process 2).

    The calling process stays outside and waits for the namespace's init (process 1), which
    waits for the worker; each ends as the worker ended (a signal as ``128 + number`` from the
    init, which cannot kill itself with a signal), so the grader reads the worker's fate.
    """
    init = os.fork()
    if init:
        _wait_and_mirror(init, outside=True)
    die_with_parent()
    worker = os.fork()
    if worker:
        _wait_and_mirror(worker, outside=False)
    die_with_parent()


def _wait_and_mirror(child: int, outside: bool) -> None:
    """Never returns: close every descriptor (the grader's pipes), wait for ``child``, end alike."""
    os.closerange(0, 1 << 16)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            break
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
    else:
        code = os.WEXITSTATUS(status)
        number = code - 128 if outside and 128 < code <= 128 + 64 else 0
        if not number:
            os._exit(code)
    if outside:
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(128 + number)
