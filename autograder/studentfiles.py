"""A student's folder, read without ever following a link out of it.

Whatever a student hands in may be a symbolic link (to the course's source notebook, to a
classmate's folder, to anything), a named pipe that blocks whoever opens it, or a device:
wherever instructors clone students' repositories or unpack their archives, such entries
arrive as they were made. So every folder below the course's own is opened with
``O_NOFOLLOW | O_DIRECTORY`` relative to the descriptor of its parent, and every file with
``O_NOFOLLOW | O_NONBLOCK`` relative to the descriptor of its folder, after ``lstat`` said it
is a regular file: nothing is checked by name and then opened by name again, so a parent
swapped for a link meanwhile is refused, not followed. A hard link is a regular file reached
without following anything, and is read.

What is not read is refused with ``Refused``, whose message names the entry and what it is,
for the student: ``homework.ipynb is a symbolic link; submit the notebook file itself``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder.text import name

FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a pipe put there after lstat must not block the open; O_NOCTTY: nor become a terminal.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
BLOCK = 1 << 20
MAX_DEPTH = 32  # folders deep, for ``walk``: a submission is a few folders at most
FILE, FOLDER, LINK = "file", "folder", "symbolic link"


class Refused(Exception):
    """An entry of a submission that is not read: a link, a pipe, a device... (the message says
    which, for the student)."""


def kind(mode: int) -> str:
    """What an ``lstat`` mode is, in words: ``file``, ``folder``, ``symbolic link``..."""
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return FOLDER
    if stat.S_ISLNK(mode):
        return LINK
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def label(parts: Sequence[str]) -> str:
    """A path below the student's folder as one line: ``homework.ipynb``, ``"work/a b.ipynb"``."""
    return name("/".join(parts))


def refusal(parts: Sequence[str], found: str, wanted: str) -> str:
    """``homework.ipynb is a symbolic link; submit the notebook file itself``."""
    return f"{label(parts)} is a {found}; submit the {wanted} itself"


@dataclass(frozen=True)
class Entry:
    """One entry of a folder: its name and what it is (never what a link points to)."""

    name: str
    kind: str


@dataclass(frozen=True)
class Content:
    """What identifies a file's content: SHA-256, size in bytes, modification time."""

    sha256: str
    size: int
    mtime: float


def open_folder(base: str | os.PathLike, parts: Sequence[str], wanted: str = "folder") -> int:
    """A descriptor of ``base/parts[0]/.../parts[-1]`` (the caller closes it).

    ``base`` is the course's (opened as given); every part below it is opened without following
    a link. ``Refused`` when a part is a link or not a folder; ``OSError`` (``FileNotFoundError``...)
    when it cannot be opened otherwise.
    """
    folder = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, part in enumerate(parts):
            child = _open_child_folder(folder, part, parts[: depth + 1], wanted)
            os.close(folder)
            folder = child
    except BaseException:
        os.close(folder)
        raise
    return folder


def _open_child_folder(folder: int, part: str, parts: Sequence[str], wanted: str) -> int:
    try:
        return os.open(part, FOLDER_FLAGS, dir_fd=folder)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        found = kind(os.stat(part, dir_fd=folder, follow_symlinks=False).st_mode)
    raise Refused(refusal(parts, found, wanted))


def entries(folder: int) -> list[Entry]:
    """Every entry of the open ``folder``, by name, with what it is itself (``lstat``)."""
    found = []
    with os.scandir(folder) as scan:
        for item in scan:
            try:
                mode = item.stat(follow_symlinks=False).st_mode
            except OSError:  # removed meanwhile
                continue
            found.append(Entry(item.name, kind(mode)))
    return sorted(found, key=lambda entry: entry.name)


def open_file(folder: int, parts: Sequence[str], wanted: str) -> int:
    """A descriptor of the regular file ``parts[-1]`` in the open ``folder`` (``parts``: its path
    below the student's folder, for messages); ``Refused`` for anything but a regular file.

    ``lstat`` first, so that a pipe or a device is never opened; then an open that follows
    no link and waits for no writer, and ``fstat`` to be sure that what was opened is still
    a regular file.
    """
    entry = parts[-1]
    found = kind(os.stat(entry, dir_fd=folder, follow_symlinks=False).st_mode)
    if found != FILE:
        raise Refused(refusal(parts, found, wanted))
    try:
        descriptor = os.open(entry, FILE_FLAGS, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ELOOP:  # swapped for a link since lstat
            raise Refused(refusal(parts, LINK, wanted)) from None
        raise
    found = kind(os.fstat(descriptor).st_mode)
    if found != FILE:
        os.close(descriptor)
        raise Refused(refusal(parts, found, wanted))
    os.set_blocking(descriptor, True)
    return descriptor


def read_file(folder: int, parts: Sequence[str], wanted: str, limit: int) -> bytes:
    """The first ``limit`` bytes of a regular file (``open_file``), and one more if there are more."""
    descriptor = open_file(folder, parts, wanted)
    with os.fdopen(descriptor, "rb") as stream:
        return stream.read(limit + 1)


def copy_file(
    folder: int, parts: Sequence[str], wanted: str, target: Path | None = None, keep: int | None = None
) -> Content:
    """The ``Content`` of a regular file (``open_file``), all of it hashed; its first ``keep``
    bytes (all if None) written to ``target`` (a new file) when given."""
    descriptor = open_file(folder, parts, wanted)
    digest, size = hashlib.sha256(), 0
    with os.fdopen(descriptor, "rb") as stream:
        mtime = os.fstat(descriptor).st_mtime
        copy = open(target, "xb") if target is not None else None
        try:
            for block in iter(lambda: stream.read(BLOCK), b""):
                digest.update(block)
                if copy is not None and (keep is None or size < keep):
                    copy.write(block if keep is None else block[: keep - size])
                size += len(block)
        finally:
            if copy is not None:
                copy.close()
    return Content(digest.hexdigest(), size, mtime)


def walk(
    folder: int, enter: Callable[[str], bool], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Entry]]:
    """``(path, entry)`` for every entry below the open ``folder``, entering the real folders
    ``enter`` accepts (by name), never a link; at most ``MAX_DEPTH`` folders deep."""
    for entry in entries(folder):
        path = (*prefix, entry.name)
        yield path, entry
        if entry.kind != FOLDER or not enter(entry.name) or len(prefix) >= MAX_DEPTH:
            continue
        try:
            child = os.open(entry.name, FOLDER_FLAGS, dir_fd=folder)
        except OSError:  # swapped for a link, or gone: not entered
            continue
        try:
            yield from walk(child, enter, path)
        finally:
            os.close(child)
