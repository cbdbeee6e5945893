"""What grading costs, against the two budgets of issue 10, measured side by side (run by hand).

    MNIST_DATA_DIR=... .venv/bin/python bench/cost.py [--rounds 5] [--size 12] [--markdown PATH]

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
    spec = importlib.util.spec_from_file_location(name, REPOSITORY / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPOSITORY, capture_output=True,
                          text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPOSITORY,
                           capture_output=True, text=True).stdout.strip()
    return f"{head} + uncommitted changes" if dirty else head


def measure(rounds: int, size: int, folder: Path) -> dict[str, list[float]]:
    batch_speed = load("batch_speed")
    run = batch_speed.run
    env = batch_speed.environment(folder)
    course, students = batch_speed.build_course(folder, size, env)
    notebooks = [next((course / "submitted" / s / "mnist_mlp").glob("*.ipynb")) for s in students]
    python, assignment = sys.executable, course / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
    single = [python, "-m", "autograder", str(SOURCE), "--results", str(folder / "r.json"), "-q"]
    bare = [python, str(REPOSITORY / "bench" / "bare_training.py")]
    batch = [python, "-m", "autograder", "batch", "mnist_mlp", "--jobs", "1", "--force"]
    samples: dict[str, list[float]] = {key: [] for key in ("single", "bare", "batch cpu", "one by one cpu")}
    for round_ in range(rounds):
        samples["single"].append(run(single, REPOSITORY, env, (0, 1))[0])
        samples["bare"].append(run(bare, REPOSITORY, env)[0])
        samples["batch cpu"].append(run(batch, course, env, (0, 1))[1])
        samples["one by one cpu"].append(sum(
            run([python, "-m", "autograder", str(nb), "--assignment", str(assignment), "-q"], course, env,
                (0, 1))[1] for nb in notebooks))
        print(f"round {round_ + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in samples.items()),
              flush=True)
    return samples


def markdown(samples: dict[str, list[float]], ratios: dict[str, float], rounds: int, size: int) -> str:
    batch_speed = load("batch_speed")
    info = batch_speed.machine()
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Measured {today} at commit {commit()} with `bench/cost.py --rounds {rounds} --size {size}`.",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + f"; load average before: "
             f"{os.getloadavg()[0]:.2f}.", f"CPU counted by {batch_speed.cpu_counter()}.",
             "", "| measured | median s | runs (s) |", "|---|---|---|"]
    labels = {"single": "`python -m autograder` on the solved notebook, wall",
              "bare": "`bench/bare_training.py`, wall",
              "batch cpu": f"`batch --jobs 1` of {size} notebooks, CPU",
              "one by one cpu": f"the same {size} notebooks one by one, CPU (sum)"}
    for key, values in samples.items():
        lines.append(f"| {labels[key]} | {statistics.median(values):.2f} | "
                     f"{' '.join(f'{v:.2f}' for v in values)} |")
    lines += ["", "| ratio of medians | value | budget |", "|---|---|---|"]
    lines += [f"| {name} | **{value:.2f}** | <= {BUDGETS[name]} |" for name, value in ratios.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=12, help="notebooks in the class (default 12)")
    parser.add_argument("--markdown", type=Path, default=REPOSITORY / "bench" / "cost_results.md")
    args = parser.parse_args(argv)
    if not os.environ.get("MNIST_DATA_DIR"):
        parser.error("set MNIST_DATA_DIR to a directory holding the four MNIST files")
    with tempfile.TemporaryDirectory(prefix="cost-") as scratch:
        samples = measure(args.rounds, args.size, Path(scratch))
    median = {key: statistics.median(values) for key, values in samples.items()}
    ratios = {"one notebook / bare training (wall)": median["single"] / median["bare"],
              "batch / one by one (CPU)": median["batch cpu"] / median["one by one cpu"]}
    for name, value in ratios.items():
        print(f"{name}: {value:.2f} (budget <= {BUDGETS[name]})")
    args.markdown.write_text(markdown(samples, ratios, args.rounds, args.size))
    print(f"wrote {args.markdown}")
    return 0 if all(value <= BUDGETS[name] for name, value in ratios.items()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
