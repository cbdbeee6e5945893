"""Stand-ins for the single-file command in a batch's grading process (``batchprocs.Processes``).

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
