"""How long grading one notebook takes: our grader, nbgrader, and the bare compute (run by hand).

    MNIST_DATA_DIR=... .venv/bin/python bench/grade_speed.py [--runs 7] [--markdown PATH]

Times whole processes (wall clock, start to exit), ``--runs`` times each, and reports
the medians:

(a) ``python -m autograder NOTEBOOK --results ...``: our grader on the solved notebook, with
    every isolation layer the host allows (the default);
(a') the same with isolation off: ``AUTOGRADER_NO_ISOLATION=1`` and ``--allow-unisolated``
    (what the layers cost; left out, with a note, when the grader has no such option);
(b) ``nbgrader autograde mnist_mlp --create --force`` of the same notebook as the one
    student of a scratch course (a temporary copy of ``source/`` and
    ``nbgrader_config.py``, with its own Jupyter and IPython directories);
(c) ``python bench/bare_training.py``: the tutorial's training run (first 1,000/1,000
    images, 20 epochs, seed 884736743) with the reference functions, nothing else.

Then it profiles (a): ``-X importtime`` (the heaviest top-level imports) and the
phases of one grading run, timed in-process with the grader's own functions.
The notebook is ``source/mnist_mlp/mnist_mlp.ipynb``; while that does not exist, a
stand-in is built (one code cell with ``solutions/network.py``, and a notebook carrying
the graded cells' metadata for ``AUTOGRADER_ASSIGNMENT``), and (b) is skipped.
Every process gets ``OPENBLAS_NUM_THREADS=1`` (the grader's worker uses one thread
anyway; the wall times are the same here, and the other core stays free).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SOURCE_NOTEBOOK = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
CHECKS = REPOSITORY / "autograder" / "checks"
STUDENT = "benchmark_student"
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# The phases of one grading run, timed inside one process with the grader's own functions.
PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import numpy
mark("import numpy")
import pytest
mark("import pytest")
import autograder.cli, autograder.runner
mark("import autograder (cli, report, runner, sandbox, submission, worker)")
import autograder.checks.test_train
mark("import what the checks import (autograder.data, solutions.data: requests, tqdm)")
from pathlib import Path
from autograder.assignment import read_assignment
from autograder.report import grade, to_gradescope
from autograder.sandbox import Sandbox, become_subreaper
from autograder.submission import student_cells
become_subreaper()
assignment = read_assignment()
mark("read the assignment notebook")
cells = student_cells(Path(sys.argv[1]), assignment)
mark("read the submission")
with Sandbox(cells) as sandbox:
    sandbox._ensure_started("")
    mark("start the first student process (its layers, python -I -S, numpy) and run the cells")
    outcomes = autograder.runner.run_checks(sandbox)
    mark("run the checks under pytest (the checks' own time: see below)")
result = grade(assignment, outcomes, "visible")
json.dumps(to_gradescope(result))
mark("close the worker, score, results JSON")
checks = {}
for outcome in outcomes:
    checks[outcome.grade_id] = checks.get(outcome.grade_id, 0.0) + outcome.seconds
print(json.dumps({"marks": marks, "checks": checks, "score": result.score}))
"""


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(THREADS)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env.update(extra or {})
    return env


def timed(command: list[str], cwd: Path, env: dict[str, str], expect: tuple[int, ...] = (0,)) -> float:
    """Wall seconds of one whole process; fail loudly if it does not exit as expected."""
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode not in expect:
        raise RuntimeError(
            f"{' '.join(command)} exited {completed.returncode}\n{completed.stdout}\n{completed.stderr}"
        )
    return seconds


def interleaved(commands: dict[str, tuple], runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    """Run every command once per round, ``runs`` rounds: a load spike hits all of them alike.

    A command is ``(argv, cwd)`` or ``(argv, cwd, extra environment)``.
    """
    samples: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(runs):
        for label, (command, cwd, *extra) in commands.items():
            samples[label].append(timed(command, cwd, dict(env, **(extra[0] if extra else {}))))
    for label, times in samples.items():
        print(f"{label}: median {statistics.median(times):.2f} s, min {min(times):.2f} s "
              f"({' '.join(f'{t:.2f}' for t in times)})", flush=True)
    return samples


# ----------------------------------------------------------------------------- the notebook


def stand_in(folder: Path) -> tuple[Path, dict[str, str]]:
    """A solved notebook (one cell: the reference module) and an assignment notebook for it."""
    source = (REPOSITORY / "solutions" / "network.py").read_text()
    submission = {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                   "source": source}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    points = {"test_train_step": 30, "test_train": 20}
    graded = [
        {"cell_type": "code", "execution_count": None, "outputs": [], "source": "",
         "metadata": {"nbgrader": {"grade": True, "solution": False, "locked": True,
                                   "grade_id": check.stem, "points": points.get(check.stem, 10)}}}
        for check in sorted(CHECKS.glob("test_*.py"))
    ]
    assignment = dict(submission, cells=graded)
    (folder / "stand_in.ipynb").write_text(json.dumps(submission))
    (folder / "assignment.ipynb").write_text(json.dumps(assignment))
    return folder / "stand_in.ipynb", {"AUTOGRADER_ASSIGNMENT": str(folder / "assignment.ipynb")}


def scratch_course(folder: Path, notebook: Path, env: dict[str, str]) -> Path:
    """A temporary nbgrader course holding ``notebook`` as the submission of one student."""
    course = folder / "course"
    course.mkdir()
    shutil.copytree(REPOSITORY / "source", course / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "data"))
    shutil.copy(REPOSITORY / "nbgrader_config.py", course)
    timed([str(VENV_BIN / "nbgrader"), "generate_assignment", "mnist_mlp"], course, env)
    submitted = course / "submitted" / STUDENT / "mnist_mlp"
    submitted.mkdir(parents=True)
    shutil.copy(notebook, submitted / "mnist_mlp.ipynb")
    return course


def nbgrader_score(course: Path) -> float:
    with sqlite3.connect(course / "gradebook.db") as db:
        (score,) = db.execute("SELECT SUM(auto_score) FROM grade").fetchone()
    return float(score or 0)


# ----------------------------------------------------------------------------- profile


# Packages worth knowing the import cost of (cumulative, where the grading process first imports them).
WATCHED = ("numpy", "pytest", "autograder.cli", "autograder.runner", "autograder.checks.test_train",
           "solutions.data", "requests", "urllib3", "tqdm", "nbformat", "jsonschema", "matplotlib")


def import_costs(env: dict[str, str], runs: int = 3) -> list[tuple[str, float]]:
    """Cumulative import seconds (``-X importtime``, median) of what a grading run imports.

    ``python -X importtime -m autograder`` alone misses what the checks import: pytest
    captures the file descriptor the timings are written to while it collects. So this
    imports the grader and every check module the way a grading run does, in one process.
    """
    checks = ", ".join(f"autograder.checks.{path.stem}" for path in sorted(CHECKS.glob("test_*.py")))
    code = f"import autograder.cli, autograder.runner, {checks}"
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        completed = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPOSITORY,
                                   env=env, capture_output=True, text=True, check=True)
        for line in completed.stderr.splitlines():
            match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s+(\S+)$", line)
            if match and match.group(2) in WATCHED:
                samples.setdefault(match.group(2), []).append(int(match.group(1)) / 1e6)
    costs = [(name, statistics.median(samples[name])) for name in WATCHED if name in samples]
    return costs + [(name, 0.0) for name in WATCHED if name not in samples]


def phases(notebook: Path, env: dict[str, str], runs: int = 3) -> tuple[list[tuple[str, float]], dict]:
    """Median seconds of each phase of a grading run, and of each check module."""
    samples, checks = [], []
    for _ in range(runs):
        completed = subprocess.run([sys.executable, "-c", PHASES, str(notebook)], cwd=REPOSITORY,
                                   env=env, capture_output=True, text=True, check=True)
        data = json.loads(completed.stdout.strip().splitlines()[-1])
        marks = data["marks"]
        samples.append([(name, t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])])
        checks.append(data["checks"])
    names = [name for name, _ in samples[0]]
    medians = [(name, statistics.median(s[i][1] for s in samples)) for i, name in enumerate(names)]
    per_check = {key: statistics.median(c[key] for c in checks) for key in checks[0]}
    return medians, per_check


def startup(env: dict[str, str], runs: int = 5) -> dict[str, float]:
    """Bare interpreter start-up costs, for scale."""
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "python -c 'import pytest'": [sys.executable, "-c", "import pytest"],
    }
    return {label: statistics.median(timed(command, REPOSITORY, env) for _ in range(runs))
            for label, command in commands.items()}


# ----------------------------------------------------------------------------- report


def unisolated_option(env: dict[str, str]) -> bool:
    """Whether this grader can be told to grade without isolation (``--allow-unisolated``)."""
    shown = subprocess.run([sys.executable, "-m", "autograder", "--help"], cwd=REPOSITORY, env=env,
                           capture_output=True, text=True)
    return "--allow-unisolated" in shown.stdout


def machine() -> dict[str, str]:
    import numpy

    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    nbgrader = subprocess.run([str(VENV_BIN / "nbgrader"), "--version"], capture_output=True,
                              text=True, env=environment()).stdout
    nbgrader_version = re.search(r"nbgrader version (\S+)", nbgrader)
    return {
        "nproc": str(os.cpu_count()),
        "CPU": model,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "NumPy": numpy.__version__,
        "nbgrader": nbgrader_version.group(1) if nbgrader_version else "not found",
    }


def markdown(info, runs, notebook, medians, samples, ratios, imports, phase_times, per_check, starts) -> str:
    lines = ["Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()) + ".", "",
             f"Notebook graded: `{notebook}`. {runs} rounds, each running (a), (b), (c) once in turn; "
             "wall seconds of the whole process.", "",
             "| what | median s | min s | runs (s) |", "|---|---|---|---|"]
    for label, times in samples.items():
        lines.append(f"| {label} | {medians[label]:.2f} | {min(times):.2f} | "
                     f"{' '.join(f'{t:.2f}' for t in times)} |")
    lines += ["", "| ratio | value | target |", "|---|---|---|"]
    lines += [f"| {label} | {value:.2f} | {target} |" for label, (value, target) in ratios.items()]
    if phase_times:
        lines += phase_lines(phase_times, per_check)
    lines += ["", "Import costs, cumulative (`-X importtime`, median of 3; 0 = not imported; a package "
              "imported inside another is counted in both):", "", "| module | s |", "|---|---|"]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in imports]
    lines += ["", "Interpreter start-up, for scale (median of 5):", "", "| command | s |", "|---|---|"]
    lines += [f"| `{label}` | {seconds:.3f} |" for label, seconds in starts.items()]
    return "\n".join(lines) + "\n"


def phase_lines(phase_times: list[tuple[str, float]], per_check: dict[str, float]) -> list[str]:
    lines = ["", "Phases of one run of our grader (median of 3, timed in-process):", "",
             "| phase | s |", "|---|---|"]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in phase_times]
    pytest_seconds = dict(phase_times)["run the checks under pytest (the checks' own time: see below)"]
    lines += ["", "Checks (pytest call time, summed per check module; the rest of the pytest phase, "
              f"{pytest_seconds - sum(per_check.values()):.3f} s, is pytest's own session, collection "
              "and fixtures):", "", "| check | s |", "|---|---|"]
    lines += [f"| {name} | {seconds:.3f} |"
              for name, seconds in sorted(per_check.items(), key=lambda item: -item[1])]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--notebook", type=Path, help="the solved notebook (default: the source notebook)")
    parser.add_argument("--stand-in", action="store_true",
                        help="grade the stand-in notebook (the reference module in one cell); skips nbgrader")
    parser.add_argument("--skip-nbgrader", action="store_true", help="do not time nbgrader autograde")
    parser.add_argument("--markdown", type=Path, default=REPOSITORY / "bench" / "grade_speed_results.md",
                        help="write the tables here (default: bench/grade_speed_results.md)")
    args = parser.parse_args(argv)
    if not os.environ.get("MNIST_DATA_DIR"):
        parser.error("set MNIST_DATA_DIR to a directory holding the four MNIST files")

    with tempfile.TemporaryDirectory(prefix="grade-speed-") as scratch:
        folder = Path(scratch)
        extra = {
            "JUPYTER_CONFIG_DIR": str(folder / "jupyter" / "config"),
            "JUPYTER_DATA_DIR": str(folder / "jupyter" / "data"),
            "IPYTHONDIR": str(folder / "ipython"),
        }
        notebook = args.notebook or SOURCE_NOTEBOOK
        if args.stand_in or (args.notebook is None and not SOURCE_NOTEBOOK.exists()):
            notebook, assignment_env = stand_in(folder)
            extra.update(assignment_env)
            args.skip_nbgrader = True
            print("grading the stand-in notebook (the reference module in one cell); nbgrader skipped")
        notebook = notebook.resolve()
        env = environment(extra)
        python = sys.executable
        commands = {
            "(a) python -m autograder": (
                [python, "-m", "autograder", str(notebook), "--results", str(folder / "results.json"), "-q"],
                REPOSITORY,
            ),
        }
        if unisolated_option(env):
            commands["(a') python -m autograder, isolation off"] = (
                [*commands["(a) python -m autograder"][0], "--allow-unisolated"], REPOSITORY,
                {"AUTOGRADER_NO_ISOLATION": "1"},
            )
        else:
            print("the grader has no --allow-unisolated option: (a') isolation off is not measured")
        if not args.skip_nbgrader:
            course = scratch_course(folder, notebook, env)
            commands["(b) nbgrader autograde"] = (
                [str(VENV_BIN / "nbgrader"), "autograde", "mnist_mlp", "--create", "--force"], course,
            )
        commands["(c) bare training run"] = ([python, str(REPOSITORY / "bench" / "bare_training.py")],
                                             REPOSITORY)
        samples = interleaved(commands, args.runs, env)
        score = json.loads((folder / "results.json").read_text())["score"]
        print(f"    our score: {score:g}" + ("" if args.skip_nbgrader else
                                             f", nbgrader's score: {nbgrader_score(course):g}"))
        medians = {label: statistics.median(times) for label, times in samples.items()}
        ours = medians["(a) python -m autograder"]
        ratios = {}
        if "(b) nbgrader autograde" in medians:
            ratios["ours / nbgrader"] = (ours / medians["(b) nbgrader autograde"], "<= 0.5")
        ratios["ours / bare"] = (ours / medians["(c) bare training run"], "<= 0.6")
        if "(a') python -m autograder, isolation off" in medians:
            off = medians["(a') python -m autograder, isolation off"]
            ratios["isolation off / bare"] = (off / medians["(c) bare training run"], "")
            ratios["isolation on / off"] = (ours / off, "")
        for label, (value, target) in ratios.items():
            print(f"{label}: {value:.2f} (target {target})")

        imports = import_costs(env)
        try:
            phase_times, per_check = phases(notebook, env)
        except subprocess.CalledProcessError as error:  # the profile uses the grader's internals
            print(f"phases not profiled: the in-process profile failed ({error.stderr.strip()[-300:]})")
            phase_times, per_check = [], {}
        starts = startup(env)
        print("phases:", ", ".join(f"{name} {seconds:.3f}" for name, seconds in phase_times))
        print("imports:", ", ".join(f"{name} {seconds:.3f}" for name, seconds in imports[:6]))
        text = markdown(machine(), args.runs, notebook.relative_to(REPOSITORY) if notebook.is_relative_to(
            REPOSITORY) else notebook, medians, samples, ratios, imports, phase_times, per_check, starts)
    args.markdown.write_text(text)
    print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
