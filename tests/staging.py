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
# The same with what ``python -m autograder batch`` imports besides: nbgrader's gradebook, the
# pages' templates and figures (at this environment's versions).
BATCH_VENV = REPOSITORY / "build" / "batch-venv"
BATCH_NEEDS = ("nbgrader", "jinja2", "matplotlib")
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
    try:
        from autograder.lms.common import GRADER_NEEDS, pinned_requirements
    except ImportError:  # before the packaging commands moved to autograder.lms
        from autograder.package import GRADER_NEEDS, pinned_requirements

    return "".join(f"{pin}\n" for pin in pinned_requirements(GRADER_NEEDS))


def built_venv(folder: Path, wanted: str) -> Path:
    """``folder``: Debian's interpreter with the requirements ``wanted``, rebuilt when they
    change; one builder at a time (the suite's workers share it)."""
    folder.parent.mkdir(exist_ok=True)
    pins = folder / "requirements.txt"
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not pins.exists() or pins.read_text() != wanted:
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(folder)], check=True)
            (folder / "wanted.txt").write_text(wanted)
            subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            "-r", str(folder / "wanted.txt")], check=True)
            (folder / "wanted.txt").rename(pins)  # last: a build cut short is built again
    return folder


def host_venv() -> Path:
    """``build/host-venv``: Debian's interpreter with what grading imports."""
    return built_venv(HOST_VENV, grading_requirements())


def batch_venv() -> Path:
    """``build/batch-venv``: Debian's interpreter with what grading imports (pinned) and what the
    batch imports besides (at this environment's versions, their own requirements left to pip:
    some of this environment's need a newer Python than Debian's)."""
    import importlib.metadata

    batch = "".join(f"{name}=={importlib.metadata.version(name)}\n" for name in BATCH_NEEDS)
    return built_venv(BATCH_VENV, grading_requirements() + batch)


def stage_venv(folder: Path, name: str = "venv", owner: int | None = None, built: Path | None = None) -> Path:
    """A copy of ``built`` (``host_venv()`` by default) at ``folder/name``; its interpreter (run by
    path: the copy's ``pyvenv.cfg`` makes it that venv; the scripts in ``bin/`` are made to name
    it too). With ``owner``, every file of the copy belongs to that user (and group), as a
    venv a user made on a laptop does: the student processes of a grader run by that user own
    NumPy's files."""
    original = built or host_venv()
    copy = folder / name
    shutil.copytree(original, copy, symlinks=True)  # with pip's compiled files
    point_scripts_at(copy, original)
    open_to_everyone(copy)
    if owner is not None:
        give_to(copy, owner)
    return copy / "bin" / "python"


def point_scripts_at(copy: Path, original: Path) -> None:
    """The scripts of the copy's ``bin/`` (``alembic``, which nbgrader runs) started by the copy's
    interpreter, not the original's."""
    for script in (copy / "bin").iterdir():
        if script.is_file() and not script.is_symlink():
            text = script.read_bytes()
            if text.startswith(b"#!" + bytes(original)):
                script.write_bytes(text.replace(bytes(original), bytes(copy), 1))


def give_to(top: Path, owner: int) -> None:
    """``top`` and everything under it (links themselves, not their targets) owned by ``owner``."""
    os.chown(top, owner, owner, follow_symlinks=False)
    for folder, folders, files in os.walk(top):
        for name in (*folders, *files):
            os.chown(Path(folder, name), owner, owner, follow_symlinks=False)


def numpy_init(python: Path) -> Path:
    """``numpy/__init__.py`` of the venv whose interpreter is ``python`` (the venv's own copy)."""
    venv = python.parent.parent
    found = sorted(venv.glob("lib/python3*/site-packages/numpy/__init__.py"))
    assert found, f"no NumPy in {venv}"
    return found[0]


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
