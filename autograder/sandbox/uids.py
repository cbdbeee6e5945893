"""An unprivileged user id of its own for each student process running at the same time.

Only a grader running as root can switch users. Ids come from a small range reserved here
(``AUTOGRADER_UID_BASE``, default 1,900,000,000, and the next ``SLOTS``), each held through
an exclusive ``flock`` on a file in a root-only folder, so that every grading process on the
machine (a batch runs several) takes a different one; the kernel releases the lock when its
holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

DEFAULT_BASE = 1_900_000_000
SLOTS = 512


class UidSlot:
    """A held user id (the group id is the same number); ``release`` gives it back."""

    def __init__(self, uid: int, handle: int) -> None:
        self.uid, self._handle = uid, handle

    def release(self) -> None:
        if self._handle >= 0:
            os.close(self._handle)
            self._handle = -1


def lock_folder() -> Path:
    for candidate in (Path("/run/lock"), Path("/run"), Path("/var/lock"), Path("/tmp")):
        if candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate / "course-kit-autograder-uids"
    return Path("/tmp/course-kit-autograder-uids")


def base_uid() -> int:
    return int(os.environ.get("AUTOGRADER_UID_BASE", DEFAULT_BASE))


def acquire() -> UidSlot | None:
    """The first free id of the range, or None when none is free (or the folder cannot be made)."""
    folder = lock_folder()
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != 0 or folder.stat().st_mode & 0o077:
            return None  # someone else's folder: its locks prove nothing
    except OSError:
        return None
    base = base_uid()
    for slot in range(SLOTS):
        path = folder / str(base + slot)
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            continue
        return UidSlot(base + slot, handle)
    return None


def switch_to(uid: int) -> None:
    """Become ``uid`` (group ``uid``, no supplementary groups) for good: all capabilities go."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    try:
        os.setresuid(0, 0, 0)
    except PermissionError:
        return
    raise RuntimeError("still able to become root after switching users")
