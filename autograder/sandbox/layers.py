"""Which isolation layers this host lets the grader give the student process, and how to say so.

- namespaces (needs CAP_SYS_ADMIN: root): a minimal root holding only the allow-list; no other
  process, IPC object or network interface in sight;
- own uid (needs CAP_SETUID: root): nothing of the grader's or a classmate's can be signalled
  or read through file modes;
- landlock (Linux >= 5.13): no file but the allow-list opens; no TCP; from ABI 6 no signal and
  no abstract socket reaches out of the sandbox;
- seccomp (Linux on x86-64 or AArch64): no fork, exec, signal to others, tracing, IPC, socket,
  namespace or mount;
- cgroup (a writable cgroup tree): memory and tasks capped over all of the process's threads;
- rlimits (always): address space, file size, CPU time, open files, tasks, core dumps.

Files stay hidden when either namespaces or Landlock is there; without both, grading needs
``--allow-unisolated``. ``AUTOGRADER_NO_ISOLATION=1`` turns every optional layer off (for
benchmarks and trusted settings).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from functools import cache

from autograder.sandbox import filesystem, landlock, seccomp

CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN = 6, 7, 21
NAMES = ("namespaces", "own uid", "landlock", "seccomp", "cgroup", "rlimits")
FIELDS = {
    "namespaces": "namespaces",
    "own uid": "own_uid",
    "landlock": "landlock_abi",
    "seccomp": "seccomp",
    "cgroup": "cgroup",
}


@dataclass(frozen=True)
class Layers:
    """The optional layers to use, and why each missing one is missing."""

    namespaces: bool = False
    own_uid: bool = False
    landlock_abi: int = 0
    seccomp: bool = False
    cgroup: bool = False
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def hides_files(self) -> bool:
        """Whether the reference, the checks and the course are out of the student process's reach."""
        return self.namespaces or self.landlock_abi > 0

    def without(self, name: str, why: str) -> Layers:
        """These layers less ``name`` (a spawn found it does not work after all)."""
        attribute = FIELDS[name]
        return replace(
            self, **{attribute: type(getattr(self, attribute))()}, missing={**self.missing, name: why}
        )

    def used(self) -> list[str]:
        names = [
            ("namespaces", self.namespaces),
            ("own uid", self.own_uid),
            (f"landlock (ABI {self.landlock_abi})", self.landlock_abi > 0),
            ("seccomp", self.seccomp),
            ("cgroup", self.cgroup),
            ("rlimits", True),
        ]
        return [name for name, on in names if on]

    def report(self) -> dict:
        """For ``results.json``'s ``extra_data``: the layers used, the missing ones and why."""
        return {"layers": self.used(), "missing": dict(self.missing), "hides_files": self.hides_files}

    def summary(self) -> str:
        """One line for people: ``isolation: namespaces, own uid, ...; missing: cgroup (why)``."""
        line = "isolation: " + ", ".join(self.used())
        if self.missing:
            line += "; missing: " + "; ".join(f"{name} ({why})" for name, why in self.missing.items())
        return line


def effective_capabilities() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


@cache
def detect() -> Layers:
    """The layers this process can give its student processes (a cgroup is tried per process)."""
    if sys.platform != "linux":
        return Layers(missing={name: f"not available on {sys.platform}" for name in NAMES[:5]})
    if os.environ.get("AUTOGRADER_NO_ISOLATION"):
        return Layers(missing={name: "turned off by AUTOGRADER_NO_ISOLATION" for name in NAMES[:5]})
    missing: dict[str, str] = {}
    caps = effective_capabilities()
    namespaces = bool(caps >> CAP_SYS_ADMIN & 1)
    if not namespaces:
        missing["namespaces"] = "the grader lacks CAP_SYS_ADMIN (not root, or a container's root)"
    own_uid = bool(caps >> CAP_SETUID & 1 and caps >> CAP_SETGID & 1)
    if not own_uid:
        missing["own uid"] = "the grader cannot switch users (not root)"
    elif not namespaces and not _readable_by_others():
        own_uid = False
        missing["own uid"] = "the interpreter or NumPy is not readable by other users"
    abi = landlock.abi_version()
    if abi < 1:
        missing["landlock"] = "the kernel has no Landlock (Linux < 5.13, or it is disabled)"
    has_seccomp = seccomp.supported()
    if not has_seccomp:
        missing["seccomp"] = f"no filter for this architecture ({os.uname().machine})"
    cgroup = own_uid or namespaces  # only root can make groups; tried, and reported, per process
    if not cgroup:
        missing["cgroup"] = "the grader cannot create control groups (not root)"
    return Layers(namespaces, own_uid, abi, has_seccomp, cgroup, missing)


def _readable_by_others() -> bool:
    allowed = filesystem.allow_list()
    return all(filesystem.readable_by_others(path) for path in (allowed.interpreter, *allowed.readable))


REFUSAL = (
    "refusing to grade: on this host the student's code could read the reference solution, the "
    "hidden checks and the course's files, because neither of the layers that hide them is "
    "available ({why}). Grade on Linux 5.13 or newer (Landlock), or as root on Linux "
    "(namespaces); or, only where every submission is trusted, pass --allow-unisolated."
)


def refusal(layers: Layers) -> str:
    why = "; ".join(f"{name}: {layers.missing.get(name, '?')}" for name in ("namespaces", "landlock"))
    return REFUSAL.format(why=why)
