"""A seccomp-BPF allow-list: the student process may make the system calls honest work needs, and
no other.

Installed by the worker itself, after it has started and before it runs any student cell (so
the interpreter could still be executed). The list was traced from honest work (the worker,
CPython, NumPy and its BLAS, ordinary student code: ``bench/trace_syscalls.py``); why each call
is on it is in ``docs/syscalls.md``. Calls that can name another process are allowed only on
this one (signals, resource limits, priorities, scheduling information), ``clone`` only for a
thread, ``ioctl`` and ``fcntl`` only for the few commands honest work uses. Every other call
fails with ``EPERM``: among them everything that changes or reads a file's mode, owner, times
or extended attributes, makes links or device nodes, or watches files, which the file layers
do not cover. ``clone3`` fails with ``ENOSYS``, so that glibc falls back to ``clone``, whose
flags a filter can read.

This module uses only the standard library: it is copied into each sandbox beside the worker.
The filter is a list of BPF instructions built here, with no library.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]. Both supported
# machines are little-endian: an argument's low 32 bits come first.
NR_OFFSET, ARCH_OFFSET, ARGS_OFFSET = 0, 4, 16
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
MAX_INSTRUCTIONS = 4096  # the kernel's limit (BPF_MAXINSNS)
CLONE_THREAD = 0x00010000
# CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
X32_SYSCALL_BIT = 0x40000000
PR_SET_NO_NEW_PRIVS, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 38, 1, 1
PRIO_PROCESS = 0
# The same values on both machines (the generic ioctl and fcntl numbers).
TCGETS, FIONCLEX, FIOCLEX = 0x5401, 0x5450, 0x5451
F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC = 1, 2, 3, 1030

# System call numbers of every call this module names, per machine (a call a machine does not
# have is missing from its table). x86_64: arch/x86/entry/syscalls/syscall_64.tbl; aarch64: the
# generic table (include/uapi/asm-generic/unistd.h). Numbers from 424 on are the same everywhere.
X86_64 = {
    "read": 0, "write": 1, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "lseek": 8, "mmap": 9,
    "mprotect": 10, "munmap": 11, "brk": 12, "rt_sigaction": 13, "rt_sigprocmask": 14,
    "rt_sigreturn": 15, "ioctl": 16, "pread64": 17, "mremap": 25, "msync": 26, "madvise": 28,
    "shmget": 29, "shmat": 30, "shmctl": 31, "pause": 34, "getitimer": 36, "alarm": 37,
    "setitimer": 38, "getpid": 39, "sendfile": 40, "socket": 41, "connect": 42, "socketpair": 53,
    "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "exit": 60, "wait4": 61, "kill": 62,
    "uname": 63, "semget": 64, "semop": 65, "semctl": 66, "shmdt": 67, "msgget": 68, "msgsnd": 69,
    "msgrcv": 70, "msgctl": 71, "fcntl": 72, "flock": 73, "ftruncate": 77, "getcwd": 79,
    "chdir": 80, "rename": 82, "mkdir": 83, "rmdir": 84, "link": 86, "unlink": 87, "symlink": 88,
    "readlink": 89, "chmod": 90, "fchmod": 91, "chown": 92, "fchown": 93, "lchown": 94,
    "getrusage": 98, "times": 100, "ptrace": 101, "getuid": 102, "syslog": 103, "getgid": 104,
    "setuid": 105, "setgid": 106, "geteuid": 107, "getegid": 108, "setpgid": 109, "getppid": 110,
    "setsid": 112, "setreuid": 113, "setregid": 114, "getgroups": 115, "setgroups": 116,
    "setresuid": 117, "getresuid": 118, "setresgid": 119, "getresgid": 120, "getpgid": 121,
    "getsid": 124, "capset": 126, "rt_sigpending": 127, "rt_sigqueueinfo": 129, "sigaltstack": 131,
    "utime": 132, "mknod": 133, "getpriority": 140, "setpriority": 141, "sched_setparam": 142,
    "sched_getparam": 143, "sched_setscheduler": 144, "sched_getscheduler": 145, "pivot_root": 155,
    "prctl": 157, "arch_prctl": 158, "chroot": 161, "acct": 163, "settimeofday": 164, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
    "setdomainname": 171, "init_module": 175, "delete_module": 176, "quotactl": 179, "gettid": 186,
    "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190, "getxattr": 191, "lgetxattr": 192,
    "fgetxattr": 193, "listxattr": 194, "llistxattr": 195, "flistxattr": 196, "removexattr": 197,
    "lremovexattr": 198, "fremovexattr": 199, "tkill": 200, "futex": 202, "sched_setaffinity": 203,
    "sched_getaffinity": 204, "getdents64": 217, "restart_syscall": 219, "semtimedop": 220,
    "clock_settime": 227, "clock_gettime": 228, "clock_nanosleep": 230, "exit_group": 231,
    "tgkill": 234, "utimes": 235, "mbind": 237, "mq_open": 240, "mq_unlink": 241,
    "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245,
    "kexec_load": 246, "waitid": 247, "add_key": 248, "request_key": 249, "keyctl": 250,
    "ioprio_set": 251, "ioprio_get": 252, "inotify_init": 253, "inotify_add_watch": 254,
    "inotify_rm_watch": 255, "migrate_pages": 256, "openat": 257, "mkdirat": 258, "mknodat": 259,
    "fchownat": 260, "futimesat": 261, "newfstatat": 262, "unlinkat": 263, "renameat": 264,
    "linkat": 265, "symlinkat": 266, "readlinkat": 267, "fchmodat": 268, "ppoll": 271,
    "unshare": 272, "set_robust_list": 273, "get_robust_list": 274, "move_pages": 279,
    "utimensat": 280, "epoll_create1": 291, "pipe2": 293, "inotify_init1": 294,
    "rt_tgsigqueueinfo": 297, "perf_event_open": 298, "fanotify_init": 300, "fanotify_mark": 301,
    "prlimit64": 302, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313,
    "sched_setattr": 314, "sched_getattr": 315, "seccomp": 317, "getrandom": 318, "bpf": 321,
    "execveat": 322, "userfaultfd": 323, "rseq": 334, "pidfd_send_signal": 424,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
    "move_mount": 429, "fsopen": 430, "fsmount": 432, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "process_mrelease": 448,
    "fchmodat2": 452, "setxattrat": 463, "getxattrat": 464, "listxattrat": 465,
    "removexattrat": 466, "file_getattr": 468, "file_setattr": 469,
}
AARCH64 = {
    "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "getxattr": 8, "lgetxattr": 9, "fgetxattr": 10,
    "listxattr": 11, "llistxattr": 12, "flistxattr": 13, "removexattr": 14, "lremovexattr": 15,
    "fremovexattr": 16, "getcwd": 17, "epoll_create1": 20, "fcntl": 25, "inotify_init1": 26,
    "inotify_add_watch": 27, "inotify_rm_watch": 28, "ioctl": 29, "ioprio_set": 30,
    "ioprio_get": 31, "flock": 32, "mknodat": 33, "mkdirat": 34, "unlinkat": 35, "symlinkat": 36,
    "linkat": 37, "renameat": 38, "umount2": 39, "mount": 40, "pivot_root": 41, "ftruncate": 46,
    "chdir": 49, "chroot": 51, "fchmod": 52, "fchmodat": 53, "fchownat": 54, "fchown": 55,
    "openat": 56, "close": 57, "pipe2": 59, "quotactl": 60, "getdents64": 61, "lseek": 62,
    "read": 63, "write": 64, "pread64": 67, "sendfile": 71, "ppoll": 73, "readlinkat": 78,
    "newfstatat": 79, "fstat": 80, "utimensat": 88, "acct": 89, "capset": 91, "exit": 93,
    "exit_group": 94, "waitid": 95, "unshare": 97, "futex": 98, "set_robust_list": 99,
    "get_robust_list": 100, "getitimer": 102, "setitimer": 103, "kexec_load": 104,
    "init_module": 105, "delete_module": 106, "clock_settime": 112, "clock_gettime": 113,
    "clock_nanosleep": 115, "syslog": 116, "ptrace": 117, "sched_setparam": 118,
    "sched_setscheduler": 119, "sched_getscheduler": 120, "sched_getparam": 121,
    "sched_setaffinity": 122, "sched_getaffinity": 123, "restart_syscall": 128, "kill": 129,
    "tkill": 130, "tgkill": 131, "sigaltstack": 132, "rt_sigaction": 134, "rt_sigprocmask": 135,
    "rt_sigpending": 136, "rt_sigqueueinfo": 138, "rt_sigreturn": 139, "setpriority": 140,
    "getpriority": 141, "reboot": 142, "setregid": 143, "setgid": 144, "setreuid": 145,
    "setuid": 146, "setresuid": 147, "getresuid": 148, "setresgid": 149, "getresgid": 150,
    "times": 153, "setpgid": 154, "getpgid": 155, "getsid": 156, "setsid": 157, "getgroups": 158,
    "setgroups": 159, "uname": 160, "sethostname": 161, "setdomainname": 162, "getrusage": 165,
    "prctl": 167, "settimeofday": 170, "getpid": 172, "getppid": 173, "getuid": 174, "geteuid": 175,
    "getgid": 176, "getegid": 177, "gettid": 178, "mq_open": 180, "mq_unlink": 181,
    "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185,
    "msgget": 186, "msgctl": 187, "msgrcv": 188, "msgsnd": 189, "semget": 190, "semctl": 191,
    "semtimedop": 192, "semop": 193, "shmget": 194, "shmctl": 195, "shmat": 196, "shmdt": 197,
    "socket": 198, "socketpair": 199, "connect": 203, "brk": 214, "munmap": 215, "mremap": 216,
    "add_key": 217, "request_key": 218, "keyctl": 219, "clone": 220, "execve": 221, "mmap": 222,
    "swapon": 224, "swapoff": 225, "mprotect": 226, "msync": 227, "madvise": 233, "mbind": 235,
    "migrate_pages": 238, "move_pages": 239, "rt_tgsigqueueinfo": 240, "perf_event_open": 241,
    "wait4": 260, "prlimit64": 261, "fanotify_init": 262, "fanotify_mark": 263,
    "name_to_handle_at": 264, "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
    "process_vm_writev": 271, "kcmp": 272, "finit_module": 273, "sched_setattr": 274,
    "sched_getattr": 275, "seccomp": 277, "getrandom": 278, "bpf": 280, "execveat": 281,
    "userfaultfd": 282, "rseq": 293, "pidfd_send_signal": 424, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsmount": 432, "pidfd_open": 434, "clone3": 435, "pidfd_getfd": 438,
    "process_madvise": 440, "mount_setattr": 442, "process_mrelease": 448, "fchmodat2": 452,
    "setxattrat": 463, "getxattrat": 464, "listxattrat": 465, "removexattrat": 466,
    "file_getattr": 468, "file_setattr": 469,
}
# machine -> (its AUDIT_ARCH_* value, the number of seccomp(2), its table)
ARCHES = {"x86_64": (0xC000003E, 317, X86_64), "aarch64": (0xC00000B7, 277, AARCH64)}

# Allowed whatever their arguments, grouped as in docs/syscalls.md. A name a machine lacks is
# skipped there; where x86_64 has an old call (mkdir) and aarch64 only its *at form (mkdirat),
# both forms are listed, as glibc calls whichever the machine has.
ALLOWED = (
    # memory: CPython's allocator, glibc's malloc, NumPy's arrays, thread stacks, the loader
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mbind", "msync",
    # files: imports, the wire pipes, printing, the scratch folder (the file layers decide where)
    "read", "write", "pread64", "openat", "close", "lseek", "newfstatat", "fstat", "stat", "lstat",
    "getdents64", "getcwd", "chdir", "ftruncate", "sendfile", "pipe2", "epoll_create1",
    "readlink", "readlinkat", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
    "renameat",
    # threads: glibc's pthread_create and the futexes every lock and condition waits on
    "futex", "set_robust_list", "rseq", "gettid", "exit", "exit_group",
    # signals, timers and time
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "sigaltstack",
    "restart_syscall", "alarm", "setitimer", "getitimer", "pause", "ppoll", "clock_gettime",
    "clock_nanosleep", "times", "getrusage",
    # this process's own identity and its machine
    "getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid",
    "getresgid", "uname", "getrandom",
)
# Allowed only towards this process: argument 0 (a pid) must be its own id ...
SIGNAL_SELF = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# ... or its own id or 0 (which means "this process").
PID_SELF = ("prlimit64", "sched_getaffinity", "sched_getparam", "sched_getscheduler")
# ... with argument 0 PRIO_PROCESS and argument 1 its own id or 0.
PRIORITY_SELF = ("getpriority", "setpriority")
# Allowed for these commands (argument 1) only.
COMMANDS = {
    "ioctl": (TCGETS, FIOCLEX, FIONCLEX),  # isatty(); CPython's set_inheritable
    "fcntl": (F_GETFD, F_SETFD, F_GETFL, F_DUPFD_CLOEXEC),  # CPython's file and fd handling
}
THREAD_ONLY = ("clone",)  # flags (argument 0) with CLONE_THREAD and no new namespace
NOT_IMPLEMENTED = ("clone3",)  # ENOSYS: its flags sit in memory, out of a filter's reach

# Named denials (every call not allowed above is denied; these are the ones that matter).
# File metadata and watches, which Landlock does not cover: mode, owner, times, extended
# attributes and inode flags, links and device nodes, inotify/fanotify, file handles.
METADATA = (
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "fchownat", "lchown", "utime",
    "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "getxattr",
    "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
    "lremovexattr", "fremovexattr", "setxattrat", "getxattrat", "listxattrat", "removexattrat",
    "file_getattr", "file_setattr", "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_init",
    "fanotify_mark", "name_to_handle_at", "open_by_handle_at",
)
# Calls that create, run, trace, read, signal, re-prioritize or block other processes (or this
# one, beyond the conditions above; flock: a lock on a shared file stalls whoever else locks it).
OTHER_PROCESSES = (
    "fork", "vfork", "execve", "execveat", "wait4", "waitid", "ptrace", "process_vm_readv",
    "process_vm_writev", "process_madvise", "process_mrelease", "pidfd_open", "pidfd_send_signal",
    "pidfd_getfd", "kcmp", "migrate_pages", "move_pages", "get_robust_list", "sched_setaffinity",
    "sched_setscheduler", "sched_setparam", "sched_setattr", "sched_getattr", "ioprio_set",
    "ioprio_get", "setpgid", "setsid", "getpgid", "getsid", "prctl", "flock",
)
# The rest of the system: IPC, sockets, namespaces, mounts, identity, keys, the kernel itself.
SYSTEM = (
    "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl", "semtimedop", "msgget",
    "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr", "socket", "socketpair", "connect", "unshare", "setns", "mount",
    "umount2", "pivot_root", "chroot", "fsopen", "fsmount", "move_mount", "open_tree",
    "mount_setattr", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setgroups", "capset", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "seccomp",
    "arch_prctl", "swapon", "swapoff", "reboot", "sethostname", "setdomainname", "init_module",
    "finit_module", "delete_module", "kexec_load", "acct", "settimeofday", "clock_settime",
    "syslog", "quotactl",
)
DENIED = METADATA + OTHER_PROCESSES + SYSTEM

# One instruction of an argument check: (code, k, where to go if true, if false), each target
# "allow", "deny" or None (the next instruction).
Check = tuple[int, int, str | None, str | None]


class SeccompError(OSError):
    """The filter could not be installed."""


def supported() -> bool:
    """Whether this machine's architecture has a filter here (Linux on x86-64 or AArch64)."""
    return os.uname().sysname == "Linux" and platform.machine() in ARCHES


def allowed_names(machine: str | None = None) -> tuple[str, ...]:
    """Every call the filter lets through on ``machine`` (default: this one), with or without
    conditions on its arguments."""
    numbers = ARCHES[machine or platform.machine()][2]
    conditional = (*SIGNAL_SELF, *PID_SELF, *PRIORITY_SELF, *COMMANDS, *THREAD_ONLY)
    return tuple(name for name in (*ALLOWED, *conditional) if name in numbers)


def instruction(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    """One ``struct sock_filter``: u16 code, u8 jt, u8 jf, u32 k."""
    return struct.pack("=HBBI", code, jt, jf, k)


def _low(index: int) -> Check:
    """Load the low 32 bits of argument ``index``."""
    return (BPF_LD_W_ABS, ARGS_OFFSET + 8 * index, None, None)


def _high(index: int) -> Check:
    """Load the high 32 bits of argument ``index``."""
    return (BPF_LD_W_ABS, ARGS_OFFSET + 8 * index + 4, None, None)


def _block(number: int, checks: list[Check], deny: int) -> list[bytes]:
    """The instructions for one call with conditions on its arguments.

    The block is entered only for ``number`` and ends in its own two returns ("allow", "deny"),
    so no jump leaves it and none is longer than the block.
    """
    body = [*checks, (BPF_RET_K, RET_ALLOW, None, None), (BPF_RET_K, deny, None, None)]
    where = {"allow": len(body) - 2, "deny": len(body) - 1}
    code = []
    for position, (op, k, true, false) in enumerate(body):
        jt = where[true] - position - 1 if true else 0
        jf = where[false] - position - 1 if false else 0
        code.append(instruction(op, k, jt, jf))
    return [instruction(BPF_JEQ_K, number, 0, len(code)), *code]


def _own_pid(index: int, own_pid: int, zero_too: bool) -> list[Check]:
    """Argument ``index`` is this process's id (or 0, if ``zero_too``). A pid_t is 32 bits and the
    kernel reads only those, but the high half must be 0 too: honest callers pass it so."""
    checks = [_high(index), (BPF_JEQ_K, 0, None, "deny"), _low(index)]
    if zero_too:
        checks.append((BPF_JEQ_K, 0, "allow", None))
    return [*checks, (BPF_JEQ_K, own_pid & 0xFFFFFFFF, "allow", "deny")]


def _conditions(name: str, own_pid: int) -> list[Check]:
    """The argument checks of a call allowed only with some arguments."""
    if name in SIGNAL_SELF:
        return _own_pid(0, own_pid, zero_too=False)
    if name in PID_SELF:
        return _own_pid(0, own_pid, zero_too=True)
    if name in PRIORITY_SELF:
        return [_low(0), (BPF_JEQ_K, PRIO_PROCESS, None, "deny"), *_own_pid(1, own_pid, zero_too=True)]
    if name in THREAD_ONLY:
        return [_low(0), (BPF_JSET_K, CLONE_THREAD, None, "deny"),
                (BPF_JSET_K, CLONE_NAMESPACES, "deny", "allow")]
    commands = COMMANDS[name]
    checks = [(BPF_JEQ_K, command, "allow", None) for command in commands[:-1]]
    return [_low(1), *checks, (BPF_JEQ_K, commands[-1], "allow", "deny")]


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
    for name in ALLOWED:
        if name in numbers:
            program += [instruction(BPF_JEQ_K, numbers[name], 0, 1), instruction(BPF_RET_K, RET_ALLOW)]
    for name in NOT_IMPLEMENTED:
        program += [instruction(BPF_JEQ_K, numbers[name], 0, 1),
                    instruction(BPF_RET_K, RET_ERRNO | errno.ENOSYS)]
    for name in (*SIGNAL_SELF, *PID_SELF, *PRIORITY_SELF, *COMMANDS, *THREAD_ONLY):
        if name in numbers:
            program += _block(numbers[name], _conditions(name, own_pid), deny)
    program.append(instruction(BPF_RET_K, deny))
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
