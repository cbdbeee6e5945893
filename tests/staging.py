"""What code run as another user needs, copied where that user can read it.

A clone may sit in a folder only its owner can open (``d=$(mktemp -d); git clone ... $d/kit``).
Tests that run the grader as ``nobody`` (host (c) of ``test_hosts.py``), or whose student
processes run as a user of their own without a minimal root (host (b), Gradescope's container),
stage here what those users read: the kit's packages and its assignments' notebooks, the
runner of ``test_hosts.py``, a virtual environment of Debian's ``/usr/bin/python3`` with what
grading imports, and MNIST, in a folder of ``/tmp`` opened to every user (never writable by
them).
"""

from __future__ import annotations

import compileall
import fcntl
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")
# Built once with pip (what Gradescope's setup.sh installs, at the same pins), then copied into
# each stage: the clone's own build/ may be closed to other users.
HOST_VENV = REPOSITORY / "build" / "host-venv"
# What the grader reads of the kit: its packages, the notebooks (grade ids, points, test cells)
# with the visible checks beside them, and what runs the jobs of test_hosts.py.
KIT = ("autograder", "solutions", "source", "release", "tests/host_runner.py")
SKIPPED = shutil.ignore_patterns("__pycache__", ".*")


def system_python_usable() -> bool:
    """Whether Debian's ``python3`` is there, and recent enough for the kit (3.11 or newer)."""
    probe = [str(SYSTEM_PYTHON), "-c", "import sys; sys.exit(sys.version_info < (3, 11))"]
    return SYSTEM_PYTHON.exists() and subprocess.run(probe, check=False).returncode == 0


@contextmanager
def folder_for_everyone(prefix: str) -> Iterator[Path]:
    """A new folder of ``/tmp`` every user can read and enter (pytest's own are closed to them)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_to_everyone(top: Path) -> None:
    """``top`` and everything under it readable by every user, writable by none but the owner:
    folders and executables 0755, other files 0644 (a clone made under ``umask 077`` is 0600)."""
    for folder, _, files in os.walk(top):
        os.chmod(folder, 0o755)
        for name in files:
            path = Path(folder, name)
            if not path.is_symlink():
                executable = path.stat().st_mode & stat.S_IXUSR
                path.chmod(0o755 if executable else 0o644)


def grading_requirements() -> str:
    """What grading imports, pinned at this environment's versions (as in the Gradescope zip)."""
    from autograder.package import GRADER_NEEDS, pinned_requirements

    return "".join(f"{pin}\n" for pin in pinned_requirements(GRADER_NEEDS))


def host_venv() -> Path:
    """``build/host-venv``: Debian's interpreter with what grading imports, rebuilt when the pins
    change; one builder at a time (the suite's workers share it)."""
    HOST_VENV.parent.mkdir(exist_ok=True)
    wanted = grading_requirements()
    pins = HOST_VENV / "requirements.txt"
    with open(HOST_VENV.parent / ".host-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not pins.exists() or pins.read_text() != wanted:
            shutil.rmtree(HOST_VENV, ignore_errors=True)
            subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(HOST_VENV)], check=True)
            (HOST_VENV / "wanted.txt").write_text(wanted)
            subprocess.run([str(HOST_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            "-r", str(HOST_VENV / "wanted.txt")], check=True)
            (HOST_VENV / "wanted.txt").rename(pins)  # last: a build cut short is built again
    return HOST_VENV


def stage_venv(folder: Path) -> Path:
    """A copy of ``host_venv()`` at ``folder/venv``; its interpreter (run by path: the copy's
    ``pyvenv.cfg`` makes it that venv, while the scripts in ``bin/`` still name the original)."""
    copy = folder / "venv"
    shutil.copytree(host_venv(), copy, symlinks=True)  # with pip's compiled files: nobody cannot write them
    open_to_everyone(copy)
    return copy / "bin" / "python"


def stage_kit(folder: Path) -> Path:
    """``folder/kit``: ``KIT``, laid out as in the repository, for ``PYTHONPATH``."""
    kit = folder / "kit"
    for relative in KIT:
        source, copy = REPOSITORY / relative, kit / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy, ignore=SKIPPED)
        else:
            shutil.copy(source, copy)
    compileall.compile_dir(kit, quiet=1)  # as nobody, Python could not cache them
    open_to_everyone(kit)
    return kit


def stage_mnist(folder: Path) -> Path:
    """``folder/mnist``: the four MNIST files of ``$MNIST_DATA_DIR`` (else the loader's cache)."""
    from solutions.data import default_cache_dir

    source = Path(os.environ.get("MNIST_DATA_DIR") or default_cache_dir())
    copy = folder / "mnist"
    copy.mkdir()
    for path in source.glob("*.gz"):
        shutil.copy(path, copy / path.name)
    open_to_everyone(copy)
    assert len(list(copy.glob("*.gz"))) == 4, f"MNIST is not in {source}"
    return copy
