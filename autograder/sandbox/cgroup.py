"""A control group per student process: memory and process caps on everything in it, and a kill
that reaches every member.

cgroup v2 is used where this process's group lets it create children with the ``memory`` and
``pids`` controllers; otherwise cgroup v1's ``memory`` and ``pids`` hierarchies, where they are
mounted and writable (root on a host that has them). Elsewhere (a container, a plain user)
``Group.create`` returns None and the per-process limits and the fork ban stand alone.
A grading process killed outright cannot remove its groups: the next group made beside them
removes those that are empty, over a minute old, and named after a process that is gone.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
ABANDONED_SECONDS = 60.0
_counter = itertools.count()


class Group:
    """One control group (a folder per hierarchy: one in v2, two in v1)."""

    def __init__(self, version: int, folders: list[Path]) -> None:
        self.version, self.folders = version, folders

    @classmethod
    def create(cls, memory_bytes: int, max_tasks: int, prefix: str = "autograder") -> Group | None:
        """A new group capped at ``memory_bytes`` and ``max_tasks`` threads and processes, or None.

        Empty groups that a grading process killed outright left beside it are removed first.
        """
        name = f"{prefix}-{os.getpid()}-{next(_counter)}"
        for make in (_create_v2, _create_v1):
            group = make(name, memory_bytes, max_tasks)
            if group is not None:
                for folder in group.folders:
                    remove_abandoned(folder.parent, prefix)
                return group
        return None

    def add(self, pid: int) -> None:
        """Move ``pid`` (0: the caller) into the group; raises ``OSError`` if the kernel refuses."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(str(pid or os.getpid()))

    def give_back(self, pid: int = 0) -> None:
        """Move ``pid`` (0: the caller) back to the group this one was made in."""
        for folder in self.folders:
            (folder.parent / "cgroup.procs").write_text(str(pid or os.getpid()))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            with contextlib.suppress(OSError):
                found.update(int(line) for line in (folder / "cgroup.procs").read_text().split())
        return found

    def kill(self) -> None:
        """SIGKILL every member; with v2, at once through ``cgroup.kill``."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.folders[0] / "cgroup.kill").write_text("1")
        for _ in range(100):  # v1: members cannot fork (seccomp), so one or two rounds do
            members = self.pids()
            if not members:
                return
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a member for going over the memory cap."""
        for folder in self.folders:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (folder / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value or 0) > 0:
                            return True
        return False

    def remove(self) -> None:
        """Kill what is left and remove the group's folders."""
        self.kill()
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # members still exiting
                    time.sleep(0.01)


def remove_abandoned(parent: Path, prefix: str = "autograder") -> list[Path]:
    """Remove the empty groups ``prefix-PID-N`` in ``parent`` whose process PID is gone and that
    are over ``ABANDONED_SECONDS`` old (a grading process killed with SIGKILL cannot remove its
    own; a young one may belong to a process of another PID namespace, about to join it).
    Returns the folders removed."""
    removed = []
    with contextlib.suppress(OSError):
        for folder in parent.iterdir():
            parts = folder.name.removeprefix(f"{prefix}-").split("-")
            if not folder.name.startswith(f"{prefix}-") or len(parts) != 2 or not parts[0].isdigit():
                continue
            with contextlib.suppress(OSError):
                if (Path(f"/proc/{parts[0]}").exists() or (folder / "cgroup.procs").read_text().strip()
                        or time.time() - folder.stat().st_mtime < ABANDONED_SECONDS):
                    continue
                folder.rmdir()
                removed.append(folder)
    return removed


def _own_path(controller: str | None) -> str | None:
    """This process's group in the hierarchy of ``controller`` (None: the v2 hierarchy)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if (controller is None and controllers == "") or controller in controllers.split(","):
                return path
    return None


def _v2_mount() -> Path | None:
    for candidate in (ROOT, ROOT / "unified"):
        if (candidate / "cgroup.controllers").exists():
            return candidate
    return None


def _create_v2(name: str, memory_bytes: int, max_tasks: int) -> Group | None:
    mount, own = _v2_mount(), _own_path(None)
    if mount is None or own is None:
        return None
    parent = mount / own.lstrip("/")
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if not {"memory", "pids"} <= set(enabled):
        return None
    return _make(
        [parent / name], 2, {"memory.max": memory_bytes, "memory.swap.max": 0, "pids.max": max_tasks}
    )


def _create_v1(name: str, memory_bytes: int, max_tasks: int) -> Group | None:
    folders = []
    for controller in ("memory", "pids"):
        own = _own_path(controller)
        if own is None or not (ROOT / controller).is_dir():
            return None
        folders.append(ROOT / controller / own.lstrip("/") / name)
    settings = {"memory.limit_in_bytes": memory_bytes, "pids.max": max_tasks}
    return _make(folders, 1, settings)


def _make(folders: list[Path], version: int, settings: dict[str, int]) -> Group | None:
    made: list[Path] = []
    try:
        for folder in folders:
            folder.mkdir()
            made.append(folder)
        for key, value in settings.items():
            for folder in folders:
                if (folder / key).exists():
                    (folder / key).write_text(str(value))
        return Group(version, folders)
    except OSError:
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()
        return None
