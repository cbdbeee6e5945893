"""What the student process can reach, with every layer of this host and with each layer alone.

Each threat of docs/grading.md's table has a test here: files outside the allow-list, other
processes, IPC, the network, processes and files that outlive a call, one student process
reaching the next. Tests of one layer alone show that each layer holds by itself.
"""

from __future__ import annotations

import errno
import os
import socket
import uuid
from pathlib import Path

import numpy as np
import pytest
from sandbox_helpers import ROOT, make_sandbox, probe

from autograder.sandbox import Layers, StudentError

REPOSITORY = Path(__file__).resolve().parents[2]
SECRETS = {
    "reference": REPOSITORY / "solutions" / "mnist_mlp" / "__init__.py",
    "checks": REPOSITORY / "solutions" / "mnist_mlp" / "checks" / "test_train.py",
    "source_notebook": REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb",
    "git": REPOSITORY / ".git" / "HEAD",
    "tests": REPOSITORY / "tests" / "corpus" / "__init__.py",
    "passwd": Path("/etc/passwd"),
    "grader_cmdline": Path(f"/proc/{os.getpid()}/cmdline"),
    "init_environ": Path("/proc/1/environ"),
}


def read_probes(paths: dict[str, Path]) -> str:
    return "\n".join(
        probe(f"read_{name}", f"open({str(path)!r}, 'rb').read(1)") for name, path in paths.items()
    )


def errnos(student, names) -> dict[str, int]:
    return {name: student.call(name, []).values[0] for name in names}


@pytest.fixture
def classmate(tmp_path: Path) -> Path:
    """Another student's submission and a gradebook, as a batch has them on disk."""
    folder = tmp_path / "submitted" / "bob" / "mnist_mlp"
    folder.mkdir(parents=True)
    (folder / "mnist_mlp.ipynb").write_text('{"cells": []}')
    (tmp_path / "gradebook.db").write_bytes(b"SQLite format 3\0")
    tmp_path.chmod(0o755)
    return tmp_path


def test_every_file_outside_the_allow_list_is_out_of_reach(every_layer, classmate):
    paths = {
        **SECRETS,
        "classmate": classmate / "submitted/bob/mnist_mlp/mnist_mlp.ipynb",
        "gradebook": classmate / "gradebook.db",
    }
    with make_sandbox(read_probes(paths), probe("read_numpy", "np.load.__code__")) as student:
        found = errnos(student, [f"read_{name}" for name in paths])
    assert all(found.values()), found  # each open failed (ENOENT behind a minimal root, EACCES by Landlock)


def test_writes_stay_in_the_process_and_vanish_with_it(every_layer, tmp_path):
    tmp_path.chmod(0o777)
    outside, marker = tmp_path / "outside.txt", f"sandbox-{uuid.uuid4().hex}"
    cell = "\n".join(
        [
            probe("write_outside", f"open({str(outside)!r}, 'w').write('x')"),
            probe("write_scratch", "open('scratch.txt', 'w').write('x')"),
            probe("write_tmp", f"open('/tmp/{marker}', 'w').write('x')"),
            probe("write_shm", f"open('/dev/shm/{marker}', 'w').write('x')"),
        ]
    )
    with make_sandbox(cell) as student:
        written = errnos(student, ["write_outside", "write_scratch", "write_tmp", "write_shm"])
    assert written["write_outside"] != 0 and written["write_scratch"] == 0
    assert not outside.exists()
    assert not Path(f"/tmp/{marker}").exists() and not Path(f"/dev/shm/{marker}").exists()


def test_no_network(every_layer):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        cell = probe("connect", f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
        with make_sandbox(cell) as student:
            assert student.call("connect", []).values[0] != 0


def test_no_process_can_be_created_or_signalled(every_layer):
    grader = os.getpid()
    cell = "\n".join(
        [
            "import os, signal, subprocess, sys, threading",
            probe("fork", "os.fork()"),
            probe("spawn", "subprocess.run(['/bin/true'])"),
            probe("exec", "os.execv(sys.executable, [sys.executable])"),
            probe("signal_grader", f"os.kill({grader}, 0)"),
            probe("signal_parent", "os.kill(os.getppid(), 0)"),
            probe("signal_everyone", "os.kill(-1, 0)"),
            probe("signal_group", "os.kill(0, 0)"),
            probe("signal_itself", "os.kill(os.getpid(), 0)"),
            "def thread():\n    out = []\n    t = threading.Thread(target=lambda: out.append(1))\n"
            "    t.start()\n    t.join()\n    return len(out)\n",
        ]
    )
    names = ["fork", "spawn", "exec", "signal_grader", "signal_parent", "signal_everyone", "signal_group"]
    with make_sandbox(cell) as student:
        denied = errnos(student, names)
        assert student.call("signal_itself", []).values[0] == 0
        assert student.call("thread", []).values[0] == 1  # threads are not processes: allowed
    assert all(denied.values()), denied


def test_no_system_v_or_posix_message_ipc(every_layer):
    cell = "\n".join(
        [
            "import ctypes, os",
            "libc = ctypes.CDLL(None, use_errno=True)",
            "def shmget():\n    return libc.shmget(0, 4096, 0o1666)\n",
            "def semget():\n    return libc.semget(0, 1, 0o1666)\n",
            "def msgget():\n    return libc.msgget(0, 0o1666)\n",
        ]
    )
    with make_sandbox(cell) as student:
        assert [student.call(name, []).values[0] for name in ("shmget", "semget", "msgget")] == [-1, -1, -1]


CARRIER = """
import os
PLACES = ("carried.txt", "/tmp/carried.txt", "/dev/shm/carried.txt", os.path.expanduser("~/carried.txt"))

def leave():
    for place in PLACES:
        try:
            with open(place, "w") as handle:
                handle.write("def train_step(*args):\\n    return 7\\n")
        except OSError:
            pass

def train(*args):
    leave()
    return 0
"""
PICK_UP = """
for place in PLACES:
    try:
        with open(place) as handle:
            exec(handle.read())
    except OSError:
        pass
"""


def test_nothing_written_by_one_process_reaches_the_next(every_layer):
    """One student process leaves code everywhere it can write; the next one (another key: the
    checks of another function) starts with a fresh scratch folder, /tmp, /dev/shm."""
    with make_sandbox(CARRIER, "def train_step(*args):\n    raise NotImplementedError\n", PICK_UP) as student:
        assert student.call("train", [], process="first").values == [0]
        with pytest.raises(StudentError, match="NotImplementedError"):
            student.call("train_step", [], process="second")


def test_without_layers_the_carrier_gets_through():
    """The control for the test above: with no layer, the shared /tmp carries the code over."""
    try:
        with make_sandbox(
            CARRIER, "def train_step(*args):\n    raise NotImplementedError\n", PICK_UP, layers=Layers()
        ) as student:
            assert student.call("train", [], process="first").values == [0]
            carried = student.call("train_step", [], process="second").values
    finally:
        Path("/tmp/carried.txt").unlink(missing_ok=True)
    assert carried == [7]


@pytest.mark.skipif(not ROOT, reason="only root can give each process its own user")
def test_concurrent_sandboxes_have_their_own_unprivileged_users(every_layer):
    cell = "import os\ndef ids():\n    return [os.getuid(), os.getgid(), len(os.getgroups())]\n"
    with make_sandbox(cell) as first, make_sandbox(cell) as second:
        one, two = first.call("ids", []).values[0], second.call("ids", []).values[0]
    assert one[0] != two[0] and 0 not in (one[0], two[0]) and one[0] == one[1] and one[2] == 0


@pytest.mark.parametrize(
    "layer, expected",
    [
        ("landlock", errno.EACCES),
        ("namespaces", errno.ENOENT),
    ],
)
def test_each_file_layer_alone_hides_the_reference(every_layer, layer, expected):
    if layer == "namespaces" and not every_layer.namespaces:
        pytest.skip("this host gives no namespaces")
    alone = Layers(
        namespaces=layer == "namespaces", landlock_abi=every_layer.landlock_abi if layer == "landlock" else 0
    )
    with make_sandbox(read_probes({"reference": SECRETS["reference"]}), layers=alone) as student:
        assert student.call("read_reference", []).values[0] == expected


def test_seccomp_alone_stops_forks_and_signals(every_layer):
    cell = "\n".join(
        [
            "import os",
            probe("fork", "os.fork()"),
            probe("kill", "os.kill(os.getppid(), 0)"),
            probe("socket", "import socket\nsocket.socket()"),
        ]
    )
    with make_sandbox(cell, layers=Layers(seccomp=True)) as student:
        assert errnos(student, ["fork", "kill", "socket"]) == dict.fromkeys(
            ["fork", "kill", "socket"], errno.EPERM
        )


def test_landlock_alone_stops_signals_out_of_the_sandbox(every_layer):
    if every_layer.landlock_abi < 6:
        pytest.skip("signal scoping needs Landlock ABI 6")
    cell = "import os\n" + probe("kill", "os.kill(os.getppid(), 0)")
    with make_sandbox(cell, layers=Layers(landlock_abi=every_layer.landlock_abi)) as student:
        assert student.call("kill", []).values[0] == errno.EPERM


def test_numpy_still_works_behind_every_layer(every_layer):
    cell = (
        "def compute():\n    x = np.random.default_rng(3).random((64, 64))\n"
        "    return float(np.linalg.det(x @ x.T))\n"
    )
    with make_sandbox(cell) as student:
        value = student.call("compute", []).values[0]
    x = np.random.default_rng(3).random((64, 64))
    assert value == pytest.approx(float(np.linalg.det(x @ x.T)), rel=1e-9)
