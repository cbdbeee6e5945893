"""The environment the course floor's tests run batches in.

A record is current for one version of the grader: the SHA-256 of the kit's grading code
(``autograder/course/store.py``). Tests that run a batch twice and count what the second run
graded again would fail whenever the checkout's code changed between the two runs (while it is
being worked on), so their batches run a snapshot of the kit taken once per session
(``autograder/`` and ``solutions/``, first on ``PYTHONPATH``), as the benchmarks do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def kit_env(jupyter_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """``jupyter_env`` with a snapshot of the kit first on ``PYTHONPATH``."""
    kit = tmp_path_factory.mktemp("kit")
    for package in ("autograder", "solutions"):
        shutil.copytree(REPOSITORY / package, kit / package, ignore=shutil.ignore_patterns("__pycache__"))
    return dict(jupyter_env, PYTHONPATH=str(kit))
