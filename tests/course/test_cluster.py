"""Faults of grading on a Dask cluster (autograder/course/cluster.py, workers.py).

A cluster started as one would start it by hand (``dask scheduler``, ``dask worker --nworkers 2``)
grades classes with ``--scheduler``: a worker killed in the middle of a grading loses nothing
(its submission is graded by another worker) and duplicates nothing in the gradebook; a batch
killed in the middle and started again grades only what it had not; the assignment reaches each
worker once. A cluster whose workers cannot hide the reference grades nothing (``--exhaustive``). The grading
processes run the stand-in of ``grading_entries.stand_in_grade``, which can wait at a gate (a
file), so that a kill lands while a submission is being graded: no clock decides it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import points_of
from nbgrader.api import Gradebook

from solutions.data import OFFICIAL_SHA256

TOTAL = sum(points_of("mnist_mlp").values())  # every point, as the notebook gives them

ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
REPOSITORY = Path(__file__).resolve().parents[2]
TESTS = REPOSITORY / "tests"
STAND_IN_BATCH = """
import sys
sys.path.insert(0, sys.argv[1])
from autograder.course import batch, processes
processes.ENTRY = "grading_entries:stand_in_grade"
sys.exit(batch.main(sys.argv[2:]))
"""
STUDENTS = ["ada", "bob", "cy", "dee", "slow"]  # "slow" waits at the gate
GUARD = 1200  # rounds of 0.1 s: a guard against a hang, never a measure


def wait_until(condition, what: str) -> None:
    for _ in range(GUARD):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, kit_env) -> Iterator[dict]:
    """A scheduler and two single-thread worker processes (with nannies), as started by hand."""
    top = tmp_path_factory.mktemp("cluster")
    env = dict(kit_env, PYTHONPATH=f"{kit_env['PYTHONPATH']}:{TESTS}")  # grading servers import the stand-in
    address_file = top / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--no-dashboard", "--scheduler-file", str(address_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(address_file),
         "--nworkers", "2", "--nthreads", "1", "--no-dashboard", "--local-directory", str(top / "workers")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(address_file.exists, "the scheduler's address")
        address = json.loads(address_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "env": env, "workers": top / "workers"}
    finally:
        for process in (workers, scheduler):
            process.send_signal(signal.SIGINT)  # both end their children and themselves
        for process in (workers, scheduler):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def class_course(folder: Path, gate: Path, killer: bool = False) -> Path:
    """A course of five stand-in notebooks; "slow" waits at ``gate``; with ``killer``, a sixth
    kills its grading process."""
    shutil.copytree(REPOSITORY / "source" / ASSIGNMENT, folder / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    shutil.copy2(REPOSITORY / "nbgrader_config.py", folder)
    for student in STUDENTS:
        notebook = folder / "submitted" / student / ASSIGNMENT / NOTEBOOK
        notebook.parent.mkdir(parents=True)
        notebook.write_text(f"STAND_IN_GATE={gate}\n" if student == "slow" else f"the notebook of {student}")
    if killer:
        notebook = folder / "submitted" / "kills-itself" / ASSIGNMENT / NOTEBOOK
        notebook.parent.mkdir(parents=True)
        notebook.write_text("STAND_IN_KILL")
    return folder


def start_batch(course: Path, cluster: dict) -> subprocess.Popen:
    command = [sys.executable, "-c", STAND_IN_BATCH, str(TESTS), ASSIGNMENT, "-q", "--scheduler",
               cluster["address"]]
    return subprocess.Popen(command, cwd=course, env=cluster["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@contextlib.contextmanager
def released_on_failure(gate: Path, batch: subprocess.Popen) -> Iterator[None]:
    """If a step fails, open the gate and end the batch: a grading left waiting would hold a
    worker of the shared cluster, and the next module fixture would wait for it in vain."""
    try:
        yield
    except BaseException:
        gate.touch()
        batch.kill()
        batch.communicate()
        raise


def starts(gate: Path) -> list[list[tuple[int, str]]]:
    """Each start of the gated grading so far: its process and its ancestors."""
    found = []
    for path in sorted(gate.parent.glob(f"{gate.name}.started-*")):
        found.append([(int(pid), command) for pid, command in json.loads(path.read_text())])
    return found


def worker_of(start: list[tuple[int, str]]) -> int:
    """The Dask worker process a grading ran under: the parent of its grading server."""
    server = next(index for index, (_, command) in enumerate(start) if "grading_main" in command)
    return start[server + 1][0]


def records(course: Path) -> dict[str, dict]:
    folder = course / "reports" / ASSIGNMENT / "results"
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def gradebook_students(course: Path) -> list[str]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return sorted(s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def worker_killed(cluster, tmp_path_factory) -> dict:
    """A batch during which the worker grading "slow" is killed; then the gate opens. Another
    submission kills its own grading process (twice: it is started once more)."""
    top = tmp_path_factory.mktemp("worker-killed")
    gate = top / "gate"
    course = class_course(top / "course", gate, killer=True)
    batch = start_batch(course, cluster)
    with released_on_failure(gate, batch):
        wait_until(lambda: starts(gate) or batch.poll() is not None, "the gated grading starting")
        first = starts(gate)[0]
        os.kill(worker_of(first), signal.SIGKILL)
        wait_until(lambda: len(starts(gate)) > 1 or batch.poll() is not None, "the grading starting again")
    gate.touch()
    stdout, stderr = batch.communicate(timeout=600)
    return {"course": course, "returncode": batch.returncode, "stdout": stdout, "stderr": stderr,
            "starts": starts(gate), "first": first}


def test_a_worker_killed_mid_grading_loses_nothing_and_duplicates_nothing(worker_killed, cluster):
    assert worker_killed["returncode"] == 1, worker_killed["stdout"] + worker_killed["stderr"][-3000:]
    assert "6 submissions: 6 graded now, 0 unchanged since graded" in worker_killed["stdout"]
    course = worker_killed["course"]
    assert gradebook_students(course) == STUDENTS  # once each, and not the one that was not graded
    found = records(course)
    assert sorted(found) == sorted([*STUDENTS, "kills-itself"])
    assert {s: r["status"] for s, r in found.items() if r["status"] != "graded"} == {"kills-itself": "error"}
    assert found["slow"]["result"]["score"] == TOTAL
    first, last = worker_killed["starts"][0], worker_killed["starts"][-1]
    assert worker_of(first) != worker_of(last)  # graded again, by another worker process
    assert found["slow"]["result"]["extra_data"]["stand_in"]["path"].startswith(str(cluster["workers"]))
    assert not any(alive(pid) for pid, _ in first[:4])  # the killed worker's grading and server went


def test_a_submission_that_kills_its_grading_process_costs_only_itself(worker_killed):
    record = records(worker_killed["course"])["kills-itself"]
    assert record["reason"] == "the grader exited with status -9 without a result (no message)"
    assert "  kills-itself: error: the grader exited with status -9" in worker_killed["stdout"]


def test_the_assignment_reaches_each_worker_once_verified(worker_killed, cluster):
    course = worker_killed["course"]
    # Written once by each worker process that got the plugin (a killed one's folder is purged
    # by the nanny), never once per task: a worker that graded four notebooks wrote it once.
    bundles = sorted(cluster["workers"].glob("*/*/autograder/bundle-*"))
    assert 1 <= len(bundles) < len(STUDENTS)
    assert len({bundle.name for bundle in bundles}) == 1 and len({b.parent for b in bundles}) == len(bundles)
    for bundle in bundles:
        for name, sha256 in OFFICIAL_SHA256.items():
            assert hashlib.sha256((bundle / "mnist" / name).read_bytes()).hexdigest() == sha256
        source = (bundle / "source" / ASSIGNMENT / NOTEBOOK).read_bytes()
        assert source == (course / "source" / ASSIGNMENT / NOTEBOOK).read_bytes()


@pytest.fixture(scope="module")
def client_killed(cluster, tmp_path_factory) -> dict:
    """A batch killed with SIGKILL while "slow" is being graded and the rest are recorded; then
    the gate opens and the same command runs again."""
    top = tmp_path_factory.mktemp("client-killed")
    gate = top / "gate"
    course = class_course(top / "course", gate)
    batch = start_batch(course, cluster)
    others = len(STUDENTS) - 1
    with released_on_failure(gate, batch):
        wait_until(lambda: (starts(gate) and len(records(course)) == others) or batch.poll() is not None,
                   "the gated grading started and the others recorded")
    batch.kill()
    batch.communicate()
    before = records(course)
    gate.touch()
    again = start_batch(course, cluster)
    stdout, stderr = again.communicate(timeout=600)
    from distributed import Client

    with Client(cluster["address"], timeout="60s") as client:
        plugins = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.worker_plugins))
        workers = set(client.run(os.getpid).values())
    return {"course": course, "before": before, "returncode": again.returncode, "stdout": stdout,
            "stderr": stderr, "plugins": plugins, "servers": grading_servers(workers)}


def grading_servers(parents: set[int]) -> list[int]:
    """The grading servers among the children of ``parents``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent in parents and b"grading_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def test_a_batch_killed_mid_way_resumes_where_it_stopped(client_killed):
    assert client_killed["returncode"] == 0, client_killed["stdout"] + client_killed["stderr"][-3000:]
    assert "5 submissions: 1 graded now, 4 unchanged since graded" in client_killed["stdout"]
    before, after = client_killed["before"], records(client_killed["course"])
    assert sorted(before) == [s for s in STUDENTS if s != "slow"] and sorted(after) == STUDENTS
    assert all(after[s]["graded_at"] == before[s]["graded_at"] for s in before)  # not graded twice
    assert gradebook_students(client_killed["course"]) == STUDENTS
    assert not (client_killed["course"] / "reports" / ASSIGNMENT / ".grading").exists()
    # What the killed batch set up on the workers was removed by the next, which removed its own.
    assert not [name for name in client_killed["plugins"] if name.startswith("autograder-")]
    assert client_killed["servers"] == []


def test_workers_that_cannot_hide_the_reference_grade_nothing(tmp_path, kit_env, request):
    """Without namespaces and Landlock (turned off here), every worker refuses: a grader error
    for each submission, never a grade, and the gradebook stays empty."""
    if not request.config.getoption("--exhaustive"):
        pytest.skip("a cluster of its own: with --exhaustive (test_workers.py tests the refusal itself)")
    course = class_course(tmp_path / "course", tmp_path / "gate")
    (course / "submitted" / "slow" / ASSIGNMENT / NOTEBOOK).write_text("no gate")
    env = dict(kit_env, AUTOGRADER_NO_ISOLATION="1")
    command = [sys.executable, "-c", STAND_IN_BATCH, str(TESTS), ASSIGNMENT, "-q", "--cluster", "local",
               "--workers", "1"]
    run = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout + run.stderr[-3000:]
    assert "refuses to grade: refusing to grade: on this host the student's code could read" in run.stdout
    assert {r["status"] for r in records(course).values()} == {"error"} and len(records(course)) == 5
    assert gradebook_students(course) == []
