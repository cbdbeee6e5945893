"""How long grading a whole class takes: ``batch --jobs 2``, ``batch --jobs 1``, ``nbgrader autograde``.

    MNIST_DATA_DIR=... .venv/bin/python bench/batch_speed.py [--size 12] [--rounds 3] [--markdown PATH]

Builds a scratch course (a copy of ``source/`` and ``nbgrader_config.py`` with its own
Jupyter and IPython directories; ``nbgrader generate_assignment mnist_mlp`` run once) and a
class of ``--size`` notebooks with ``scripts/make_demo_class.py`` (correct ones and typical
mistakes, in turn; no file that loops or is not a notebook, which nbgrader could not grade
in bounded time). Then, in rounds, times each whole process from start to exit:

(a) ``nbgrader autograde mnist_mlp --force``: nbgrader, one notebook after another;
(b) ``python -m autograder batch mnist_mlp --jobs 1 --force``;
(c) ``python -m autograder batch mnist_mlp --jobs 2 --force``;
(d) (b) and (c) for the first third of the class only (``--student ...``), so that a line
    through the two class sizes separates the fixed cost of a run from the cost per
    submission;
(e) ``python -m autograder batch mnist_mlp``: a rerun with nothing to grade.

Reports medians, the ratios the targets are about, and the time 300 and 3,000 submissions
would take from the fitted lines. Every process gets ``OPENBLAS_NUM_THREADS=1``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
ASSIGNMENT = "mnist_mlp"
VARIANTS = ["reference", "typed", "relu2deriv_greater_or_equal", "train_step_not_in_place",
            "evaluate_keeps_dropout_scale", "dropout_global_state"]
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
CLASS_SIZES = (300, 3000)


def environment(folder: Path) -> dict[str, str]:
    """Jupyter and IPython directories inside ``folder``; the venv's bin/ first on PATH."""
    env = dict(os.environ)
    env.update(THREADS)
    env.update(
        JUPYTER_CONFIG_DIR=str(folder / "jupyter" / "config"),
        JUPYTER_DATA_DIR=str(folder / "jupyter" / "data"),
        IPYTHONDIR=str(folder / "jupyter" / "ipython"),
        MPLBACKEND="Agg",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("JUPYTER_PATH", None)
    return env


def build_course(folder: Path, size: int, env: dict[str, str]) -> tuple[Path, list[str]]:
    """A scratch course with its gradebook and a class of ``size`` students; returns (course, students)."""
    course = folder / "course"
    course.mkdir(parents=True)
    shutil.copytree(REPOSITORY / "source", course / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "data", "__pycache__"))
    shutil.copy2(REPOSITORY / "nbgrader_config.py", course / "nbgrader_config.py")
    run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course, env)
    script = REPOSITORY / "scripts" / "make_demo_class.py"
    spec = importlib.util.spec_from_file_location("make_demo_class", script)
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    copies = -(-size // len(VARIANTS))
    students = list(demo.build_class(course, VARIANTS, copies))
    for student in students[size:]:
        shutil.rmtree(course / "submitted" / student)
    return course, sorted(students[:size])


PR_SET_CHILD_SUBREAPER = 36
CPUACCT_V1 = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1's CPU accounting hierarchy
CGROUP_V2 = Path("/sys/fs/cgroup")


class CpuGroup:
    """A control group made for one measured command, which counts the CPU time of every
    process in it. The kernel's per-process accounting (``getrusage``) misses processes that
    are never waited for by their parent chain (a sandbox's init in its own PID namespace, a
    forkserver that ends after its parent); a group misses nothing that stays in it. Needs
    root; ``None`` from ``make`` where no group can be made."""

    def __init__(self, folder: Path, usage: Path, per_second: float) -> None:
        self.folder, self.usage, self.per_second = folder, usage, per_second

    @classmethod
    def make(cls) -> CpuGroup | None:
        name = f"bench-cpu-{os.getpid()}"
        try:
            if (CPUACCT_V1 / "cpuacct.usage").exists():
                (CPUACCT_V1 / name).mkdir(exist_ok=True)
                return cls(CPUACCT_V1 / name, CPUACCT_V1 / name / "cpuacct.usage", 1e9)
            if (CGROUP_V2 / "cgroup.controllers").exists():
                (CGROUP_V2 / name).mkdir(exist_ok=True)
                return cls(CGROUP_V2 / name, CGROUP_V2 / name / "cpu.stat", 1e6)
        except OSError:
            return None
        return None

    def enter(self) -> None:
        """Move the calling process (a command about to start) into the group."""
        (self.folder / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        text = self.usage.read_text()
        if self.usage.name == "cpu.stat":
            text = dict(line.split() for line in text.splitlines())["usage_usec"]
        return int(text) / self.per_second

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.folder.rmdir()


def adopt_orphans() -> None:
    """Become the subreaper of every process started from here on: one that outlives its
    parent (a batch's forkserver ends just after the batch) is then waited for here."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_orphans() -> None:
    """Wait until every process adopted from the command just run has ended."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def cpu_counter() -> str:
    """How ``run`` counts CPU time on this machine (for the results' header)."""
    group = CpuGroup.make()
    if group is None:
        return "getrusage of the process tree (no control group could be made: sandboxes are undercounted)"
    group.remove()
    return f"a control group per command ({group.usage.name}): every process, sandboxes included"


def run(
    command: list[str], cwd: Path, env: dict[str, str], expect: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    """Run a whole process; its wall time (to its exit) and the CPU time (user + system) of
    everything it started, until the last of them ended, in seconds (see ``CpuGroup``)."""
    adopt_orphans()
    group = CpuGroup.make()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                             preexec_fn=group.enter if group else None)
    seconds = time.perf_counter() - started
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if group is not None:
        cpu = group.seconds()
        group.remove()
    else:
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if process.returncode not in expect:
        raise SystemExit(f"{' '.join(command)} exited with {process.returncode}\n{process.stderr[-3000:]}")
    return seconds, cpu


def batch(*args: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "batch", ASSIGNMENT, "-q", *args]


def measure(course: Path, students: list[str], rounds: int, env: dict[str, str], skip_nbgrader: bool) -> dict:
    """Every command once per round, in turn, so that load from elsewhere hits them alike."""
    small = students[: max(2, len(students) // 3)]
    only_small = [arg for student in small for arg in ("--student", student)]
    commands = {
        "nbgrader autograde": [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"],
        "batch --jobs 1": batch("--jobs", "1", "--force"),
        "batch --jobs 2": batch("--jobs", "2", "--force"),
        "batch --jobs 1 (small)": batch("--jobs", "1", "--force", *only_small),
        "batch --jobs 2 (small)": batch("--jobs", "2", "--force", *only_small),
        "batch rerun, nothing to grade": batch(),
    }
    if skip_nbgrader:
        del commands["nbgrader autograde"]
    samples: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    loads = []
    for round_ in range(rounds):
        for name, command in commands.items():
            loads.append(os.getloadavg()[0])
            wall, used = run(command, course, env, expect=(0, 1))
            samples[name].append(wall)
            cpu[name].append(used)
            print(f"round {round_ + 1}/{rounds}: {name}: {wall:.2f} s wall, {used:.2f} s CPU",
                  file=sys.stderr)
    return {"samples": samples, "cpu": cpu, "small": len(small), "loads": loads,
            "parallel_ceiling": parallel_ceiling()}


BURN = "s = 0\nfor i in range(15_000_000):\n    s += i\n"


def parallel_ceiling(rounds: int = 3) -> float:
    """How much faster two CPU-bound processes finish than one after the other, on this machine:
    2 x (one alone) / (two at once). 2.0 on two free cores; less when they share a core or
    something else runs."""
    ratios = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", BURN], check=True)
        alone = time.perf_counter() - started
        started = time.perf_counter()
        pair = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
        for process in pair:
            process.wait()
        ratios.append(2 * alone / (time.perf_counter() - started))
    return statistics.median(ratios)


def fit(small: int, large: int, t_small: float, t_large: float) -> tuple[float, float]:
    """(fixed seconds, seconds per submission) of the line through two class sizes."""
    per = (t_large - t_small) / (large - small)
    return t_small - small * per, per


def summarise(values: dict[str, list[float]], how) -> dict[str, float]:
    return {name: how(samples) for name, samples in values.items()}


def lines_through(times: dict[str, float], small: int, size: int) -> dict[str, tuple[float, float]]:
    """Per number of jobs, (fixed, per submission) of the line through the small and the whole class."""
    lines = {}
    for jobs in (1, 2):
        name = f"batch --jobs {jobs}"
        lines[name] = fit(small, size, times[f"{name} (small)"], times[name])
    return lines


def analyse(measured: dict, size: int) -> dict:
    """Medians and minima, ratios, fitted lines, and estimates for bigger classes."""
    result: dict = {"size": size, "cores": os.cpu_count()}
    for label, how in (("median", statistics.median), ("min", min)):
        times = summarise(measured["samples"], how)
        lines = lines_through(times, measured["small"], size)
        summary = {
            "wall_s": times,
            "speedup_whole": times["batch --jobs 1"] / times["batch --jobs 2"],
            "speedup_per_submission": lines["batch --jobs 1"][1] / lines["batch --jobs 2"][1],
            "lines": {name: {"fixed_s": a, "per_submission_s": b} for name, (a, b) in lines.items()},
            "estimates_s": {name: {n: a + n * b for n in CLASS_SIZES} for name, (a, b) in lines.items()},
        }
        if "nbgrader autograde" in times:
            nbgrader = times["nbgrader autograde"]
            summary["vs_nbgrader"] = times["batch --jobs 2"] / nbgrader
            summary["estimates_s"]["nbgrader autograde"] = {n: nbgrader / size * n for n in CLASS_SIZES}
        result[label] = summary
    cpu = summarise(measured["cpu"], statistics.median)
    result["cpu_s"] = cpu
    result["cpu_per_submission_s"] = fit(
        measured["small"], size, cpu["batch --jobs 1 (small)"], cpu["batch --jobs 1"])[1]
    return result


def machine() -> dict[str, str]:
    import nbgrader
    import numpy

    return {
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "nbgrader": nbgrader.__version__,
        "platform": platform.platform(),
    }


def markdown(result: dict, measured: dict, info: dict, rounds: int) -> str:
    """The results as Markdown tables."""
    median, least, loads = result["median"], result["min"], measured["loads"]
    lines = [
        f"{result['size']} submissions ({measured['small']} for the small runs), {rounds} rounds; "
        "seconds, whole processes; CPU is user + system time of the whole process tree.",
        f"Machine: {info['cores']} cores, {info['platform']}, Python {info['python']}, "
        f"NumPy {info['numpy']}, nbgrader {info['nbgrader']}; load average before the runs "
        f"{min(loads):.1f} to {max(loads):.1f}.",
        "",
        "| command | median | min | runs | CPU (median) |",
        "|---|---|---|---|---|",
        *[f"| {name} | **{median['wall_s'][name]:.2f}** | {least['wall_s'][name]:.2f} | "
          f"{' '.join(f'{v:.2f}' for v in values)} | {result['cpu_s'][name]:.2f} |"
          for name, values in measured["samples"].items()],
        "",
        "| ratio | of medians | of minima | target |",
        "|---|---|---|---|",
    ]
    if "vs_nbgrader" in median:
        lines.append(f"| batch --jobs 2 / nbgrader autograde | **{median['vs_nbgrader']:.2f}** | "
                     f"{least['vs_nbgrader']:.2f} | <= 0.33 |")
    lines += [
        f"| batch --jobs 1 / --jobs 2, whole process | **{median['speedup_whole']:.2f}** | "
        f"{least['speedup_whole']:.2f} | close to 2 |",
        f"| same, per submission (fitted) | **{median['speedup_per_submission']:.2f}** | "
        f"{least['speedup_per_submission']:.2f} | close to 2 |",
        f"| this machine's ceiling: two CPU-bound processes at once / one after the other | "
        f"{measured['parallel_ceiling']:.2f} | | |",
        "",
        "| fitted line (medians) | fixed cost | per submission |",
        "|---|---|---|",
        *[f"| {name} | {line['fixed_s']:.2f} s | {line['per_submission_s']:.3f} s |"
          for name, line in median["lines"].items()],
        f"| CPU per submission | | {result['cpu_per_submission_s']:.3f} s |",
        "",
        "| estimate (medians; minima) | 300 submissions | 3,000 submissions |",
        "|---|---|---|",
        *[f"| {name} | {seconds[300] / 60:.1f} min; {least['estimates_s'][name][300] / 60:.1f} min | "
          f"{seconds[3000] / 3600:.2f} h; {least['estimates_s'][name][3000] / 3600:.2f} h |"
          for name, seconds in median["estimates_s"].items()],
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=12, help="submissions in the class (default 12)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every command (default 3)")
    parser.add_argument("--skip-nbgrader", action="store_true", help="do not time nbgrader autograde")
    parser.add_argument("--markdown", type=Path, help="also write the results as Markdown here")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not os.environ.get("MNIST_DATA_DIR"):
        parser.error("set MNIST_DATA_DIR to a directory holding the four MNIST files")
    with tempfile.TemporaryDirectory(prefix="batch-speed-") as scratch:
        env = environment(Path(scratch))
        course, students = build_course(Path(scratch), args.size, env)
        measured = measure(course, students, args.rounds, env, args.skip_nbgrader)
    result = analyse(measured, args.size)
    text = markdown(result, measured, machine(), args.rounds)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({"result": result, **measured}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
