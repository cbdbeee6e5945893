"""The folder and environment one student process starts with: the worker and nothing of the grader's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from autograder import wire, worker
from autograder.sandbox import seccomp


def prepare_folder(folder: Path, uid: int | None) -> None:
    """``lib/`` holds the worker, the wire format, its seccomp filter and links to NumPy; ``work/`` is
    scratch; ``root/`` the mount point of a minimal root. Readable, but for ``work/``, by the process's
    user."""
    lib, work = folder / "lib", folder / "work"
    lib.mkdir()
    work.mkdir(mode=0o700)
    (folder / "root").mkdir()
    shutil.copyfile(worker.__file__, lib / "_autograder_worker.py")
    shutil.copyfile(wire.__file__, lib / "_autograder_wire.py")
    shutil.copyfile(seccomp.__file__, lib / "_autograder_seccomp.py")
    numpy_dir = Path(np.__file__).resolve().parent
    for name in ("numpy", "numpy.libs"):
        if (numpy_dir.parent / name).exists():
            (lib / name).symlink_to(numpy_dir.parent / name)
    for path in (folder, lib, *lib.iterdir()):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    folder.parent.chmod(0o711)
    if uid is not None:
        os.chown(work, uid, uid)


def child_environment(work: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    # Some processors need these for OpenBLAS to compute correctly.
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env
