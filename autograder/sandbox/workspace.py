"""The folder, environment and reference code one student process starts with."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from autograder import worker
from autograder.sandbox import seccomp


def prepare_folder(folder: Path, uid: int | None) -> None:
    """``lib/`` holds the worker, its seccomp filter and links to NumPy; ``work/`` is scratch;
    ``root/`` the mount point of a minimal root. Readable, but for ``work/``, by the process's user."""
    lib, work = folder / "lib", folder / "work"
    lib.mkdir()
    work.mkdir(mode=0o700)
    (folder / "root").mkdir()
    shutil.copyfile(worker.__file__, lib / "_autograder_worker.py")
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


# The student process each function is checked in, when not the one that holds no reference.
# A process holds the references its functions' checks swap in, and nothing else:
# train_step and evaluate share one (it holds relu and relu2deriv, both handed to the
# train_step check anyway; evaluate is graded on nothing they could help with); train, whose
# check is handed the reference train_step, never shares with train_step.
PROCESS_OF = {"train_step": "train_step+evaluate", "evaluate": "train_step+evaluate", "train": "train"}
PROCESS_ORDER = ("", *dict.fromkeys(PROCESS_OF.values()))  # the process without references first


def process_of(function: str) -> str:
    """The name of the student process ``function`` is checked in ('' for the one without references)."""
    return PROCESS_OF.get(function, "")


def reference_source(process: str) -> str:
    """The reference code a student process holds: the dependencies, transitively, of the
    functions checked in it (``process_of``)."""
    import inspect

    from solutions import network

    names: list[str] = []
    pending = [dep for function, name in PROCESS_OF.items() if name == process
               for dep in worker.DEPENDENCIES.get(function, ())]
    while pending:
        name = pending.pop()
        if name not in names:
            names.append(name)
            pending.extend(worker.DEPENDENCIES.get(name, ()))
    sources = [inspect.getsource(getattr(network, name)) for name in sorted(names)]
    return "\n\n".join(["from __future__ import annotations\n\nimport numpy as np", *sources])
