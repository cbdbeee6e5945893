"""Namespaces and the minimal root (autograder/sandbox/namespaces.py), with that layer alone."""

from __future__ import annotations

import os

import pytest
from sandbox_helpers import make_sandbox

from autograder.sandbox import Layers
from autograder.sandbox.filesystem import allow_list

VIEW = """
import os, socket
def top():
    return sorted(os.listdir("/"))
def etc():
    return sorted(os.listdir("/etc"))
def ids():
    return [os.getpid(), os.getppid()]
def interfaces():
    return [name for _, name in socket.if_nameindex()]
def host():
    return socket.gethostname()
"""


@pytest.fixture
def alone(every_layer) -> Layers:
    if not every_layer.namespaces:
        pytest.skip("this host gives no namespaces (needs root)")
    return Layers(namespaces=True)


def test_the_root_holds_only_the_allow_list(alone):
    allowed = allow_list()
    expected = {path.split("/")[1] for path in allowed.mount_readable} | {"sandbox", "tmp", "dev"}
    expected |= {link.split("/")[1] for link, _ in allowed.symlinks}
    candidates = sorted(expected | {"proc", "home", "etc"})  # strings do not cross the wire: ask by name
    questions = [f"def has_{i}():\n    return {name!r} in top()\n" for i, name in enumerate(candidates)]
    cell = VIEW + "def top_count():\n    return len(top())\n" + "\n".join(questions)
    with make_sandbox(cell, layers=alone) as student:
        present = {name for i, name in enumerate(candidates) if student.call(f"has_{i}", []).values[0]}
        count = student.call("top_count", []).values[0]
    assert "proc" not in present and "home" not in present
    assert present <= expected and count == len(present)


def test_it_is_process_2_under_an_init_with_no_network_and_its_own_host_name(alone):
    cell = VIEW + "def lo_only():\n    return interfaces() == ['lo']\n"
    cell += "def named():\n    return host() == 'sandbox'\n"
    with make_sandbox(cell, layers=alone) as student:
        assert student.call("ids", []).values[0] == [2, 1]
        assert student.call("lo_only", []).values[0] is True
        assert student.call("named", []).values[0] is True


@pytest.mark.parametrize("body, message", [
    ("os._exit(7)", "exited with status 7 in f"),
    ("os.abort()", "crashed with signal SIGABRT in f"),
    ("os.kill(os.getpid(), signal.SIGKILL)", "killed (memory limit"),
])
def test_the_worker_ending_is_reported_through_the_init(alone, body, message):
    from autograder.sandbox import SandboxError

    with make_sandbox(f"import os, signal\ndef f():\n    {body}\n", layers=alone) as student:
        with pytest.raises(SandboxError, match=message.replace("(", r"\(")):
            student.call("f", [])


def test_the_grader_is_not_in_the_namespace(alone):
    cell = f"import os\ndef sees_grader():\n    return os.path.exists('/proc/{os.getpid()}')\n"
    with make_sandbox(cell, layers=alone) as student:
        assert student.call("sees_grader", []).values[0] is False


def test_an_allowed_path_inside_a_private_folder_stays_readable(alone):
    """A checkout (and its venv) under /tmp, as in CI: the private /tmp must not cover it."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from autograder.sandbox import namespaces

    folder = Path(tempfile.mkdtemp(prefix="allowed-", dir="/tmp"))
    try:
        (folder / "module.txt").write_text("found")
        (folder / "root").mkdir()
        allowed = allow_list()

        def enter() -> None:
            namespaces.unshare(namespaces.CLONE_NEWNS)
            namespaces.build_root(folder / "root", [*allowed.mount_readable, str(folder / "module.txt")],
                                  allowed.covered, allowed.symlinks, {}, {"/tmp": "size=1m,mode=1777"})

        code = f"print(open('{folder}/module.txt').read())"
        process = subprocess.run([allowed.interpreter, "-I", "-S", "-c", code], preexec_fn=enter,
                                 capture_output=True, text=True, timeout=60)
        assert process.stdout.strip() == "found", process.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)
