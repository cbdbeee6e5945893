"""Shared fixtures: a sandboxed environment for Jupyter/nbgrader and scratch course folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
# The assignments' visible checks packages (mnist_checks...), importable as the notebooks import them.
for _folder in sorted((REPOSITORY / "source").iterdir()):
    if _folder.is_dir() and str(_folder) not in sys.path:
        sys.path.append(str(_folder))


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for Jupyter and nbgrader subprocesses.

    Jupyter's configuration, data and IPython directories live in a temporary folder (never
    the user's home); the interpreter's ``bin/`` comes first on ``PATH`` because nbgrader
    shells out to ``alembic``; ``MNIST_DATA_DIR`` passes through when set.
    """
    home = tmp_path_factory.mktemp("jupyter")
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        IPYTHONDIR=str(home / "ipython"),
        MPLBACKEND="Agg",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    env.pop("JUPYTER_PATH", None)
    return env


@pytest.fixture(scope="session")
def mnist_env(jupyter_env: dict[str, str]) -> dict[str, str]:
    """``jupyter_env`` for running the notebook, which needs MNIST: skips unless MNIST_DATA_DIR is set."""
    if not os.environ.get("MNIST_DATA_DIR"):
        pytest.skip("MNIST_DATA_DIR is not set")
    return jupyter_env


@pytest.fixture(scope="session")
def nbgrader(jupyter_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``nbgrader ARGS...`` in a course folder; fail the test with its output if it fails."""

    def run(course: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
        process = subprocess.run(
            [sys.executable, "-m", "nbgrader", *args],
            cwd=course,
            env=env or jupyter_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if process.returncode != 0:
            pytest.fail(
                f"nbgrader {' '.join(args)} exited with {process.returncode}\n"
                f"--- stdout\n{process.stdout[-4000:]}\n--- stderr\n{process.stderr[-4000:]}"
            )
        return process

    return run


def make_course(folder: Path) -> Path:
    """Make ``folder`` a copy of this course: ``source/`` and ``nbgrader_config.py`` (nothing else)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        REPOSITORY / "source",
        folder / "source",
        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "data", "__pycache__"),
    )
    shutil.copy2(REPOSITORY / "nbgrader_config.py", folder / "nbgrader_config.py")
    return folder


@pytest.fixture
def scratch_course(tmp_path: Path) -> Path:
    """A fresh copy of the course (``source/`` and ``nbgrader_config.py``) in a temporary folder."""
    return make_course(tmp_path / "course")


@pytest.fixture(scope="module")
def module_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Like ``scratch_course``, shared by the tests of one module."""
    return make_course(tmp_path_factory.mktemp("course"))


# ----------------------------------------------------------------------------- a cage for the suite

TEST_TASKS = 4096
TEST_MEMORY = 16 * 2**30


def pytest_configure(config: pytest.Config) -> None:
    """Run the whole suite (and every process it starts) in a control group capped at
    ``TEST_TASKS`` tasks and ``TEST_MEMORY``: a fork or memory flood that gets past a broken
    sandbox fills the cage, not the machine. Where no group can be made (not root), the
    sandbox's own fork ban and limits are the only cage."""
    from autograder.sandbox.cgroup import Group

    if hasattr(config, "workerinput"):  # an xdist worker: the controller's group holds it already
        return
    group = Group.create(TEST_MEMORY, TEST_TASKS, prefix="autograder-suite")
    if group is not None:
        try:
            group.add(0)
        except OSError:
            group.remove()
            return
        config.stash[SUITE_GROUP] = group


def pytest_unconfigure(config: pytest.Config) -> None:
    group = config.stash.get(SUITE_GROUP, None)
    if group is not None:
        group.give_back(0)
        group.remove()


SUITE_GROUP = pytest.StashKey()
