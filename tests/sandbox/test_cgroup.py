"""Control groups (autograder/sandbox/cgroup.py): caps on tasks and memory, and a kill of all members."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from autograder.sandbox.cgroup import ABANDONED_SECONDS, Group

ROOT = os.geteuid() == 0


@pytest.fixture
def group():
    made = Group.create(256 * 2**20, 8, prefix="autograder-test")
    if made is None:
        assert not ROOT or not os.path.isdir("/sys/fs/cgroup"), "root on Linux should be able to make a group"
        pytest.skip("no writable cgroup tree here")
    yield made
    made.remove()


def start_in(group: Group, code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], preexec_fn=lambda: group.add(0),
                            stdout=subprocess.PIPE, text=True)


def test_tasks_over_the_cap_cannot_be_made(group):
    code = ("import os, time\nmade = 0\nfor _ in range(40):\n    try:\n        if os.fork() == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        made += 1\n    except OSError:\n"
            "        break\nprint(made, flush=True)\ntime.sleep(30)\n")
    process = start_in(group, code)
    made = int(process.stdout.readline())
    assert made < 8  # the cap counts the first process too
    assert len(group.pids()) == made + 1
    group.kill()
    process.wait(timeout=30)
    assert group.pids() == set() and process.returncode == -signal.SIGKILL


def test_memory_over_the_cap_is_killed_and_said_so(group):
    process = start_in(group, "block = bytearray(1024 * 2**20)\nblock[::4096] = b'x' * len(block[::4096])\n")
    assert process.wait(timeout=60) == -signal.SIGKILL
    assert group.out_of_memory()


def test_remove_leaves_no_folder(group):
    folders = list(group.folders)
    group.remove()
    assert not any(folder.exists() for folder in folders)


def free_pid() -> int:
    """A process id that no process has here now."""
    return next(pid for pid in range(4_000_000, 3_000_000, -1) if not os.path.exists(f"/proc/{pid}"))


def test_empty_old_groups_of_vanished_processes_are_removed_when_a_group_is_made(group):
    parent = group.folders[0].parent
    dead = free_pid()
    gone, young, busy = (parent / f"autograder-test-{dead}-{n}" for n in range(3))
    alive = parent / f"autograder-test-{os.getpid()}-99"
    for folder in (gone, young, busy, alive):
        folder.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (busy / "cgroup.procs").write_text(str(sleeper.pid))
        old = time.time() - 2 * ABANDONED_SECONDS
        for folder in (gone, busy, alive):
            os.utime(folder, (old, old))
        Group.create(256 * 2**20, 8, prefix="autograder-test").remove()
        assert not gone.exists()  # what a grading process killed outright leaves
        assert young.exists()  # maybe another PID namespace's, about to be joined
        assert busy.exists() and alive.exists()  # a member left; its process is alive
    finally:
        sleeper.kill()
        sleeper.wait()
        for folder in (gone, young, busy, alive):
            for _ in range(100):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)
