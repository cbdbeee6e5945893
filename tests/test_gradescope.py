"""Gradescope: what students see (formats, escaping), grader errors that cost no points, the limits,
and the Python that setup.sh leaves for grading.

``run_autograder`` runs in a scratch root laid out like Gradescope's (``gradescope_kit``). A
problem of the grader or of the image (MNIST missing, the grader crashing, killed, or exiting
with status 3) must leave a results.json that says so, with no score and no task failed. The
default limits are proved on the resources of Gradescope's default container: one core held
to half of it by a CPU quota, and 768 MB for everything. Gradescope's grader is a container's
root without CAP_SYS_ADMIN (``capsh --drop=cap_sys_admin`` here): with a venv of Debian's
``/usr/bin/python3`` in a folder every user can read, student code runs as a user of its own;
``setup.sh`` fails the build, saying why, when other users cannot read the interpreter.
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
from corpus import points_of
from gradescope_kit import is_grader_error, reference_notebook, run_gradescope, with_answer
from staging import SYSTEM_PYTHON, folder_for_everyone, stage_venv, system_python_usable

from autograder.lms.gradescope import GRADESCOPE_LIMITS
from autograder.text import markdown

HOSTILE_TEXT = "<b>bold</b><img src=x onerror=alert(1)> **strong** [link](http://x)"
CGROUP = Path("/sys/fs/cgroup")
CONTAINER_ROOT = (shutil.which("capsh") or "capsh", "--drop=cap_sys_admin", "--", "-c", 'exec "$@"',
                  "container-root")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return kit.gradescope_env()


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.build_zip(tmp_path_factory.mktemp("zip"))


@pytest.fixture(scope="module")
def root(zip_path: Path, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
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
    assert "isolation" not in text and "seccomp" not in text  # the sandbox's layers: for the staff
    points = points_of("mnist_mlp")
    assert results["score"] == sum(points.values()) - points["test_relu"]


def test_execution_time_is_an_integer(root: Path, env: dict) -> None:
    results, _ = run_gradescope(root, env, {"mnist_mlp.ipynb": reference_notebook()})
    assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0


def test_summary_follows_the_settings(root: Path) -> None:
    module = grade_gradescope_module(root)
    data = {"score": 10.0, "extra_data": {"max_score": 30.0}}
    notes = ["cell 4 failed to run"]
    hidden = module.summary(data, "Graded a.ipynb.", {"visibility": "after_published", "show_score": False},
                            notes)
    assert hidden == markdown("\n".join([
        "Graded a.ipynb.", "cell 4 failed to run",
        "Your score and the messages of the checks behind them are shown once grades are published.",
    ]))
    shown = module.summary(data, "Graded a.ipynb.", {"visibility": "visible", "show_score": True}, notes)
    assert shown.endswith(markdown("Total: 10 / 30 points."))


def test_the_script_escapes_with_the_kits_markdown(root: Path) -> None:
    """``grade_gradescope.py`` escapes with ``autograder.text.markdown`` (tests/test_text.py), as
    its own ``escape`` did: markup shown as typed, lines kept."""
    escape = grade_gradescope_module(root).markdown
    assert escape("a < b & c\n# not a heading") == "a &lt; b &amp; c  \n\\# not a heading"
    assert escape("x_1 * y_2") == "x\\_1 \\* y\\_2"


# ----------------------------------------------------------------------------- links in the submission


@pytest.fixture
def graded_here(root: Path):
    """Grade ``submission/`` as it is, in this process: (results, the Submission entry's text)."""
    module = grade_gradescope_module(root)
    settings = json.loads((root / "source" / "gradescope.json").read_text())

    def grade() -> tuple[dict, str]:
        results, _ = module.grade(root, settings)
        return results, kit.plain(results["tests"][0]["output"])

    return grade


def test_a_linked_notebook_scores_0_with_the_reason(root: Path, graded_here) -> None:
    kit.submit(root, {})
    grading_copy = root / "source" / "source" / "mnist_mlp" / "mnist_mlp.ipynb"  # holds the hidden tests
    (root / "submission" / "mnist_mlp.ipynb").symlink_to(grading_copy)  # a GitHub submission can link to it
    results, shown = graded_here()
    assert results["score"] == 0 and all(test["score"] == 0 for test in results["tests"][1:])
    assert "mnist_mlp.ipynb is a symbolic link; submit the notebook file itself" in shown


def test_a_pipe_scores_0_and_blocks_nothing(root: Path, graded_here) -> None:
    kit.submit(root, {})
    os.mkfifo(root / "submission" / "mnist_mlp.ipynb")
    results, shown = graded_here()  # a blocked open would never return (the suite's timeout fails it)
    assert results["score"] == 0
    assert "mnist_mlp.ipynb is a named pipe; submit the notebook file itself" in shown


def test_a_linked_folder_is_not_entered(root: Path, graded_here) -> None:
    kit.submit(root, {"notes.txt": "my notes"})
    (root / "submission" / "work").symlink_to(root / "source")  # holds the release notebook
    results, shown = graded_here()
    assert results["score"] == 0
    assert "found in the submission (symbolic links are not followed: work)" in shown


def test_the_grader_reads_a_copy_of_the_notebook(root: Path, monkeypatch) -> None:
    module = grade_gradescope_module(root)
    kit.submit(root, {"sub/my notebook.ipynb": '{"cells": []}'})
    given = []

    def grader(notebook: Path, settings: dict) -> dict:
        given.append((notebook, notebook.read_text()))
        return {"score": 0.0, "output": "Score: 0 / 1\nisolation: seccomp", "tests": [{"name": "t",
                "score": 0.0, "max_score": 1.0, "status": "failed", "output": "x"}],
                "extra_data": {"max_score": 1.0}}

    monkeypatch.setattr(module, "run_grader", grader)
    monkeypatch.setattr(module, "check_mnist", lambda: None)
    settings = json.loads((root / "source" / "gradescope.json").read_text())
    results, _ = module.grade(root, settings)
    (notebook, text), = given
    assert text == '{"cells": []}' and notebook.name == "my notebook.ipynb"
    assert not notebook.is_relative_to(root / "submission") and not notebook.exists()  # a copy, removed
    shown = kit.plain(results["tests"][0]["output"])
    assert 'Graded "sub/my notebook.ipynb".' in shown and "isolation" not in shown


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


def graders_of(course: Path) -> list[int]:
    """Live grader processes (``python -m autograder ... --course COURSE``) of the course ``course``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
        except OSError:
            continue
        if b"autograder" in argv and b"--course" in argv and str(course).encode() in argv:
            found.append(int(entry.name))
    return found


def test_run_autograder_stopped_midway_leaves_a_grader_error(root: Path, env: dict) -> None:
    loops = f"# {uuid.uuid4().hex}\ndef relu(x):\n    while True:\n        pass\n"
    kit.submit(root, {"mnist_mlp.ipynb": with_answer("relu", loops)})
    process = subprocess.Popen([str(root / "run_autograder")], env=dict(env, AUTOGRADER_ROOT=str(root)),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while not graders_of(root / "source") and process.poll() is None:  # relu loops for 30 s a call
        time.sleep(0.05)
    assert process.poll() is None, "run_autograder ended before its grader was seen"
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
    assert results["score"] == sum(points_of("mnist_mlp").values()), stdout
    assert all(t["status"] == "passed" for t in results["tests"]), stdout
    stats = dict(line.split() for line in (half_a_core[0] / "cpu.stat").read_text().splitlines())
    assert int(stats["nr_throttled"]) > 0  # the quota held it back: it did run on half a core
    assert GRADESCOPE_LIMITS["memory_mib"] * 2**20 * 2 < 768 * 10**6  # room for the grader beside it


# ----------------------------------------------------------------------------- a Python other users can read

needs_system_python = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("capsh") or not system_python_usable(),
    reason="needs root, capsh and Debian's python3 (3.11 or newer)",
)


@pytest.fixture(scope="module")
def everyone() -> Iterator[Path]:
    """A folder of /tmp every user can read (pytest's own are closed to them)."""
    with folder_for_everyone("autograder-gradescope-") as folder:
        yield folder


@pytest.fixture(scope="module")
def debian_python(everyone: Path) -> Path:
    """Debian's /usr/bin/python3 in a venv with the zip's pinned requirements, readable by every user."""
    return stage_venv(everyone)


@pytest.fixture(scope="module")
def debian_root(zip_path: Path, debian_python: Path,
                tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, subprocess.CompletedProcess]:
    """A root whose setup.sh ran with that venv, the readability check on: the root, its environment,
    and what setup.sh did."""
    env = kit.gradescope_env(debian_python)
    root = kit.unpack(zip_path, tmp_path_factory.mktemp("gradescope-debian"))
    return root, env, kit.run_setup(root, env)


def site_packages(venv: Path) -> Path:
    (folder,) = (venv / "lib").glob("python3.*/site-packages")
    return folder


@needs_system_python
def test_setup_accepts_debians_python_in_a_folder_every_user_can_read(debian_root) -> None:
    _, _, setup = debian_root
    assert setup.returncode == 0, setup.stderr
    assert "Readable by every user: the interpreter, the standard library and NumPy" in setup.stdout
    assert "MNIST verified" in setup.stdout


@needs_system_python
def test_setup_fails_saying_why_when_other_users_cannot_read_the_interpreter(
        zip_path: Path, debian_python: Path, everyone: Path, tmp_path: Path) -> None:
    """The interpreter copied into a folder only root can enter; NumPy, through a .pth file, still
    the readable venv's: only the interpreter is named, with the folder that closes it."""
    closed = everyone / "closed"
    closed.mkdir(mode=0o700)
    venv = closed / "venv"
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--copies", "--without-pip", str(venv)], check=True)
    readable = site_packages(debian_python.parent.parent)
    (site_packages(venv) / "readable.pth").write_text(f"{readable}\n")
    root = kit.unpack(zip_path, tmp_path / "root")
    setup = kit.run_setup(root, kit.gradescope_env(venv / "bin" / "python3"))
    assert setup.returncode == 1
    assert "setup.sh: ERROR: other users cannot read the Python that grades" in setup.stderr
    named = [line for line in setup.stderr.splitlines() if line.startswith("  ")]
    assert named == [f"  {venv}/bin/python3 (folder {closed} is drwx------)"]
    assert "AUTOGRADER_SKIP_READABLE_CHECK=1" in setup.stderr
    assert "MNIST verified" not in setup.stdout  # stopped before


@needs_system_python
def test_a_containers_root_runs_student_code_as_a_user_of_its_own(debian_root) -> None:
    """Gradescope's grader: root without CAP_SYS_ADMIN, so no minimal root, but its own uid."""
    root, env, setup = debian_root
    assert setup.returncode == 0, setup.stderr
    results, stdout = run_gradescope(root, env, {"mnist_mlp.ipynb": reference_notebook()},
                                     launcher=CONTAINER_ROOT)
    assert results["score"] == sum(points_of("mnist_mlp").values()), stdout
    isolation = results["extra_data"]["isolation"]
    layers = [layer.split(" (")[0] for layer in isolation["layers"]]
    assert "own uid" in layers and "cgroup" in layers and "namespaces" not in layers, isolation
    assert "CAP_SYS_ADMIN" in isolation["missing"]["namespaces"] and isolation["hides_files"]
