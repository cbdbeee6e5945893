"""The seccomp allow-list (autograder/sandbox/seccomp.py): the program, run on a small BPF
interpreter for both machines, and the filter installed in a throwaway interpreter."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox import seccomp

MODULE = Path(seccomp.__file__)
MACHINES = sorted(seccomp.ARCHES)
OWN, OTHER = 4242, 4343
EPERM, ENOSYS = seccomp.RET_ERRNO | errno.EPERM, seccomp.RET_ERRNO | errno.ENOSYS
CONDITIONAL = (*seccomp.SIGNAL_SELF, *seccomp.PID_SELF, *seccomp.PRIORITY_SELF, *seccomp.COMMANDS,
               *seccomp.THREAD_ONLY)
# x86_64's old calls and the form glibc uses for them on aarch64, which has only the new ones.
LEGACY = {"stat": "newfstatat", "lstat": "newfstatat", "mkdir": "mkdirat", "rmdir": "unlinkat",
          "unlink": "unlinkat", "rename": "renameat", "readlink": "readlinkat", "alarm": "setitimer",
          "pause": "ppoll"}
THREAD_FLAGS = 0x003D0F00  # glibc's pthread_create: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|...
FS_IOC_SETFLAGS, TIOCSTI = 0x40086602, 0x5412
F_SETFL, F_SETLK, F_SETOWN, F_SETLEASE, F_NOTIFY = 4, 6, 8, 1024, 1026


def run(program: bytes, number: int, args: tuple[int, ...] = (), arch: int | None = None,
        machine: str = "x86_64") -> int:
    """What the BPF ``program`` returns for system call ``number`` with ``args`` (as the kernel
    would run it: classic BPF, the few instructions the module emits)."""
    arch = seccomp.ARCHES[machine][0] if arch is None else arch
    values = [value & (2**64 - 1) for value in (*args, 0, 0, 0, 0, 0, 0)[:6]]
    data = struct.pack("=iIQ6Q", number, arch, 0, *values)
    accumulator, position = 0, 0
    while True:
        code, jt, jf, k = struct.unpack_from("=HBBI", program, 8 * position)
        position += 1
        if code == seccomp.BPF_RET_K:
            return k
        if code == seccomp.BPF_LD_W_ABS:
            accumulator = struct.unpack_from("=I", data, k)[0]
            continue
        taken = {seccomp.BPF_JEQ_K: accumulator == k, seccomp.BPF_JGE_K: accumulator >= k,
                 seccomp.BPF_JSET_K: bool(accumulator & k)}[code]
        position += jt if taken else jf


def verdict(machine: str, name: str, *args: int) -> int:
    program = seccomp.build_filter(OWN, machine)
    return run(program, seccomp.ARCHES[machine][2][name], args, machine=machine)


# ----------------------------------------------------------------------------- the lists


@pytest.mark.parametrize("machine", MACHINES)
def test_numbers_are_distinct_and_every_named_call_has_one(machine):
    numbers = seccomp.ARCHES[machine][2]
    assert len(set(numbers.values())) == len(numbers)
    named = {*seccomp.ALLOWED, *CONDITIONAL, *seccomp.NOT_IMPLEMENTED, *seccomp.DENIED}
    assert set(numbers) <= named  # no stray entry
    assert all(name in seccomp.X86_64 or name in seccomp.AARCH64 for name in named)


def test_calls_numbered_from_424_on_are_the_same_on_both_machines():
    for name, number in seccomp.X86_64.items():
        if number >= 424:
            assert seccomp.AARCH64[name] == number, name


def test_every_allowed_call_is_listed_for_both_machines():
    """A call aarch64 lacks is one of x86_64's old calls, and its replacement is allowed there."""
    for name in (*seccomp.ALLOWED, *CONDITIONAL, *seccomp.NOT_IMPLEMENTED):
        assert name in seccomp.X86_64, name
        if name not in seccomp.AARCH64:
            assert LEGACY[name] in seccomp.AARCH64 and LEGACY[name] in seccomp.ALLOWED, name
    assert set(seccomp.allowed_names("aarch64")) < set(seccomp.allowed_names("x86_64"))


def test_no_call_is_both_allowed_and_named_as_denied():
    allowed, conditional = set(seccomp.ALLOWED), set(CONDITIONAL)
    for group in (seccomp.METADATA, seccomp.OTHER_PROCESSES, seccomp.SYSTEM):
        assert not (allowed | conditional) & set(group)
    assert not allowed & conditional
    assert len(seccomp.ALLOWED) == len(allowed) and len(seccomp.DENIED) == len(set(seccomp.DENIED))


def _header_numbers(path: Path) -> dict[str, int]:
    """``__NR_name`` numbers of a kernel header (asm-generic's ``__NR3264_`` aliases resolved)."""
    numbers, generic = {}, {}
    for line in path.read_text().splitlines():
        if match := re.match(r"#define __NR3264_(\w+)\s+(\d+)", line):
            generic[match[1]] = int(match[2])
        elif match := re.match(r"#define __NR_(\w+)\s+(\d+)", line):
            numbers.setdefault(match[1], int(match[2]))
        elif (match := re.match(r"#define __NR_(\w+)\s+__NR3264_(\w+)", line)) and match[2] in generic:
            numbers.setdefault(match[1], generic[match[2]])
    return numbers


@pytest.mark.parametrize("machine, header", [
    ("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    ("aarch64", "/usr/include/asm-generic/unistd.h"),
])
def test_numbers_agree_with_the_kernel_headers(machine, header):
    """Where this host has the headers (linux-libc-dev); calls newer than them are checked above."""
    if not Path(header).exists():
        pytest.skip(f"no {header} here")
    known = _header_numbers(Path(header))
    table = seccomp.ARCHES[machine][2]
    checked = {name: number for name, number in table.items() if name in known}
    assert checked == {name: known[name] for name in checked}
    assert len(checked) > 150


# ----------------------------------------------------------------------------- the program


@pytest.mark.parametrize("machine", MACHINES)
def test_the_program_checks_the_architecture_first_and_fits_the_kernel(machine):
    program = seccomp.build_filter(OWN, machine)
    assert struct.unpack_from("=HBBI", program, 0) == (seccomp.BPF_LD_W_ABS, 0, 0, seccomp.ARCH_OFFSET)
    assert run(program, 0, arch=0x40000003) == seccomp.RET_KILL_PROCESS  # i386 on x86_64: foreign
    assert run(program, 0, arch=seccomp.ARCHES[machine][0] ^ 1) == seccomp.RET_KILL_PROCESS
    assert len(program) % 8 == 0 and len(program) // 8 < seccomp.MAX_INSTRUCTIONS


@pytest.mark.parametrize("machine", MACHINES)
def test_allowed_calls_pass_and_everything_else_fails_with_eperm(machine):
    program, numbers = seccomp.build_filter(OWN, machine), seccomp.ARCHES[machine][2]
    for name in seccomp.ALLOWED:
        if name in numbers:
            assert run(program, numbers[name], machine=machine) == seccomp.RET_ALLOW, name
    for name in seccomp.DENIED:
        if name in numbers:
            assert run(program, numbers[name], machine=machine) == EPERM, name
    allowed = {numbers[name] for name in seccomp.allowed_names(machine)}
    for number in set(range(1000)) - allowed - {numbers["clone3"]}:
        assert run(program, number, (0, 0), machine=machine) == EPERM, number
    assert run(program, numbers["clone3"], machine=machine) == ENOSYS
    assert run(program, -1, machine=machine) == EPERM


def test_x32_numbers_fail_on_x86_64():
    program = seccomp.build_filter(OWN, "x86_64")
    assert run(program, seccomp.X32_SYSCALL_BIT | seccomp.X86_64["read"]) == EPERM
    assert run(program, seccomp.X32_SYSCALL_BIT | seccomp.X86_64["kill"], (OWN, 0)) == EPERM


@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("name", seccomp.SIGNAL_SELF)
def test_signals_reach_only_the_process_itself(machine, name):
    assert verdict(machine, name, OWN, 0) == seccomp.RET_ALLOW
    for target in (OTHER, 0, -1, -OWN, 1, OWN | 1 << 32, OWN - 2**32):
        assert verdict(machine, name, target, 0) == EPERM, target


@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("name", seccomp.PID_SELF)
def test_limits_and_scheduling_information_only_of_the_process_itself(machine, name):
    for target in (0, OWN):
        assert verdict(machine, name, target) == seccomp.RET_ALLOW
    for target in (OTHER, 1, -1, OWN | 1 << 32, 1 << 32):
        assert verdict(machine, name, target) == EPERM, target


@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("name", seccomp.PRIORITY_SELF)
def test_priorities_only_of_the_process_itself(machine, name):
    prio_process, prio_pgrp, prio_user = 0, 1, 2
    for who in (0, OWN):
        assert verdict(machine, name, prio_process, who) == seccomp.RET_ALLOW
    for which, who in ((prio_process, OTHER), (prio_process, OWN | 1 << 32), (prio_pgrp, 0),
                       (prio_user, 0), (prio_user, OWN)):
        assert verdict(machine, name, which, who) == EPERM, (which, who)


@pytest.mark.parametrize("machine", MACHINES)
def test_clone_only_makes_threads(machine):
    sigchld, new_user = 17, 0x10000000
    assert verdict(machine, "clone", THREAD_FLAGS) == seccomp.RET_ALLOW
    for flags in (sigchld, 0, THREAD_FLAGS & ~seccomp.CLONE_THREAD, THREAD_FLAGS | new_user,
                  THREAD_FLAGS | 0x40000000):
        assert verdict(machine, "clone", flags) == EPERM, hex(flags)


@pytest.mark.parametrize("machine", MACHINES)
def test_ioctl_and_fcntl_only_for_the_commands_honest_work_uses(machine):
    for command in (seccomp.TCGETS, seccomp.FIOCLEX, seccomp.FIONCLEX):
        assert verdict(machine, "ioctl", 3, command) == seccomp.RET_ALLOW
    for command in (FS_IOC_SETFLAGS, TIOCSTI, 0):
        assert verdict(machine, "ioctl", 3, command) == EPERM
    for command in (seccomp.F_GETFD, seccomp.F_SETFD, seccomp.F_GETFL, seccomp.F_DUPFD_CLOEXEC):
        assert verdict(machine, "fcntl", 3, command) == seccomp.RET_ALLOW
    for command in (F_SETFL, F_SETLK, F_SETOWN, F_SETLEASE, F_NOTIFY):
        assert verdict(machine, "fcntl", 3, command) == EPERM


@pytest.mark.parametrize("machine", MACHINES)
def test_the_own_pid_is_compared_once_per_call_that_names_a_process(machine):
    program = seccomp.build_filter(own_pid=987654, machine=machine)
    constants = [struct.unpack_from("=HBBI", program, i)[3] for i in range(0, len(program), 8)]
    assert constants.count(987654) == len(seccomp.SIGNAL_SELF + seccomp.PID_SELF + seccomp.PRIORITY_SELF)


def test_the_module_needs_only_the_standard_library():
    """It is copied into the sandbox, where nothing of the kit can be imported."""
    source = MODULE.read_text()
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from ")) and "__future__" not in line}
    assert imports <= set(sys.stdlib_module_names)


# ----------------------------------------------------------------------------- installed

INSTALLED = r"""
import ctypes, errno, json, os, resource, signal, socket, subprocess, sys, threading
sys.path.insert(0, sys.argv[1])
import numpy as np
import seccomp

scratch, bystander = sys.argv[2], int(sys.argv[3])
victim = os.path.join(scratch, "victim.txt")
numbers = seccomp.ARCHES[os.uname().machine][2]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
seccomp.install()


def attempt(action):
    try:
        action()
        return 0
    except OSError as error:
        return error.errno


def raw(name, *args):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(numbers[name]), *(ctypes.c_long(a) for a in args))
    return ctypes.get_errno() if result == -1 else 0


def honest_imports():
    import csv, decimal, fractions, gzip, statistics
    return float(statistics.mean([1, 2, 3])) + float(fractions.Fraction(1, 2))


def honest_numpy():
    rng = np.random.default_rng(5)
    a = rng.random((120, 80))
    return float((a @ a.T).trace()) > 0 and abs(float(np.linalg.det(np.eye(4) * 2)) - 16.0) < 1e-9


def honest_thread():
    out = []
    thread = threading.Thread(target=lambda: out.append(sum(range(10))))
    thread.start()
    thread.join()
    return out == [45]


def honest_files():
    folder = os.path.join(scratch, "work")
    os.mkdir(folder)
    path = os.path.join(folder, "notes.txt")
    with open(path, "w") as handle:
        handle.write("loss 0.5\n")
    with open(path) as handle:
        text = handle.read()
    os.rename(path, path + ".old")
    os.unlink(path + ".old")
    os.rmdir(folder)
    return text == "loss 0.5\n" and not os.path.exists(folder)


def honest_signal():
    got = []
    signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
    os.kill(os.getpid(), signal.SIGUSR1)
    signal.raise_signal(signal.SIGUSR1)
    return got == [1, 1]


def honest_self():
    resource.prlimit(os.getpid(), resource.RLIMIT_NOFILE)
    resource.getrlimit(resource.RLIMIT_AS)
    os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0))
    return len(os.sched_getaffinity(0)) >= 1 and not os.isatty(1) and len(os.urandom(16)) == 16


honest = {}
for name, action in [("imports", honest_imports), ("numpy", honest_numpy), ("thread", honest_thread),
                     ("files", honest_files), ("signal", honest_signal), ("self", honest_self),
                     ("sleep", lambda: __import__("time").sleep(0.01) is None)]:
    try:
        honest[name] = bool(action())
    except BaseException as error:
        honest[name] = f"{type(error).__name__}: {error}"

ioprio_idle = 3 << 13
denied = {
    "chmod": attempt(lambda: os.chmod(victim, 0o4777)),
    "fchmod": attempt(lambda: os.fchmod(os.open(victim, os.O_RDONLY), 0o4777)),
    "chown": attempt(lambda: os.chown(victim, os.getuid(), os.getgid())),
    "utime": attempt(lambda: os.utime(victim, (0, 0))),
    "setxattr": attempt(lambda: os.setxattr(victim, "user.payload", b"import os")),
    "getxattr": attempt(lambda: os.getxattr(victim, "user.payload")),
    "listxattr": attempt(lambda: os.listxattr(victim)),
    "removexattr": attempt(lambda: os.removexattr(victim, "user.payload")),
    "link": attempt(lambda: os.link(victim, victim + ".link")),
    "symlink": attempt(lambda: os.symlink(victim, victim + ".symlink")),
    "mknod": attempt(lambda: os.mkfifo(victim + ".fifo")),
    "inotify": raw("inotify_init1", 0),
    "ioctl_setflags": raw("ioctl", os.open(victim, os.O_RDONLY), 0x40086602, 0),
    "fcntl_setown": raw("fcntl", os.open(victim, os.O_RDONLY), 8, os.getppid()),
    "prlimit_other": attempt(lambda: resource.prlimit(bystander, resource.RLIMIT_NOFILE, (17, 17))),
    "read_limits_other": attempt(lambda: resource.prlimit(bystander, resource.RLIMIT_NOFILE)),
    "setpriority_other": attempt(lambda: os.setpriority(os.PRIO_PROCESS, bystander, 19)),
    "setaffinity_other": attempt(lambda: os.sched_setaffinity(bystander, {0})),
    "setaffinity_self": attempt(lambda: os.sched_setaffinity(0, os.sched_getaffinity(0))),
    "ioprio_other": raw("ioprio_set", 1, bystander, ioprio_idle),
    "kill_other": attempt(lambda: os.kill(bystander, signal.SIGKILL)),
    "kill_parent": attempt(lambda: os.kill(os.getppid(), 0)),
    "kill_everyone": attempt(lambda: os.kill(-1, 0)),
    "kill_self_high_word": raw("kill", os.getpid() | 1 << 32, 0),
    "fork": attempt(os.fork),
    "spawn": attempt(lambda: subprocess.run(["/bin/true"])),
    "exec": attempt(lambda: os.execv("/bin/true", ["true"])),
    "socket": attempt(socket.socket),
    "unshare": raw("unshare", 0),
    "getpgid": attempt(lambda: os.getpgid(0)),
    "reboot": raw("reboot", 0, 0, 0, 0),
    "swapon": raw("swapon", 0, 0),
    "add_key": raw("add_key", 0, 0, 0, 0, 0),
}
print(json.dumps({"honest": honest, "denied": denied, "clone3": raw("clone3", 0, 0)}))
"""


def _limits(pid: int) -> str:
    return Path(f"/proc/{pid}/limits").read_text()


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _affinity(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return re.search(r"Cpus_allowed_list:\s*(\S+)", status)[1]


def _ioprio(pid: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    number = seccomp.ARCHES[os.uname().machine][2]["ioprio_get"]
    return libc.syscall(number, 1, pid)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Run INSTALLED once, beside a bystander process; its report and what became of the
    bystander and the victim file."""
    if not seccomp.supported():
        pytest.skip("seccomp filters are for Linux on x86-64 or AArch64")
    folder = tmp_path_factory.mktemp("seccomp")
    (folder / "seccomp.py").write_bytes(MODULE.read_bytes())
    victim = folder / "victim.txt"
    victim.write_text("grader's file\n")
    victim.chmod(0o644)
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        probes = (_limits, _nice, _affinity, _ioprio)
        before = [probe(bystander.pid) for probe in probes]
        stat_before = victim.stat()
        process = subprocess.run([sys.executable, "-I", "-B", "-c", INSTALLED, str(folder), str(folder),
                                  str(bystander.pid)], capture_output=True, text=True, timeout=120)
        after = [probe(bystander.pid) for probe in probes]
        alive = bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout)
    report.update(bystander_before=before, bystander_after=after, bystander_alive=alive,
                  stat_before=stat_before, stat_after=victim.stat(), folder=folder)
    return report


def test_installed_filter_leaves_honest_work_alone(installed):
    assert installed["honest"] == dict.fromkeys(
        ["imports", "numpy", "thread", "files", "signal", "self", "sleep"], True)


def test_installed_filter_denies_every_other_class_with_eperm(installed):
    assert installed["denied"] == dict.fromkeys(installed["denied"], errno.EPERM)
    assert installed["clone3"] == errno.ENOSYS  # so that glibc falls back to clone


def test_another_process_keeps_its_limits_priority_affinity_and_life(installed):
    assert installed["bystander_alive"]
    assert installed["bystander_after"] == installed["bystander_before"]


def test_the_file_keeps_its_mode_owner_times_and_attributes(installed):
    before, after, folder = installed["stat_before"], installed["stat_after"], installed["folder"]
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns, after.st_nlink) == (
        before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns, before.st_nlink)
    try:
        assert os.listxattr(folder / "victim.txt") == []
    except OSError as error:
        assert error.errno == errno.ENOTSUP  # a file system without extended attributes
    assert sorted(path.name for path in folder.iterdir()) == ["seccomp.py", "victim.txt"]
