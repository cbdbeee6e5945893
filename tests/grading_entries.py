"""Stand-ins for the single-file command in a batch's grading process (``course.processes.Processes``).

A grading process is forked by the forkserver and imports the function it runs by name, so
these live in a module that imports nothing heavy.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time

PR_GET_PDEATHSIG = 2


def crash(argv: list[str]) -> int:
    """Print a traceback's last line and fail without a result, as a crashing grader does."""
    sys.stderr.write("a traceback\nboom\n")
    return 3


def hang(argv: list[str]) -> int:
    """Never finish within a test's limits."""
    time.sleep(30)
    return 0


def describe(argv: list[str]) -> int:
    """Write, as the last line of standard error, what the process is: pid, session, parent,
    working directory, BLAS threads, the signal it gets when its parent dies."""
    signal_number = ctypes.c_int()
    ctypes.CDLL(None).prctl(PR_GET_PDEATHSIG, ctypes.byref(signal_number), 0, 0, 0)
    facts = {"pid": os.getpid(), "session": os.getsid(0), "cwd": os.getcwd(), "parent": os.getppid(),
             "blas": os.environ.get("OPENBLAS_NUM_THREADS"), "pdeathsig": signal_number.value}
    sys.stderr.write(json.dumps(facts) + "\n")
    return 5


def exit_with(argv: list[str]) -> int:
    """End at once with the status given as the first argument."""
    return int(argv[0])


def stand_in_grade(argv: list[str]) -> int:
    """Grade like the single-file command, without the sandbox: every task passes, so the
    score is the assignment's total; the result says which file was read and its SHA-256
    (``extra_data.stand_in``), and holds an "isolation:" note as the real grader's does.
    A notebook whose text holds ``STAND_IN_MESSAGE=`` fails one check of every task with the
    rest of that line as its message (Python escapes such as ``\\x1b`` decoded); one that holds
    ``STAND_IN_UNREADABLE=`` is not read, for that reason, as an unreadable file is not. One
    that holds ``STAND_IN_GATE=PATH`` first writes ``PATH.started-PID`` (the ids and command
    lines of this process and its ancestors, as JSON) and waits until ``PATH`` exists."""
    import hashlib
    import re

    from autograder.assignment import read_assignment

    notebook = argv[0]
    results = argv[argv.index("--results") + 1]
    assignment = read_assignment(argv[argv.index("--assignment") + 1])
    with open(notebook, "rb") as handle:
        content = handle.read()
    if b"STAND_IN_KILL" in content:
        os.kill(os.getpid(), 9)
    gate = re.search(rb"STAND_IN_GATE=([^\n\"]*)", content)
    if gate:
        wait_at(gate.group(1).decode())
    said = re.search(rb"STAND_IN_MESSAGE=([^\n\"]*)", content)
    message = said.group(1).decode("unicode_escape") if said else ""
    unreadable = re.search(rb"STAND_IN_UNREADABLE=([^\n\"]*)", content)
    checks = [{"grade_id": cell.grade_id, "name": "test_stand_in", "passed": not message, "message": message}
              for cell in assignment.graded]
    tests = [{"name": cell.grade_id, "score": 0.0 if message else cell.points, "max_score": cell.points,
              "status": "failed" if message else "passed", "output": message, "visibility": "visible"}
             for cell in assignment.graded]
    notes = ["isolation: stand-in layer, another layer"]
    if unreadable:
        checks, notes = [], [unreadable.group(1).decode("unicode_escape"), *notes]
        tests = [dict(test, score=0.0, status="failed") for test in tests]
    score = sum(test["score"] for test in tests)
    result = {
        "score": score, "execution_time": 0.0,
        "output": "\n".join([f"Score: {score:g} / {assignment.total_points:g}", *notes]),
        "tests": tests,
        "extra_data": {"max_score": assignment.total_points, "isolation": {"layers": ["stand-in layer"]},
                       "artifacts": {}, "checks": checks,
                       "stand_in": {"path": notebook, "sha256": hashlib.sha256(content).hexdigest()}},
    }
    with open(results, "w") as handle:
        json.dump(result, handle)
    return 0 if score == assignment.total_points else 1


def ancestry() -> list[tuple[int, str]]:
    """This process and its ancestors: (pid, command line), nearest first."""
    found, pid = [], os.getpid()
    while pid > 1:
        try:
            command = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            break
        found.append((pid, command))
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def wait_at(gate: str) -> None:
    """Say where this grading runs (``GATE.started-PID``), then wait for the file ``GATE``. The
    file appears whole (written aside, then renamed): a test polling for it never reads it half
    written."""
    written = f"{gate}.writing-{os.getpid()}"
    with open(written, "w") as handle:
        json.dump(ancestry(), handle)  # a command line may hold newlines (``bash -c`` scripts)
    os.replace(written, f"{gate}.started-{os.getpid()}")
    while not os.path.exists(gate):
        time.sleep(0.05)
