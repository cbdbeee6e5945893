"""Grade corpus entries with the grader's command line, a few at a time, once per test session.

Each entry is graded by ``autograder.cli.main`` (what ``python -m autograder`` runs) in a
process of its own, forked, as a batch's grading processes are, from a forkserver that has
imported the grader once (``autograder.course.processes``): its exit status, standard output and
standard error are the command's.

Under pytest-xdist the workers share the work: every entry is graded once, by whichever
worker takes it first (a lock file per entry), into a folder all workers read; its run is
kept there as JSON. Without xdist the folder is private to the process.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from autograder.course.processes import Processes
from corpus import BY_NAME, Entry, build, leaked, sample

PROCESSES = Processes()
WORKERS = 3  # most hostile entries spend their time waiting for a time limit
SAFETY_FACTOR = 10  # a hung grader is stopped after this many times the entry's max_seconds
STALE_SECONDS = 86400  # shared folders of earlier xdist runs older than this are removed


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

    def to_json(self) -> str:
        fields = asdict(self) | {"entry": self.entry.name}
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in fields.items()})

    @classmethod
    def from_json(cls, text: str) -> Graded:
        fields = json.loads(text)
        return cls(**fields | {"entry": BY_NAME[fields["entry"]], "submission": Path(fields["submission"]),
                               "results_path": Path(fields["results_path"])})


def grade(entry: Entry, folder: Path, marker: str, env: Mapping[str, str],
          options: Iterable[str] = (), placeholders: Mapping[str, str] = {}) -> Graded:
    """Grade ``entry`` in ``folder`` with the command line's options and ``env`` added to the
    grading process's environment (``placeholders`` fill the entry's sources besides these)."""
    folder.mkdir(parents=True, exist_ok=True)
    results = folder / "results.json"
    values = {**placeholders, "RESULTS": str(results), "MARKER": marker}
    submission = build(entry, folder / f"{entry.name}.ipynb", values)
    argv = [str(submission), "--results", str(results), "--assignment", entry.assignment, *entry.options,
            *options]
    timeout = SAFETY_FACTOR * entry.max_seconds + 300
    status = PROCESSES.run(argv, folder, timeout, folder / "stderr.txt", folder / "stdout.txt", env)
    if status is None:
        raise TimeoutError(f"the grader was still grading {entry.name} after {timeout:g} s")
    written = json.loads(results.read_text()) if results.exists() else {}
    return Graded(entry, submission, results, written, status, (folder / "stdout.txt").read_text(),
                  (folder / "stderr.txt").read_text())


def graded_once(entry: Entry, root: Path, marker: str, env: Mapping[str, str], wait: bool) -> Graded | None:
    """The entry's run: graded here unless some process graded it already; None when another
    process is grading it and ``wait`` is false. An entry graded ``after`` another is built from
    that one's results (graded first, here or by whichever process has it)."""
    folder = root / entry.name
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "graded.json"
    with open(folder / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return None
        if record.exists():
            return Graded.from_json(record.read_text())
        earlier = graded_once(BY_NAME[entry.after], root, marker, env, wait=True) if entry.after else None
        placeholders = {"LEAKED": leaked(earlier.results)} if earlier else {}
        run = grade(entry, folder, marker, env, placeholders=placeholders)
        partial = record.with_suffix(".tmp")
        partial.write_text(run.to_json())
        partial.replace(record)
        return run


def grade_many(
    entries: Iterable[Entry], root: Path, marker: str, env: Mapping[str, str]
) -> dict[str, Graded]:
    """Grade ``entries`` in parallel, each in its own folder under ``root``; the slowest start first.

    Entries another process is grading are skipped at first and waited for at the end.
    """
    ordered = sorted(entries, key=lambda entry: -entry.max_seconds)
    with ThreadPoolExecutor(WORKERS) as pool:
        first = list(pool.map(lambda entry: graded_once(entry, root, marker, env, wait=False), ordered))
        later = [entry for entry, run in zip(ordered, first, strict=True) if run is None]
        rest = pool.map(lambda entry: graded_once(entry, root, marker, env, wait=True), later)
        runs = [run for run in first if run is not None] + list(rest)
    return {run.entry.name: run for run in runs}


@dataclass(frozen=True)
class Corpus:
    """Every entry graded once: the runs by name and the marker their sources used."""

    runs: dict[str, Graded]
    marker: str


def shared_place() -> tuple[Path, str]:
    """The folder and marker of this test run: shared by the xdist workers of one run."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        root = Path(tempfile.mkdtemp(prefix="corpus-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        return root, f"corpus-marker-{uuid.uuid4().hex}"
    base = Path(tempfile.gettempdir())
    for old in base.glob("kit-corpus-*"):
        try:
            if old.stat().st_mtime < time.time() - STALE_SECONDS:  # not a stopwatch: clean-up of old runs
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    root = base / f"kit-corpus-{run}"
    root.mkdir(exist_ok=True)
    return root, f"corpus-marker-{run}"


@cache
def graded_corpus(exhaustive: bool = False) -> Corpus:
    """Grade the corpus's sample (``corpus.sample``; every entry when ``exhaustive``) once per
    session (test_grader, test_parity and test_hosts share it)."""
    root, marker = shared_place()
    (root / "tmp").mkdir(exist_ok=True)
    # The grader's own temporary folders go under root too: a submission that kills the
    # grader leaves its sandbox folder behind.
    env = {"TMPDIR": str(root / "tmp")}
    return Corpus(grade_many(sample(exhaustive), root, marker, env), marker)


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
