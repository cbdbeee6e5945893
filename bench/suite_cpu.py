"""Where the test suite's time goes: the CPU time of each test module, run alone (run by hand).

    MNIST_DATA_DIR=... .venv/bin/python bench/suite_cpu.py [--markdown PATH] [MODULE ...]

Each module (``tests/sandbox`` counts as one; ``tests/course`` is module by module) runs as
``pytest -q -p no:cacheprovider MODULE`` in a process of its own, one after another, with the
CPU time of everything it starts counted in a control group (``bench/batch_speed.py``'s
``run``: sandboxes and forkservers included).
``test_grader.py`` and ``test_parity.py`` run together, as in the suite: they share the
corpus, graded once. The sum overstates the whole suite's CPU a little: a module run alone builds
the session's shared fixtures (the graded corpus, the hosts' staged venvs) for itself.

Writes ``bench/suite_cpu_results.md`` with the date and the commit. About 10 minutes here.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

from cost import REPOSITORY, commit, load

TOGETHER = ("tests/test_grader.py", "tests/test_parity.py")  # they share the graded corpus
CORES = 2


def modules() -> list[str]:
    """Every test module of the suite, the sandbox's tests as one, the two sharing the corpus together."""
    found = sorted(str(path.relative_to(REPOSITORY)) for pattern in ("test_*.py", "course/test_*.py")
                   for path in (REPOSITORY / "tests").glob(pattern))
    rest = [module for module in found if module not in TOGETHER]
    return [" ".join(TOGETHER), *rest, "tests/sandbox"]


def measure(module: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``module`` run alone; stops with pytest's output if it fails."""
    run = load("batch_speed").run
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *module.split()]
    return run(command, REPOSITORY, env)


def markdown(rows: list[tuple[str, float, float]], load_before: float) -> str:
    total = sum(cpu for _, _, cpu in rows)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    by_cpu = sorted(rows, key=lambda row: -row[2])
    lines = [
        "# The test suite's CPU time, module by module",
        "",
        f"Measured {now} at commit {commit()} with `bench/suite_cpu.py`: each module alone, one after",
        f"another. Machine: cores {os.cpu_count()}, python {platform.python_version()}; load average before:",
        f"{load_before:.2f}.",
        "",
        "| module | CPU s | wall s |",
        "|---|---|---|",
        *(f"| `{module}` | {cpu:.1f} | {wall:.1f} |" for module, wall, cpu in by_cpu),
        f"| **all** | **{total:.1f}** | {sum(wall for _, wall, _ in rows):.1f} |",
        "",
        f"Half the sum, {total / CORES:.0f} s ({total / CORES / 60:.1f} minutes), is about what {CORES} idle "
        "cores need for the whole suite; a little less, as modules run alone each build the session's "
        "shared fixtures.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="test modules (default: the whole suite)")
    parser.add_argument("--markdown", type=Path, default=REPOSITORY / "bench" / "suite_cpu_results.md")
    args = parser.parse_args(argv)
    if not os.environ.get("MNIST_DATA_DIR"):
        parser.error("set MNIST_DATA_DIR to a folder holding the four MNIST files")
    load_before, rows = os.getloadavg()[0], []
    for module in args.modules or modules():
        wall, cpu = measure(module)
        rows.append((module, wall, cpu))
        print(f"{module}: {cpu:.1f} CPU-s, {wall:.1f} s", flush=True)
    text = markdown(rows, load_before)
    args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
