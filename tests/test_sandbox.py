"""The sandbox (autograder/sandbox.py): calls, limits and their messages, isolation, clean-up."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from corpus.grading import processes_with

from autograder.sandbox import (
    Cell,
    Limits,
    MissingFunction,
    Sandbox,
    SandboxError,
    StudentError,
    isolation_available,
)


def sandbox(*sources: str, **limits) -> Sandbox:
    """A sandbox whose cells 1, 2, ... are ``sources``; small limits by default."""
    defaults = {"call_seconds": 5.0, "submission_seconds": 30.0}
    cells = [Cell(index, textwrap.dedent(source)) for index, source in enumerate(sources, start=1)]
    return Sandbox(cells, Limits(**{**defaults, **limits}))


def test_call_returns_values_arguments_after_and_repeats():
    with sandbox("""
        def scale(x, k):
            x *= k
            return float(x.sum()), x.shape
    """) as student:
        result = student.call("scale", [np.arange(4.0)], {"k": 2}, repeat=2)
    assert result.values == [(12.0, (4,)), (12.0, (4,))]
    assert np.array_equal(result.args_after[0][0], [0, 2, 4, 6])
    assert result.calls == {}


def test_student_error_names_the_cell_and_line():
    with sandbox("x = 1", "def f():\n    return 1 / 0\n") as student, pytest.raises(StudentError) as error:
        student.call("f", [])
    assert str(error.value) == "f raised ZeroDivisionError: division by zero (cell 2, line 2)"


def test_missing_function_names_the_cells_that_failed():
    with sandbox("undefined_name", "def g(:\n    pass\n") as student:
        with pytest.raises(MissingFunction) as error:
            student.call("g", [])
    message = str(error.value)
    assert "g is not defined in the notebook" in message
    assert "cell 1: NameError: name 'undefined_name' is not defined (cell 1, line 1)" in message
    assert "cell 2: SyntaxError" in message


KILL = "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)"
JUNK = "import os, sys\n    os.write(int(sys.argv[2]), b'\\xff' * 64)\n    while True:\n        pass"


@pytest.mark.parametrize("body, limits, message", [
    ("while True:\n        pass", {"call_seconds": 1}, "timed out after 1 s in f"),
    ("import time\n    time.sleep(30)", {"call_seconds": 10, "submission_seconds": 2},
     "submission time limit of 2 s used up in f"),
    ("import os\n    os._exit(3)", {}, "exited with status 3 in f"),
    ("import os\n    os.abort()", {}, "crashed with signal SIGABRT in f"),
    (KILL, {}, "killed (memory limit 2 GiB or an outside kill) in f"),
    (JUNK, {}, "broke the connection to the grader (header too large) in f"),
])
def test_a_call_that_ends_the_process_has_a_clear_message_and_is_not_repeated(body, limits, message):
    started = time.monotonic()
    with sandbox(f"def f():\n    {body}\n", "def g():\n    return 1\n", **limits) as student:
        with pytest.raises(SandboxError) as error:
            student.call("f", [])
        assert str(error.value) == message
        started_again = time.monotonic()
        with pytest.raises(SandboxError, match=r"\(earlier call; not called again\)$"):
            student.call("f", [])
        assert time.monotonic() - started_again < 0.1
        if "submission" not in message:
            assert student.call("g", []).values == [1]  # a new process for the other functions
    assert time.monotonic() - started < limits.get("call_seconds", 5) + 3


def test_memory_limit():
    with sandbox("def f():\n    return bytearray(2**30)\n", memory_bytes=256 * 2**20) as student:
        with pytest.raises(SandboxError, match="^killed: memory limit 256 MiB exceeded in f$"):
            student.call("f", [])


def test_output_is_capped():
    with sandbox("def f():\n    print('x' * 100_000)\n", output_bytes=4096) as student:
        with pytest.raises((StudentError, SandboxError)):
            student.call("f", [])
        assert 0 < len(student.output) <= 4096


def test_output_limit_message():
    with sandbox("def f():\n    print('x' * 100_000)\n", output_bytes=4096) as student:
        with pytest.raises(SandboxError, match="killed: output limit 4 KiB exceeded in f"):
            student.call("f", [])


def test_a_cell_that_kills_the_process_is_skipped_and_the_rest_still_runs():
    cells = ("def a():\n    return 1\n", "import os\nos._exit(0)\n", "def b():\n    return a() + 1\n")
    with sandbox(*cells) as student:
        assert student.call("b", []).values == [2]
    assert student.cell_errors == {2: "exited with status 0 while running cell 2"}


def test_the_process_is_restarted_after_a_crash():
    with sandbox("import os\ndef die():\n    os._exit(1)\n", "def ok():\n    return 5\n") as student:
        with pytest.raises(SandboxError):
            student.call("die", [])
        assert student.call("ok", []).values == [5]


def test_dependencies_are_the_reference_during_a_call_only():
    """One mistake costs once: evaluate runs with the reference relu, not the student's wrong one."""
    with sandbox("""
        def relu(x):
            return x * 0
        def evaluate(images, labels, weights_1, weights_2):
            return float(relu(images).sum()), 0
    """) as student:
        result = student.call("evaluate", [np.array([-1.0, 2.0]), None, None, None])
        assert result.values == [(2.0, 0)] and result.calls == {"relu": 1}
        assert np.array_equal(student.call("relu", [np.array([-1.0, 2.0])]).values[0], [0.0, 0.0])


def test_cannot_import_the_kit_or_site_packages():
    with sandbox("import solutions", "import autograder", """
        import sys
        def paths():
            return any("site-packages" in path or "/work/" in path for path in sys.path[1:])
        def numpy_works():
            return float(np.linalg.norm(np.ones(4)))
    """) as student:
        assert student.call("paths", []).values == [False]
        assert student.call("numpy_works", []).values == [2.0]
    assert "No module named 'solutions'" in student.cell_errors[1]
    assert "No module named 'autograder'" in student.cell_errors[2]


def test_forged_junk_reply_is_a_sandbox_error():
    forged = "import json, struct, os, sys\n" + textwrap.dedent("""
        def f():
            head = json.dumps({"results": [{"value": {"t": "array", "i": 9}, "args": []}], "arrays": []})
            os.write(int(sys.argv[2]), struct.pack(">Q", len(head)) + head.encode())
            while True:
                pass
    """)
    with sandbox(forged, call_seconds=2) as student, pytest.raises(SandboxError):
        student.call("f", [])


# ----------------------------------------------------------------------------- isolation

def probes(**paths: str) -> str:
    """A cell with ``write_<name>()`` for each path (strings do not cross the wire) and ``connect(port)``."""
    lines = [textwrap.dedent("""
        import socket
        def attempt(path):
            try:
                with open(path, "w") as handle:
                    handle.write("student was here")
                return 0
            except OSError as error:
                return error.errno
        def connect(port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
                return 0
            except OSError as error:
                return error.errno or -1
    """)]
    lines += [f"def write_{name}():\n    return attempt({path!r})\n" for name, path in paths.items()]
    return "\n".join(lines)


@pytest.mark.skipif(os.geteuid() != 0 or sys.platform != "linux", reason="isolation needs root on Linux")
def test_isolation_is_available_here():
    assert isolation_available()


@pytest.mark.skipif(not isolation_available(), reason="no isolation on this machine")
def test_isolated_files_outside_scratch_are_read_only_and_no_network(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("grader's file")
    cell = probes(outside=str(outside), new=str(tmp_path / "new.txt"), scratch="scratch.txt")
    names = ("outside", "new", "scratch")
    with socket.socket() as server, sandbox(cell) as student:
        server.bind(("127.0.0.1", 0))
        server.listen()
        written = {name: student.call(f"write_{name}", []).values[0] for name in names}
        assert student.call("connect", [server.getsockname()[1]]).values[0] != 0
    assert written == {"outside": errno.EROFS, "new": errno.EROFS, "scratch": 0}
    assert outside.read_text() == "grader's file" and not (tmp_path / "new.txt").exists()


FALLBACK = """
import json, sys, time
from autograder.sandbox import Cell, Limits, Sandbox, SandboxError, isolation_available
report = {"isolation": isolation_available()}
cells = [Cell(1, sys.argv[1]), Cell(2, "def loop():\\n    while True:\\n        pass\\n")]
with Sandbox(cells, Limits(call_seconds=1)) as student:
    report["write"] = student.call("write_outside", []).values[0]
    started = time.monotonic()
    try:
        student.call("loop", [])
    except SandboxError as error:
        report["loop"] = str(error)
    report["seconds"] = time.monotonic() - started
print(json.dumps(report))
"""


def test_fallback_without_isolation_still_enforces_limits(tmp_path):
    """With AUTOGRADER_NO_ISOLATION set (as where namespaces are not allowed), the limits still hold,
    but the student process can write wherever the grader can."""
    outside = tmp_path / "outside.txt"
    env = dict(os.environ, AUTOGRADER_NO_ISOLATION="1")
    process = subprocess.run([sys.executable, "-c", FALLBACK, probes(outside=str(outside))],
                             capture_output=True, text=True, env=env, timeout=60)
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout.splitlines()[-1])
    assert report["isolation"] is False
    assert report["loop"] == "timed out after 1 s in loop" and report["seconds"] < 3
    assert report["write"] == 0 and outside.read_text() == "student was here"


def test_close_kills_the_process_group(tmp_path):
    marker = f"sandbox-close-{os.getpid()}-{time.monotonic_ns()}"
    spawn = textwrap.dedent(f"""
        import subprocess, sys
        def spawn():
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
            return 1
    """)
    with sandbox(spawn) as student:
        assert student.call("spawn", []).values == [1]
        deadline = time.monotonic() + 5
        while not processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(marker)
    deadline = time.monotonic() + 5
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(marker) == []
