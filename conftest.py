"""Find MNIST for the test session the way the kit's loader does, or stop at once.

Many tests (every one that grades a notebook) need the four official MNIST files. They
are looked for as ``solutions.data.load_mnist`` looks: in ``$MNIST_DATA_DIR`` when it is
set, else in the loader's cache (``$MNIST_CACHE_DIR``, else ``~/.cache/mnist-mlp-kit``),
where ``make demo`` and ``make mnist`` put them. The folder found is exported as
``MNIST_DATA_DIR`` for the whole session (xdist workers and graders inherit it). When the
files are nowhere, the session stops before collecting anything, saying how to get them:
never a green run with the MNIST tests skipped. Tests never download.

It also puts the longest test modules first, so that under ``pytest -n 2 --dist loadscope``
(``make test``) the two workers start on them together, and share the corpus they both need
(``tests/corpus/grading.py``), instead of one of them ending the run alone.

``--exhaustive`` widens the two samples the default run takes (see ``tests/test_parity.py``
and ``tests/test_hosts.py``): nbgrader parity on every correct and mistaken entry of the
corpus instead of one per kind of answer, and every attack on the other hosts instead of the
ones that reach beyond the student's process.

This file sits at the repository root so that pytest loads it before ``tests/conftest.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from solutions.data import OFFICIAL_SHA256, default_cache_dir

# The longest modules (minutes on two cores), longest first; the rest keep pytest's order.
LONGEST_FIRST = ("test_parity.py", "test_grader.py", "test_hosts.py", "test_batch.py", "test_nbgrader.py")
FIX = (
    "run `make mnist` (or `make test`, which runs it) to download and verify them into "
    "the loader's cache, or set MNIST_DATA_DIR to a folder that holds the four files"
)


def missing_files(folder: Path) -> list[str]:
    return [name for name in OFFICIAL_SHA256 if not (folder / name).is_file()]


def mnist_folder() -> Path:
    """The folder the loader would read MNIST from; ``pytest.UsageError`` when it has not got it."""
    explicit = os.environ.get("MNIST_DATA_DIR")
    folder = Path(explicit).expanduser() if explicit else default_cache_dir()
    missing = missing_files(folder)
    if missing:
        where = f"MNIST_DATA_DIR={explicit}" if explicit else f"the loader's cache {folder}"
        raise pytest.UsageError(
            f"MNIST not found for the tests: {where} lacks {', '.join(missing)}. Fix: {FIX}."
        )
    return folder.resolve()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--exhaustive", action="store_true",
                     help="nbgrader parity on the whole corpus and every attack on every host "
                          "(about three times the default run)")


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # the controller found it and exported it
    os.environ["MNIST_DATA_DIR"] = str(mnist_folder())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module keeps its own order
