"""Throughput of a class graded on one machine: the local batch and Dask, side by side (run by hand).

    MNIST_DATA_DIR=... .venv/bin/python bench/cluster_speed.py [--size 500] [--rounds 1] [--markdown PATH]

Builds a scratch course (``bench/batch_speed.py``'s) and a synthetic class of ``--size``
submissions: the grader's corpus (``tests/corpus``: every entry, correct, mistaken, hostile,
tampering and broken, in its order), repeated, each copy made distinct (its number in the
notebook's metadata; a file that is not JSON gets trailing blank lines), so that every
submission is graded and none is a copy the Dask engine could grade once for two. Then, in
rounds, each command in turn, whole processes timed, the CPU time of everything they start
counted in a control group (``batch_speed.run``):

(a) ``batch --jobs 2 --force``: this machine's grading processes, two at a time;
(b) ``batch --cluster local --workers 2 --force``: a Dask LocalCluster of two single-thread
    workers started by the batch, each with its grading server;
(c) the client's share: ``batch`` with every record current but the gradebook and the pages
    gone (they are written again: what the batch's own process does per submission);
(d) ``batch`` with nothing to do (every record, entry and page current): the client's fixed cost;
(e) one submission alone: ``python -m autograder`` on the reference notebook.

The class uses the corpus's limits for hostile code (``--call-timeout 10 --timeout 60``). Every
command runs a snapshot of the kit (``autograder/`` and ``solutions/`` copied when the bench
starts, first on ``PYTHONPATH``), so that edits made meanwhile in the checkout change no
grader's version: the client-only run must find every record current.
Reports seconds, submissions per core-second (``size / (wall x 2 cores)``), CPU seconds per
submission, and what 10,000 submissions would take on 100 cores from those figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from cost import REPOSITORY, commit, load

sys.path.insert(0, str(REPOSITORY / "tests"))
from corpus import ENTRIES as ALL_ENTRIES  # noqa: E402 - the tests' corpus, found above
from corpus import HOSTILE_LIMITS, build  # noqa: E402

speed = load("batch_speed")
ASSIGNMENT, CORES = "mnist_mlp", 2
ENTRIES = [entry for entry in ALL_ENTRIES if entry.assignment == ASSIGNMENT]
BIG_CLASS, BIG_CLUSTER = 10_000, 100


def synthetic_class(course: Path, size: int) -> list[str]:
    """``size`` students, the corpus's entries in turn, every file distinct; their ids."""
    students = []
    for number in range(size):
        entry = ENTRIES[number % len(ENTRIES)]
        student = f"{number:05d}-{entry.name}"
        notebook = course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        notebook.parent.mkdir(parents=True)
        build(entry, notebook, {"MARKER": f"bench-{os.getpid()}"})
        content = notebook.read_bytes()
        try:
            data = json.loads(content)
            data.setdefault("metadata", {})["synthetic_copy"] = number
            notebook.write_text(json.dumps(data, indent=1), encoding="utf-8")
        except (ValueError, AttributeError, TypeError, RecursionError):
            notebook.write_bytes(content + b"\n" * (number // len(ENTRIES) + 1))
        students.append(student)
    return students


Samples = dict[str, list[tuple[float, float]]]


def measure(course: Path, size: int, rounds: int, env: dict[str, str]) -> Samples:
    """(wall, CPU) seconds of each command, per round, the commands in turn."""
    batch = [sys.executable, "-m", "autograder", "batch", ASSIGNMENT, "-q", *HOSTILE_LIMITS]
    commands = {
        "local batch, --jobs 2": [*batch, "--jobs", "2", "--force"],
        "Dask LocalCluster, 2 workers": [*batch, "--cluster", "local", "--workers", "2", "--force"],
    }
    samples: Samples = {name: [] for name in [*commands, "client only", "nothing to do", "one"]}
    reference = REPOSITORY / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    for round_ in range(rounds):
        for name, command in commands.items():
            wall, cpu = speed.run(command, course, env, expect=(0, 1))
            samples[name].append((wall, cpu))
            print(f"round {round_ + 1}: {name}: {wall:.1f} s, {cpu:.1f} CPU s", file=sys.stderr)
        (course / "gradebook.db").unlink()
        shutil.rmtree(course / "feedback")
        samples["client only"].append(speed.run([*batch, "--jobs", "2"], course, env, expect=(0, 1)))
        samples["nothing to do"].append(speed.run([*batch, "--jobs", "2"], course, env, expect=(0, 1)))
        single = [sys.executable, "-m", "autograder", str(reference), "-q", "--assignment", str(reference)]
        samples["one"].append(speed.run(single, course, env))
    return samples


def figures(samples: Samples, size: int) -> dict[str, dict[str, float]]:
    """Medians, and what they give per submission."""
    found = {}
    for name, pairs in samples.items():
        wall, cpu = statistics.median(w for w, _ in pairs), statistics.median(c for _, c in pairs)
        count = 1 if name == "one" else size
        found[name] = {"wall": wall, "cpu": cpu, "per_core_second": count / (wall * CORES),
                       "cpu_each": cpu / count, "wall_each": wall / count}
    return found


def estimate(found: dict[str, dict[str, float]], size: int) -> dict[str, float]:
    """10,000 submissions on 100 worker cores, from the measured costs: the workers' share (the
    Dask run less the client's) spread over them, and the client's share per submission (the
    client-only run less its fixed cost) on the client's two cores, whichever is longer."""
    client = found["client only"]["cpu"] - found["nothing to do"]["cpu"]
    grading = (found["Dask LocalCluster, 2 workers"]["cpu"] - found["client only"]["cpu"]) / size
    workers = BIG_CLASS * grading / BIG_CLUSTER
    client_seconds = BIG_CLASS * client / size / CORES
    return {"grading_cpu_each": grading, "client_cpu_each": client / size, "workers_seconds": workers,
            "client_seconds": client_seconds, "total_seconds": max(workers, client_seconds),
            "core_hours": BIG_CLASS * grading / 3600}


def markdown(found: dict[str, dict[str, float]], size: int, rounds: int, load_before: float) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    big = estimate(found, size)
    bound = "client" if big["client_seconds"] > big["workers_seconds"] else "workers"
    rows = [f"| {name} | {f['wall']:.1f} | {f['cpu']:.1f} | {f['per_core_second']:.3f} | "
            f"{f['cpu_each']:.2f} |" for name, f in found.items() if name != "one"]
    one = found["one"]
    return "\n".join([
        "# A class of the corpus, graded on one machine: the local batch and Dask",
        "",
        f"Measured {now} at commit {commit()} with `bench/cluster_speed.py --size {size} --rounds {rounds}`.",
        f"Machine: {os.cpu_count()} cores, python {platform.python_version()}, load average before "
        f"{load_before:.2f}; CPU time counted by {speed.cpu_counter()}.",
        "",
        f"{size} submissions (the corpus, {len(ENTRIES)} entries, repeated, each copy distinct). Medians "
        f"of {rounds} round(s).",
        "",
        "| command | wall s | CPU s | submissions per core-second | CPU s per submission |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"One submission alone (`python -m autograder` on the reference, whole process): {one['wall']:.2f} s,"
        f" {one['cpu']:.2f} CPU s.",
        "",
        f"10,000 submissions on 100 cores: grading takes {big['grading_cpu_each']:.2f} CPU s each (the Dask "
        f"run less the client-only run), {big['core_hours']:.1f} core-hours, "
        f"{big['workers_seconds'] / 60:.1f} min on 100 workers; the client's work, "
        f"{big['client_cpu_each']:.3f} CPU s each (less its fixed cost), {big['client_seconds'] / 60:.1f} "
        "min on its two cores; so about "
        f"{big['total_seconds'] / 60:.0f} min, bound by the {bound}.",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="write the results here as Markdown")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cluster-speed-") as scratch:
        env = speed.environment(Path(scratch))
        for package in ("autograder", "solutions"):
            shutil.copytree(REPOSITORY / package, Path(scratch) / "kit" / package,
                            ignore=shutil.ignore_patterns("__pycache__"))
        env["PYTHONPATH"] = str(Path(scratch) / "kit")
        course = Path(scratch) / "course"
        course.mkdir()
        shutil.copytree(REPOSITORY / "source", course / "source",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "data", "__pycache__"))
        shutil.copy2(REPOSITORY / "nbgrader_config.py", course)
        synthetic_class(course, args.size)
        found = figures(measure(course, args.size, args.rounds, env), args.size)
    text = markdown(found, args.size, args.rounds, load_before)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
