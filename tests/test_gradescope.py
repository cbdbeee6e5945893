"""Gradescope: what students see (formats, escaping), grader errors that cost no points, and the limits.

``run_autograder`` runs in a scratch root laid out like Gradescope's (``gradescope_kit``). A
problem of the grader or of the image (MNIST missing, the grader crashing, killed, or exiting
with status 3) must leave a results.json that says so, with no score and no task failed. The
default limits are proved on the resources of Gradescope's default container: one core held
to half of it by a CPU quota, and 768 MB for everything.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import gradescope_kit as kit
import pytest
from gradescope_kit import is_grader_error, reference_notebook, run_gradescope, with_answer

from autograder.package import GRADESCOPE_LIMITS

HOSTILE_TEXT = "<b>bold</b><img src=x onerror=alert(1)> **strong** [link](http://x)"
CGROUP = Path("/sys/fs/cgroup")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return kit.gradescope_env()


@pytest.fixture(scope="module")
def root(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    zip_path = kit.build_zip(tmp_path_factory.mktemp("zip"))
    return kit.gradescope_root(zip_path, env, tmp_path_factory.mktemp("gradescope"))


def grade_gradescope_module(root: Path):
    """The unpacked ``grade_gradescope.py``, imported (with its ``HERE`` in the scratch root)."""
    spec = importlib.util.spec_from_file_location("grade_gradescope", root / "source" / "grade_gradescope.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- what students see


def test_every_text_is_markdown_with_the_students_text_escaped(root: Path, env: dict) -> None:
    relu = f"def relu(x):\n    raise ValueError({HOSTILE_TEXT!r})\n"
    files = {"<i>mine</i>.ipynb": with_answer("relu", relu)}
    results, _ = run_gradescope(root, env, files)
    assert results["output_format"] == results["test_output_format"] == "md"
    assert all(test["output_format"] == "md" for test in results["tests"])
    shown = [results["output"]] + [t[key] for t in results["tests"] for key in ("name", "output")]
    text = "\n".join(shown)  # what Gradescope renders (extra_data is never shown)
    assert "<img" not in text and "<b>" not in text and "<i>" not in text and "**strong**" not in text
    relu_output = next(t["output"] for t in results["tests"] if t["name"] == "test_relu")
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in relu_output and "\\*\\*strong\\*\\*" in relu_output
    assert "&lt;i&gt;mine&lt;/i&gt;" in results["tests"][0]["output"]
    assert results["score"] == 90


def test_execution_time_is_an_integer(root: Path, env: dict) -> None:
    results, _ = run_gradescope(root, env, {"mnist_mlp.ipynb": reference_notebook()})
    assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0


def test_summary_follows_the_settings(root: Path) -> None:
    module = grade_gradescope_module(root)
    data = {"score": 10.0, "extra_data": {"max_score": 30.0}}
    notes = ["cell 4 failed to run"]
    hidden = module.summary(data, "Graded a.ipynb.", {"visibility": "after_published", "show_score": False},
                            notes)
    assert hidden == module.escape("\n".join([
        "Graded a.ipynb.", "cell 4 failed to run",
        "Your score and the messages of the checks behind them are shown once grades are published.",
    ]))
    shown = module.summary(data, "Graded a.ipynb.", {"visibility": "visible", "show_score": True}, notes)
    assert shown.endswith(module.escape("Total: 10 / 30 points."))


def test_escape_keeps_lines_and_shows_markup_as_typed(root: Path) -> None:
    escape = grade_gradescope_module(root).escape
    assert escape("a < b & c\n# not a heading") == "a &lt; b &amp; c  \n\\# not a heading"
    assert escape("x_1 * y_2") == "x\\_1 \\* y\\_2"


# ----------------------------------------------------------------------------- grader errors


@pytest.fixture
def moved(root: Path) -> Iterator:
    """Move a file or folder of the root away for one test, and back."""
    moves = []

    def move(relative: str) -> Path:
        path = root / relative
        aside = path.with_name(path.name + ".aside")
        path.rename(aside)
        moves.append((aside, path))
        return path

    yield move
    for aside, path in reversed(moves):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        aside.rename(path)


def test_missing_mnist_is_a_grader_error_not_lost_points(root: Path, env: dict, moved) -> None:
    moved("mnist")
    results, stdout = run_gradescope(root, env, {"mnist_mlp.ipynb": reference_notebook()})
    assert is_grader_error(results), results
    assert "MNIST" in results["extra_data"]["grader_error"] and "GRADER ERROR" in stdout


def test_exit_status_3_a_crash_or_a_kill_of_the_grader_is_a_grader_error(root: Path, env: dict,
                                                                         monkeypatch) -> None:
    module = grade_gradescope_module(root)
    kit.submit(root, {"mnist_mlp.ipynb": reference_notebook()})
    monkeypatch.setenv("AUTOGRADER_ROOT", str(root))
    monkeypatch.setenv("MNIST_DATA_DIR", str(root / "mnist"))
    ends = {
        "exit status 3": "import sys; sys.stderr.write('no isolation here'); sys.exit(3)",
        "killed by signal 9": "import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
        "exit status 2": "raise SystemExit(2)",
        "no readable results": "pass",
    }
    for expected, code in ends.items():
        monkeypatch.setattr(module, "grader_command", lambda *args, code=code: [sys.executable, "-c", code])
        assert module.main() == 0
        results = json.loads((root / "results" / "results.json").read_text())
        assert is_grader_error(results) and expected in results["extra_data"]["grader_error"], expected


def test_a_crash_of_grade_gradescope_leaves_a_grader_error(root: Path, env: dict, moved) -> None:
    moved("source/gradescope.json").write_text("not JSON")
    results, stdout = run_gradescope(root, env, {"mnist_mlp.ipynb": reference_notebook()})
    assert is_grader_error(results)
    assert "failed with exit status 1" in results["extra_data"]["grader_error"] and "GRADER ERROR" in stdout


def grader_of(submission: Path) -> list[int]:
    """Live processes grading ``submission`` (its path on their command line)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(submission).encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_run_autograder_stopped_midway_leaves_a_grader_error(root: Path, env: dict) -> None:
    loops = f"# {uuid.uuid4().hex}\ndef relu(x):\n    while True:\n        pass\n"
    kit.submit(root, {"mnist_mlp.ipynb": with_answer("relu", loops)})
    process = subprocess.Popen([str(root / "run_autograder")], env=dict(env, AUTOGRADER_ROOT=str(root)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    submission = root / "submission" / "mnist_mlp.ipynb"
    while not grader_of(submission) and process.poll() is None:  # relu loops for 30 s a call
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGTERM)
    stdout, _ = process.communicate(timeout=600)
    results = json.loads((root / "results" / "results.json").read_text())
    assert is_grader_error(results), stdout
    assert "stopped by SIGTERM" in results["extra_data"]["grader_error"]


# ----------------------------------------------------------------------------- the limits


def cgroup_v1(controller: str) -> Path:
    """This process's cgroup v1 folder of ``controller``."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return CGROUP / controller / path.lstrip("/")
    mine = Path("/proc/self/cgroup").read_text()
    raise AssertionError(f"no cgroup v1 {controller} controller here (Gradescope's limits need it): {mine}")


@pytest.fixture
def half_a_core() -> Iterator[list[Path]]:
    """Two new cgroups (v1): the CPU quota of half a core, and 768 MB of memory."""
    name = f"kit-gradescope-{uuid.uuid4().hex[:8]}"
    cpu, memory = cgroup_v1("cpu") / name, cgroup_v1("memory") / name
    cpu.mkdir()
    memory.mkdir()
    try:
        (cpu / "cpu.cfs_period_us").write_text("100000")
        (cpu / "cpu.cfs_quota_us").write_text("50000")
        (memory / "memory.limit_in_bytes").write_text(str(768 * 10**6))
        yield [cpu, memory]
    finally:
        for group in (cpu, memory):
            for _ in range(100):  # its processes have exited; the kernel may take a moment to free it
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


def test_a_correct_notebook_gets_full_marks_on_half_a_core_in_768_mb(root: Path, env: dict,
                                                                      half_a_core: list[Path]) -> None:
    """Gradescope's default container, with the default limits of the zip."""

    def enter() -> None:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        for group in half_a_core:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    results, stdout = run_gradescope(root, env, {"mnist_mlp.ipynb": reference_notebook()}, preexec_fn=enter)
    assert results["score"] == 100, stdout
    assert all(t["status"] == "passed" for t in results["tests"]), stdout
    stats = dict(line.split() for line in (half_a_core[0] / "cpu.stat").read_text().splitlines())
    assert int(stats["nr_throttled"]) > 0  # the quota held it back: it did run on half a core
    assert GRADESCOPE_LIMITS["memory_mib"] * 2**20 * 2 < 768 * 10**6  # room for the grader beside it
