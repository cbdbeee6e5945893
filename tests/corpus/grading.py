"""Grade corpus entries with ``python -m autograder``, a few at a time, once per test session."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from corpus import ENTRIES, REPOSITORY, Entry, build

WORKERS = 3  # most hostile entries spend their time waiting for a time limit


@dataclass(frozen=True)
class Graded:
    """One run of the grader's command line on one entry."""

    entry: Entry
    submission: Path
    results_path: Path
    results: dict  # as written right after the run (running the submission elsewhere may overwrite it)
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def score(self) -> float:
        return self.results["score"]

    @property
    def failed(self) -> frozenset[str]:
        return frozenset(t["name"] for t in self.results["tests"] if t["status"] != "passed")

    @property
    def text(self) -> str:
        """Everything the results say to a person: the summary and each test's output."""
        results = self.results
        return "\n".join([results["output"], *(t["output"] for t in results["tests"])])


def grade(entry: Entry, folder: Path, marker: str, env: Mapping[str, str],
          options: Iterable[str] = ()) -> Graded:
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "results.json"
    submission = build(entry, folder / f"{entry.name}.ipynb", {"RESULTS": str(results), "MARKER": marker})
    command = [sys.executable, "-m", "autograder", str(submission), "--results", str(results),
               *entry.options, *options]
    started = time.monotonic()
    process = subprocess.run(command, cwd=folder, env=dict(env), capture_output=True, text=True,
                             timeout=entry.max_seconds + 60)
    seconds = time.monotonic() - started
    written = json.loads(results.read_text()) if results.exists() else {}
    return Graded(entry, submission, results, written, process.returncode, process.stdout, process.stderr,
                  seconds)


def grade_many(
    entries: Iterable[Entry], root: Path, marker: str, env: Mapping[str, str]
) -> dict[str, Graded]:
    """Grade ``entries`` in parallel, each in its own folder under ``root``; the slowest start first."""
    ordered = sorted(entries, key=lambda entry: -entry.max_seconds)
    with ThreadPoolExecutor(WORKERS) as pool:
        runs = pool.map(lambda entry: grade(entry, root / entry.name, marker, env), ordered)
        return {run.entry.name: run for run in runs}


@dataclass(frozen=True)
class Corpus:
    """Every entry graded once: the runs by name, the marker their sources used, and the total time."""

    runs: dict[str, Graded]
    marker: str
    seconds: float


@cache
def graded_corpus() -> Corpus:
    """Grade the whole corpus once per session (test_grader and test_parity share it)."""
    root = Path(tempfile.mkdtemp(prefix="corpus-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    marker = f"corpus-marker-{uuid.uuid4().hex}"
    (root / "tmp").mkdir()
    # The grader's own temporary folders go under root too: a submission that kills the
    # grader leaves its sandbox folder behind.
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY), TMPDIR=str(root / "tmp"))
    started = time.monotonic()
    runs = grade_many(ENTRIES, root, marker, env)
    return Corpus(runs, marker, time.monotonic() - started)


def processes_with(marker: str) -> list[int]:
    """The ids of live processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in found if pid != os.getpid()]
