"""A class graded by ``batch`` in which some students attack the course, classmates and the batch,
on this machine and on a Dask cluster.

The course root holds what an attacker wants (the source notebook with solutions and hidden
tests, classmates' notebooks, the gradebook, the other results): each attack scores what the
corpus says, honest classmates keep their scores, and a malformed notebook never stops a rerun.
The same class (and a class of the second assignment, mnist_minibatch) graded on a LocalCluster
of two worker processes gives exactly the gradebook the local batch gives, each result saying
which worker graded it with which layers, and leaves nothing running.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from corpus import BY_NAME, REPOSITORY, build, points_of
from corpus.grading import processes_with
from nbgrader.api import Gradebook

TOTAL = sum(points_of("mnist_mlp").values())  # every point, as the notebook gives them

ASSIGNMENT = "mnist_mlp"
STUDENTS = {  # student id -> corpus entry
    "honest": "reference",
    "honest-too": "reference",
    "reads-the-course": "harvests_the_checkout",
    "kills-everyone": "kills_every_process",
    "stops-everyone": "signals_every_pid",
    "stops-the-batch": "stops_the_grader",
    "odd-metadata": "grade_id_is_a_list_on_markdown",
    "carries-references": "carries_references_between_processes",
    "forks": "fork_loop",
}
# With --exhaustive, code that hits the sandbox's limits too (on the workers as here).
LIMIT_HITS = {"loops": "relu_infinite_loop", "floods": "one_hot_print_flood",
              "allocates": "evaluate_allocates_10_gib"}
SECOND = "mnist_minibatch"
SECOND_CLASS = {"solves-it": "source", "hands-in-the-release": "release"}  # student -> notebook copied
LIMITS = ("--call-timeout", "20", "--timeout", "120")


def run_batch(course: Path, env: dict[str, str], assignment: str = ASSIGNMENT,
              *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", "batch", assignment, "--jobs", "2", "-q", *LIMITS,
               *options]
    return subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def students(request) -> dict[str, str]:
    return STUDENTS | (LIMIT_HITS if request.config.getoption("--exhaustive") else {})


@pytest.fixture(scope="module")
def attacked_class(module_course, kit_env, students) -> tuple[Path, str, list[subprocess.CompletedProcess]]:
    course = module_course
    marker = f"batch-marker-{uuid.uuid4().hex}"
    for student, name in students.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        build(BY_NAME[name], folder / f"{ASSIGNMENT}.ipynb",
              {"REPOSITORY": str(course), "MARKER": marker, "RESULTS": str(course / "reports")})
    first = run_batch(course, kit_env)
    for student in ("honest", "odd-metadata"):  # a changed submission: graded again on the rerun
        notebook = course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        notebook.write_text(notebook.read_text() + "\n")
    second = run_batch(course, kit_env)
    for student, kind in SECOND_CLASS.items():
        folder = course / "submitted" / student / SECOND
        folder.mkdir(parents=True)
        shutil.copy(REPOSITORY / kind / SECOND / f"{SECOND}.ipynb", folder)
    return course, marker, [first, second, run_batch(course, kit_env, SECOND)]


def expected_losses(name: str) -> set[str]:
    """What the entry must lose; for tampering, what its honest twin loses (it may gain nothing)."""
    entry = BY_NAME[name]
    return set(entry.loses if entry.loses is not None else BY_NAME[entry.no_better_than].loses)


def scores(course: Path, assignment: str = ASSIGNMENT) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: float(s.score) for s in gb.find_assignment(assignment).submissions}


def test_every_run_grades_everyone(attacked_class, students):
    course, _, runs = attacked_class
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(scores(course)) == sorted(students)
    assert scores(course, SECOND) == {"solves-it": 100.0, "hands-in-the-release": 0.0}


def test_attacks_score_what_the_corpus_says_and_classmates_keep_theirs(attacked_class, students):
    course, _, _ = attacked_class
    got = scores(course)
    for student, name in students.items():
        record = json.loads((course / "reports" / ASSIGNMENT / "results" / f"{student}.json").read_text())
        failed = {t["name"] for t in record["result"]["tests"] if t["status"] != "passed"}
        assert failed == expected_losses(name), (student, record["result"]["output"])
        assert got[student] == record["result"]["score"]
    assert got["honest"] == got["honest-too"] == TOTAL


def test_each_record_says_how_it_was_isolated_to_the_instructor_only(attacked_class, students):
    course, _, _ = attacked_class
    record = json.loads((course / "reports" / ASSIGNMENT / "results" / "honest.json").read_text())
    assert "seccomp" in record["result"]["extra_data"]["isolation"]["layers"]
    page = (course / "feedback" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "seccomp" not in page and "isolation" not in page  # the instructor's, not the student's
    report = (course / "reports" / ASSIGNMENT / "index.html").read_text()
    isolated = report.split("<h2>How student code was isolated</h2>")[1].split("<h2>")[0]
    assert re.search(rf"<li>{len(students)} submissions: [^<]*seccomp", isolated), isolated


def test_nothing_of_the_class_outlives_the_batch(attacked_class):
    _, marker, _ = attacked_class
    assert processes_with(marker) == []
    assert not list(Path("/tmp").glob(f"*{marker}*")) and not list(Path("/dev/shm").glob(f"*{marker}*"))


# ----------------------------------------------------------------------------- on a Dask cluster


@pytest.fixture(scope="module")
def on_a_cluster(attacked_class, tmp_path_factory, kit_env) -> tuple[Path, dict]:
    """The same submissions in a course of their own, both assignments graded by a LocalCluster
    of two worker processes that each batch starts and ends."""
    course, _, _ = attacked_class
    copy = tmp_path_factory.mktemp("cluster") / "course"
    for folder in ("source", "submitted"):
        shutil.copytree(course / folder, copy / folder, symlinks=True)
    shutil.copy(course / "nbgrader_config.py", copy)
    options = ("--cluster", "local", "--workers", "2")
    return copy, {name: run_batch(copy, kit_env, name, *options) for name in (ASSIGNMENT, SECOND)}


def gradebook_entries(course: Path, assignment: str) -> dict[str, dict]:
    """Everything the gradebook holds of each submission but database ids."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        entries = {}
        for submission in gb.find_assignment(assignment).submissions:
            notebook = submission.notebooks[0]
            entries[submission.student.id] = {
                "grades": sorted((g.name, g.auto_score, g.manual_score, g.needs_manual_grade)
                                 for g in notebook.grades),
                "comments": sorted((c.name, c.auto_comment) for c in notebook.comments),
                "timestamp": submission.timestamp, "penalty": notebook.late_submission_penalty,
                "score": notebook.score,
            }
        return entries


def graded(record: dict) -> dict:
    """What a record says of the submission (not when, where or how long; nor the versions, which
    change with the kit's files between runs while it is being worked on)."""
    result = record["result"]
    checks = [(c["grade_id"], c["name"], c["passed"], c["message"]) for c in result["extra_data"]["checks"]]
    return {"status": record["status"], "sha256": record["submission"]["sha256"],
            "answers": record["answers"], "unanswered": record["unanswered"],
            "tests": [(t["name"], t["score"], t["status"]) for t in result["tests"]], "checks": checks}


def records(course: Path, assignment: str) -> dict[str, dict]:
    folder = course / "reports" / assignment / "results"
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def test_a_cluster_writes_the_gradebook_the_local_batch_writes(attacked_class, on_a_cluster, students):
    course, _, _ = attacked_class
    copy, runs = on_a_cluster
    for assignment, run in runs.items():
        assert run.returncode == 0, run.stdout + run.stderr[-3000:]
        local, cluster = gradebook_entries(course, assignment), gradebook_entries(copy, assignment)
        assert cluster == local and len(local) == len(students if assignment == ASSIGNMENT else SECOND_CLASS)
        mine, theirs = records(course, assignment), records(copy, assignment)
        assert {s: graded(r) for s, r in theirs.items()} == {s: graded(r) for s, r in mine.items()}


def test_each_result_says_which_worker_graded_it_and_how_it_isolated(on_a_cluster, students):
    copy, _ = on_a_cluster
    hosts = set()
    for assignment in (ASSIGNMENT, SECOND):
        for student, record in records(copy, assignment).items():
            worker = record["result"]["extra_data"]["worker"]
            assert worker["address"].startswith("tcp://") and worker["hides_files"], student
            assert {"namespaces", "seccomp"} <= set(worker["layers"]), student  # workers run as root here
            assert "seccomp" in record["result"]["extra_data"]["isolation"]["layers"]  # the grader's own
            hosts.add(worker["host"])
    report = " ".join((copy / "reports" / ASSIGNMENT / "index.html").read_text().split())
    assert f"Graded by the workers of a cluster, on: {hosts.pop()} ({len(students)})." in report


def test_nothing_of_the_class_outlives_the_cluster(attacked_class, on_a_cluster):
    _, marker, _ = attacked_class
    copy, _ = on_a_cluster
    assert processes_with(marker) == []
    assert processes_with(str(copy)) == []  # no worker, grading server or forkserver of the batch's
