"""Landlock: an unprivileged kernel allow-list of the files a process may open (Linux >= 5.13).

Once ``restrict`` has run, the process and everything it executes can open only what the
rules name, whoever it runs as; from ABI 4 it may neither bind nor connect TCP sockets, and
from ABI 6 it may neither signal nor reach (abstract UNIX sockets) any process outside its
own domain, such as the grader or a classmate's sandbox. The calls are the kernel's three
system calls through ``ctypes``; nothing here needs privileges.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from collections.abc import Iterable

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
# Rights the ABI versions added: REFER (2), TRUNCATE (3), IOCTL_DEV (5).
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
NET_BIND_TCP, NET_CONNECT_TCP = 1, 2
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1, 2

READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | (1 << 14) | (1 << 15)  # rights a rule on a file may carry
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class LandlockError(OSError):
    """The kernel refused a Landlock call."""


def abi_version() -> int:
    """The Landlock ABI this kernel offers, or 0 when it has none (or it is disabled)."""
    if sys.platform != "linux" or not hasattr(_libc, "syscall"):  # the numbers are Linux's
        return 0
    version = _libc.syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), CREATE_RULESET_VERSION)
    return max(int(version), 0)


def handled_fs(abi: int) -> int:
    """Every file-system right that ABI ``abi`` knows: all of them are denied unless a rule allows."""
    return FS_RIGHTS_BY_ABI[max(v for v in FS_RIGHTS_BY_ABI if v <= abi)]


def restrict(
    readable: Iterable[str], writable: Iterable[str], listable: Iterable[str] = (), abi: int | None = None
) -> int:
    """Allow reading (and executing) ``readable``, everything in ``writable``, and listing the
    names in ``listable`` (folders, and the folders below them, but no file's content); nothing else.

    Applies to the calling process for good (``no_new_privs`` is set first, as the kernel
    requires of an unprivileged caller). Paths that do not exist are left out. Returns the
    ABI used. Raises ``LandlockError`` when the kernel refuses.
    """
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise LandlockError(0, "Landlock is not available")
    fs = handled_fs(abi)
    attr = struct.pack("=Q", fs)
    if abi >= 4:
        attr += struct.pack("=Q", NET_BIND_TCP | NET_CONNECT_TCP)
    if abi >= 6:
        attr += struct.pack("=Q", SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _check(_libc.syscall(SYS_CREATE_RULESET, buffer, ctypes.c_size_t(len(attr)), 0), "create")
    try:
        for path in readable:
            _allow(ruleset, path, READ & fs)
        for path in listable:
            _allow(ruleset, path, READ_DIR)
        for path in writable:
            _allow(ruleset, path, fs)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise LandlockError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        _check(_libc.syscall(SYS_RESTRICT_SELF, ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd), 12)
        _check(_libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, rule, 0), f"add_rule {path}")
    finally:
        os.close(fd)


def _check(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise LandlockError(error, f"landlock {what}: {os.strerror(error)}")
    return int(result)
