"""Control groups (autograder/sandbox/cgroup.py): caps on tasks and memory, and a kill of all members."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from autograder.sandbox.cgroup import Group

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
