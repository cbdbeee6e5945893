"""The sandbox: student code runs in a separate process that sees only what it needs.

Its layers, each a module, used where the host allows (``layers.detect``):

- ``filesystem``: the allow-list of readable files (interpreter, stdlib, NumPy, the worker);
- ``namespaces``: a minimal root built from it, and new PID, IPC, UTS, network namespaces;
- ``uids``: an unprivileged user id of its own for each concurrent student process;
- ``landlock``: the kernel's allow-list of files, TCP, signals and abstract sockets;
- ``seccomp``: no process creation, exec, signals to others, IPC, sockets;
- ``cgroup`` and ``limits``: memory, tasks, time, output;
- ``child``: the set-up, in order, between fork and exec; ``workspace``: the folder a process
  starts with; ``launch``: one process launched (folder, control group, pipes) and stopped;
  ``running``: the processes of one submission, launched and replaced; ``process``: what
  is asked of them (``Sandbox``); ``channel``: the requests, replies and calls
  back to the grader through one process's pipes; ``replies``: what comes back, checked and capped.
"""

from autograder.sandbox.layers import Layers, detect, refusal
from autograder.sandbox.limits import Limits
from autograder.sandbox.orphans import become_subreaper, reap_orphans
from autograder.sandbox.process import Cell, RemoteFunction, Sandbox
from autograder.sandbox.replies import (
    CallResult,
    GraderError,
    MissingFunction,
    SandboxError,
    StudentError,
    parse_reply,
)

__all__ = [
    "CallResult",
    "Cell",
    "GraderError",
    "Layers",
    "Limits",
    "MissingFunction",
    "Sandbox",
    "SandboxError",
    "StudentError",
    "become_subreaper",
    "detect",
    "parse_reply",
    "reap_orphans",
    "refusal",
    "RemoteFunction",
]
