"""A seccomp-BPF filter that leaves student code no way out of its own process.

Installed by the worker itself, after it has started and before it runs any student
cell (so the interpreter could still be executed): from then on the process may not
create processes (threads stay allowed), execute programs, signal anything but itself,
trace or read other processes, use System V or POSIX message IPC, open sockets, or
change its namespaces, mounts or privileges. A denied call fails with ``EPERM`` (or
``ENOSYS`` for ``clone3``, so that threads fall back to ``clone``, which is checked).

This module uses only the standard library: it is copied into each sandbox beside the
worker. The filter is a short list of BPF instructions built here, with no library.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
NR_OFFSET, ARCH_OFFSET, ARGS_OFFSET = 0, 4, 16
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
CLONE_THREAD = 0x00010000
X32_SYSCALL_BIT = 0x40000000
PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1

# Per architecture: the audit arch, the seccomp syscall, and the numbers used below.
ARCHES = {
    "x86_64": (
        0xC000003E,
        317,
        {
            "clone": 56,
            "clone3": 435,
            "fork": 57,
            "vfork": 58,
            "execve": 59,
            "execveat": 322,
            "kill": 62,
            "tkill": 200,
            "tgkill": 234,
            "rt_sigqueueinfo": 129,
            "rt_tgsigqueueinfo": 297,
            "pidfd_open": 434,
            "pidfd_send_signal": 424,
            "pidfd_getfd": 438,
            "ptrace": 101,
            "process_vm_readv": 310,
            "process_vm_writev": 311,
            "kcmp": 312,
            "process_madvise": 440,
            "shmget": 29,
            "shmat": 30,
            "shmctl": 31,
            "shmdt": 67,
            "semget": 64,
            "semop": 65,
            "semctl": 66,
            "semtimedop": 220,
            "msgget": 68,
            "msgsnd": 69,
            "msgrcv": 70,
            "msgctl": 71,
            "mq_open": 240,
            "mq_unlink": 241,
            "mq_timedsend": 242,
            "mq_timedreceive": 243,
            "mq_notify": 244,
            "mq_getsetattr": 245,
            "socket": 41,
            "socketpair": 53,
            "unshare": 272,
            "setns": 308,
            "mount": 165,
            "umount2": 166,
            "pivot_root": 155,
            "chroot": 161,
            "keyctl": 250,
            "add_key": 248,
            "request_key": 249,
            "bpf": 321,
            "perf_event_open": 298,
            "userfaultfd": 323,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "open_by_handle_at": 304,
            "name_to_handle_at": 303,
            "mknod": 133,
            "mknodat": 259,
            "fsopen": 430,
            "fsmount": 432,
            "move_mount": 429,
            "open_tree": 428,
            "mount_setattr": 442,
            "setsid": 112,
            "setpgid": 109,
            "setuid": 105,
            "setgid": 106,
            "setreuid": 113,
            "setregid": 114,
            "setresuid": 117,
            "setresgid": 119,
            "setgroups": 116,
        },
    ),
    "aarch64": (
        0xC00000B7,
        277,
        {
            "clone": 220,
            "clone3": 435,
            "execve": 221,
            "execveat": 281,
            "kill": 129,
            "tkill": 130,
            "tgkill": 131,
            "rt_sigqueueinfo": 138,
            "rt_tgsigqueueinfo": 240,
            "pidfd_open": 434,
            "pidfd_send_signal": 424,
            "pidfd_getfd": 438,
            "ptrace": 117,
            "process_vm_readv": 270,
            "process_vm_writev": 271,
            "kcmp": 272,
            "process_madvise": 440,
            "shmget": 194,
            "shmat": 196,
            "shmctl": 195,
            "shmdt": 197,
            "semget": 190,
            "semop": 193,
            "semctl": 191,
            "semtimedop": 192,
            "msgget": 186,
            "msgsnd": 189,
            "msgrcv": 188,
            "msgctl": 187,
            "mq_open": 180,
            "mq_unlink": 181,
            "mq_timedsend": 182,
            "mq_timedreceive": 183,
            "mq_notify": 184,
            "mq_getsetattr": 185,
            "socket": 198,
            "socketpair": 199,
            "unshare": 97,
            "setns": 268,
            "mount": 40,
            "umount2": 39,
            "pivot_root": 41,
            "chroot": 51,
            "keyctl": 219,
            "add_key": 217,
            "request_key": 218,
            "bpf": 280,
            "perf_event_open": 241,
            "userfaultfd": 282,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "open_by_handle_at": 265,
            "name_to_handle_at": 264,
            "mknodat": 33,
            "fsopen": 430,
            "fsmount": 432,
            "move_mount": 429,
            "open_tree": 428,
            "mount_setattr": 442,
            "setsid": 157,
            "setpgid": 154,
            "setuid": 146,
            "setgid": 144,
            "setreuid": 145,
            "setregid": 143,
            "setresuid": 147,
            "setresgid": 149,
            "setgroups": 159,
        },
    ),
}
# Calls allowed only when their first argument is this process's own id.
SIGNAL_SELF = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
DENIED = tuple(sorted(set(ARCHES["x86_64"][2]) - {"clone", "clone3", *SIGNAL_SELF}))


class SeccompError(OSError):
    """The filter could not be installed."""


def supported() -> bool:
    """Whether this machine's architecture has a filter here (Linux on x86-64 or AArch64)."""
    return os.uname().sysname == "Linux" and platform.machine() in ARCHES


def instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    """One ``struct sock_filter``: u16 code, u8 jt, u8 jf, u32 k."""
    return struct.pack("=HBBI", code, jt, jf, k)


def build_filter(own_pid: int, machine: str | None = None) -> bytes:
    """The BPF program for ``machine`` (default: this one) in a process whose id is ``own_pid``."""
    arch, _, numbers = ARCHES[machine or platform.machine()]
    deny = RET_ERRNO | errno.EPERM
    program = [
        instruction(BPF_LD_W_ABS, ARCH_OFFSET),
        instruction(BPF_JEQ_K, arch, 1, 0),
        instruction(BPF_RET_K, RET_KILL_PROCESS),
        instruction(BPF_LD_W_ABS, NR_OFFSET),
    ]
    if arch == ARCHES["x86_64"][0]:  # the x32 ABI's numbers reach the same kernel code
        program += [instruction(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1), instruction(BPF_RET_K, deny)]
    for name in DENIED:
        if name in numbers:
            program += [instruction(BPF_JEQ_K, numbers[name], 0, 1), instruction(BPF_RET_K, deny)]
    program += [
        instruction(BPF_JEQ_K, numbers["clone3"], 0, 1),
        instruction(BPF_RET_K, RET_ERRNO | errno.ENOSYS),
    ]
    # clone: allowed only for a thread (flags, argument 0, include CLONE_THREAD).
    program += [
        instruction(BPF_JEQ_K, numbers["clone"], 0, 4),
        instruction(BPF_LD_W_ABS, ARGS_OFFSET),
        instruction(BPF_JSET_K, CLONE_THREAD, 0, 1),
        instruction(BPF_RET_K, RET_ALLOW),
        instruction(BPF_RET_K, deny),
    ]
    for name in SIGNAL_SELF:  # argument 0 (a pid_t: its low 32 bits) must be this process
        program += [
            instruction(BPF_JEQ_K, numbers[name], 0, 4),
            instruction(BPF_LD_W_ABS, ARGS_OFFSET),
            instruction(BPF_JEQ_K, own_pid & 0xFFFFFFFF, 0, 1),
            instruction(BPF_RET_K, RET_ALLOW),
            instruction(BPF_RET_K, deny),
        ]
    program.append(instruction(BPF_RET_K, RET_ALLOW))
    return b"".join(program)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Install the filter on this process and all its threads, for good."""
    if not supported():
        raise SeccompError(errno.ENOSYS, f"no seccomp filter for {platform.machine()}")
    program = build_filter(os.getpid())
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    number = ARCHES[platform.machine()][1]
    result = libc.syscall(number, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(fprog))
    if result != 0:
        error = ctypes.get_errno() or errno.EINVAL
        raise SeccompError(error, f"seccomp(SET_MODE_FILTER) failed: {os.strerror(error)}")
