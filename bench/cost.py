"""What grading costs, against the two budgets of issue 10, measured side by side (run by hand).

    MNIST_DATA_DIR=... .venv/bin/python bench/cost.py [--rounds 5] [--size 12] [--markdown PATH]
        [--baseline CHECKOUT]

Two ratios, each from commands run in turn in every round (so that a load spike from
something else on the machine hits both sides alike), medians over the rounds:

1. **one notebook**: ``python -m autograder source/mnist_mlp/mnist_mlp.ipynb`` as a whole
   process (wall clock, start to exit), isolation as it is by default, against
   ``python bench/bare_training.py`` (the tutorial's 20-epoch training run and nothing else).
   Budget: at most 0.6.
2. **a batch**: the CPU time (user + system) of everything it starts, sandboxes and processes
   that outlive the batch included (a control group per command, as root) of
   ``python -m autograder batch mnist_mlp --jobs 1 --force`` on a class of ``--size``
   notebooks (``scripts/make_demo_class.py``: correct ones and typical mistakes), against the
   CPU time of grading the same notebooks one by one with ``python -m autograder NOTEBOOK``.
   Budget: at most 1.2.

With ``--baseline CHECKOUT`` (another checkout of the kit, e.g. ``git worktree add /tmp/base
04ac3dd``), two more ratios, its commands run in the same rounds with this interpreter and the
checkout first on ``PYTHONPATH``, each on a class that checkout's own ``make_demo_class.py``
builds: the batch's CPU per submission against the baseline's, and the baseline's one-notebook
ratio beside this one's.

Writes ``bench/cost_results.md`` with the date, the commit (``git rev-parse --short HEAD``,
marked "+ uncommitted changes" when the tree differs from it) and the machine. Every process
gets ``OPENBLAS_NUM_THREADS=1``. About a minute per round with the default size.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
BUDGETS = {"one notebook / bare training (wall)": 0.6, "batch / one by one (CPU)": 1.2}


def load(name: str):
    """A module of this checkout's ``bench/``."""
    return load_from(REPOSITORY, name)


def commit_of(checkout: Path) -> str:
    """The short commit of another checkout."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True,
                          text=True).stdout.strip() or str(checkout)


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY, capture_output=True,
                          text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPOSITORY,
                           capture_output=True, text=True).stdout.strip()
    return f"{head} + uncommitted changes" if dirty else head


def load_from(checkout: Path, name: str):
    path = checkout / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_of_{checkout.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def baseline_commands(checkout: Path, size: int, folder: Path) -> dict:
    """The baseline's course, environment and commands (its code first on ``PYTHONPATH``)."""
    batch_speed = load_from(checkout, "batch_speed")
    env = batch_speed.environment(folder) | {"PYTHONPATH": str(checkout)}
    course, students = batch_speed.build_course(folder, size, env)
    python, source = sys.executable, checkout / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
    return {"env": env, "course": course, "students": len(students),
            "single": [python, "-m", "autograder", str(source), "--results", str(folder / "r.json"), "-q"],
            "batch": [python, "-m", "autograder", "batch", "mnist_mlp", "--jobs", "1", "--force"]}


def measure(rounds: int, size: int, folder: Path, baseline: Path | None = None) -> dict[str, list[float]]:
    batch_speed = load("batch_speed")
    run = batch_speed.run
    env = batch_speed.environment(folder)
    course, students = batch_speed.build_course(folder, size, env)
    base = baseline_commands(baseline, size, folder / "baseline") if baseline else None
    notebooks = [next((course / "submitted" / s / "mnist_mlp").glob("*.ipynb")) for s in students]
    python, assignment = sys.executable, course / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
    single = [python, "-m", "autograder", str(SOURCE), "--results", str(folder / "r.json"), "-q"]
    bare = [python, str(REPOSITORY / "bench" / "bare_training.py")]
    batch = [python, "-m", "autograder", "batch", "mnist_mlp", "--jobs", "1", "--force"]
    keys = ["single", "bare", "batch cpu", "one by one cpu"]
    keys += ["baseline single", "baseline batch cpu"] if base else []
    samples: dict[str, list[float]] = {key: [] for key in keys}
    for round_ in range(rounds):
        samples["single"].append(run(single, REPOSITORY, env, (0, 1))[0])
        samples["bare"].append(run(bare, REPOSITORY, env)[0])
        samples["batch cpu"].append(run(batch, course, env, (0, 1))[1])
        if base:
            samples["baseline single"].append(run(base["single"], baseline, base["env"], (0, 1))[0])
            samples["baseline batch cpu"].append(run(base["batch"], base["course"], base["env"], (0, 1))[1])
        samples["one by one cpu"].append(sum(
            run([python, "-m", "autograder", str(nb), "--assignment", str(assignment), "-q"], course, env,
                (0, 1))[1] for nb in notebooks))
        print(f"round {round_ + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in samples.items()),
              flush=True)
    return samples


def markdown(samples: dict[str, list[float]], ratios: dict[str, float], rounds: int, size: int,
             baseline: str = "") -> str:
    batch_speed = load("batch_speed")
    info = batch_speed.machine()
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    option = f" --baseline {baseline}" if baseline else ""
    command = f"bench/cost.py --rounds {rounds} --size {size}{option}"
    lines = [f"Measured {today} at commit {commit()} with `{command}`.",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + f"; load average before: "
             f"{os.getloadavg()[0]:.2f}.", f"CPU counted by {batch_speed.cpu_counter()}.",
             "", "| measured | median s | runs (s) |", "|---|---|---|"]
    labels = {"single": "`python -m autograder` on the solved notebook, wall",
              "bare": "`bench/bare_training.py`, wall",
              "batch cpu": f"`batch --jobs 1` of {size} notebooks, CPU",
              "one by one cpu": f"the same {size} notebooks one by one, CPU (sum)",
              "baseline single": "the baseline's `python -m autograder` on its solved notebook, wall",
              "baseline batch cpu": f"the baseline's `batch --jobs 1` of its {size} notebooks, CPU"}
    for key, values in samples.items():
        lines.append(f"| {labels[key]} | {statistics.median(values):.2f} | "
                     f"{' '.join(f'{v:.2f}' for v in values)} |")
    lines += ["", "| ratio of medians | value | budget |", "|---|---|---|"]
    lines += [f"| {name} | **{value:.2f}** | {f'<= {BUDGETS[name]}' if name in BUDGETS else ''} |"
              for name, value in ratios.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=12, help="notebooks in the class (default 12)")
    parser.add_argument("--markdown", type=Path, default=REPOSITORY / "bench" / "cost_results.md")
    parser.add_argument("--baseline", type=Path, help="another checkout of the kit, measured side by side")
    args = parser.parse_args(argv)
    if not os.environ.get("MNIST_DATA_DIR"):
        parser.error("set MNIST_DATA_DIR to a directory holding the four MNIST files")
    with tempfile.TemporaryDirectory(prefix="cost-") as scratch:
        samples = measure(args.rounds, args.size, Path(scratch), args.baseline)
    median = {key: statistics.median(values) for key, values in samples.items()}
    ratios = {"one notebook / bare training (wall)": median["single"] / median["bare"],
              "batch / one by one (CPU)": median["batch cpu"] / median["one by one cpu"]}
    if args.baseline:
        ratios["batch CPU per submission / the baseline's"] = (
            median["batch cpu"] / median["baseline batch cpu"])
        ratios["the baseline's one notebook / bare training (wall)"] = (
            median["baseline single"] / median["bare"])
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}" + (f" (budget <= {BUDGETS[name]})" if name in BUDGETS else ""))
    baseline = commit_of(args.baseline) if args.baseline else ""
    args.markdown.write_text(markdown(samples, ratios, args.rounds, args.size, baseline))
    print(f"wrote {args.markdown}")
    return 0 if all(value <= BUDGETS[name] for name, value in ratios.items() if name in BUDGETS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
