"""The allow-list of files the student process may read, and the minimal root built from it.

Readable, nothing more: the interpreter and the shared libraries it and NumPy load, the
standard library (without its ``site-packages``), NumPy, the worker's own folder, and a
few device files. Writable: the process's private scratch folder (and, in a minimal root,
a private ``/tmp`` and ``/dev/shm``). The same list feeds both layers that enforce it:
Landlock (``landlock.restrict``) and, where the grader may use mount namespaces, a fresh
root holding only these paths (``build_root``).
"""

from __future__ import annotations

import os
import struct
import sys
import sysconfig
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

LEFT_OUT_OF_STDLIB = frozenset({"site-packages", "dist-packages"})
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
WORKER_ROOT = "/sandbox"  # where a minimal root puts the worker's folders


@dataclass(frozen=True)
class AllowList:
    """Host paths (files and folders) the student process may read, and the interpreter to run."""

    interpreter: str
    readable: tuple[str, ...]
    listable: tuple[str, ...]  # folders whose names (not contents) may be read: the stdlib's own
    symlinks: tuple[tuple[str, str], ...]  # (link, target) to recreate so the names still resolve
    mount_readable: tuple[str, ...]  # the same, as few bind mounts: whole stdlib folders...
    covered: tuple[str, ...]  # ...with their site-packages covered by an empty tmpfs


@cache
def allow_list() -> AllowList:
    """The allow-list of this interpreter and NumPy (without the worker's own folders)."""
    interpreter = os.path.realpath(sys.executable)
    readable = {interpreter, *_shared_libraries(), *_stdlib_entries(), *_numpy_folders()}
    readable.update(p for p in ("/etc/ld.so.cache", *DEVICES) if os.path.exists(p))
    links: dict[str, str] = {}
    names = [_program_interpreter(interpreter), *_root_links()]
    for name in filter(None, names):
        links.update(symlink_chain(name))
    stdlib = _stdlib_folders()
    entries = _stdlib_entries()
    mounts = sorted((readable - entries) | stdlib)
    covered = sorted(
        str(Path(f) / name) for f in stdlib for name in LEFT_OUT_OF_STDLIB if (Path(f) / name).is_dir()
    )
    return AllowList(
        interpreter,
        tuple(sorted(readable)),
        tuple(sorted(stdlib)),
        tuple(sorted(links.items())),
        tuple(mounts),
        tuple(covered),
    )


def _shared_libraries() -> set[str]:
    """The folders of the C library and the loader, and libpython: what the interpreter maps.

    Read from this process's own memory map, which has NumPy (and its BLAS) loaded too;
    libraries of other packages of this environment are not taken.
    """
    system, found = set(), set()
    for path in _mapped_files():
        name = os.path.basename(path)
        if name.startswith(("libc.so", "ld-linux", "ld-musl", "libm.so")):
            system.add(os.path.dirname(path))
        elif name.startswith("libpython"):
            found.add(path)
    return found | system


def _mapped_files() -> set[str]:
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return set()
    return {
        os.path.realpath(p)
        for p in (line.split(None, 5)[-1] for line in lines if "/" in line)
        if p.startswith("/") and os.path.isfile(p)
    }


def _stdlib_folders() -> set[str]:
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    folders = (Path(sysconfig.get_path(key, vars=base)).resolve() for key in ("stdlib", "platstdlib"))
    return {str(folder) for folder in folders if folder.is_dir()}


def _stdlib_entries() -> set[str]:
    """Each entry of the standard library's folder but ``site-packages`` (third-party code)."""
    return {
        str(p.resolve())
        for folder in _stdlib_folders()
        for p in Path(folder).iterdir()
        if p.name not in LEFT_OUT_OF_STDLIB
    }


def _numpy_folders() -> set[str]:
    package = Path(np.__file__).resolve().parent
    return {str(p) for p in (package, package.parent / "numpy.libs") if p.is_dir()}


def _root_links() -> list[str]:
    """Top-level symlinks such as ``/lib -> usr/lib`` (merged /usr), through which libraries are named."""
    return [str(p) for p in Path("/").iterdir() if p.is_symlink()]


def symlink_chain(path: str) -> dict[str, str]:
    """Every symlink met while resolving ``path``, as ``{link: target}`` (absolute link paths)."""
    links: dict[str, str] = {}
    pending, seen = [path], 0
    while pending and seen < 40:
        seen += 1
        current = Path("/")
        parts = Path(pending.pop()).parts[1:]
        for index, part in enumerate(parts):
            candidate = current / part
            if candidate.is_symlink():
                target = os.readlink(candidate)
                links[str(candidate)] = target
                rest = Path(*parts[index + 1 :]) if index + 1 < len(parts) else Path()
                pending.append(str(candidate.parent / target / rest))
                break
            current = candidate
    return links


def _program_interpreter(executable: str) -> str | None:
    """The dynamic loader an ELF executable names (``PT_INTERP``), e.g. ``/lib64/ld-linux-x86-64.so.2``."""
    try:
        with open(executable, "rb") as handle:
            header = handle.read(64)
            if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
                return None
            endian = "<" if header[5] == 1 else ">"
            (phoff,) = struct.unpack_from(endian + "Q", header, 32)
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 54)
            for index in range(phnum):
                handle.seek(phoff + index * phentsize)
                kind, _, offset, _, _, size = struct.unpack(endian + "IIQQQQ", handle.read(40))
                if kind == 3:  # PT_INTERP
                    handle.seek(offset)
                    return handle.read(size).rstrip(b"\0").decode()
    except (OSError, struct.error, UnicodeDecodeError):
        return None
    return None


def readable_by_others(path: str) -> bool:
    """Whether a user other than the owner may read ``path`` (every folder above it searchable)."""
    current = Path(path)
    try:
        mode = current.stat().st_mode
        if not mode & 0o004 or (current.is_dir() and not mode & 0o001):
            return False
        return all(parent.stat().st_mode & 0o001 for parent in current.parents)
    except OSError:
        return False
