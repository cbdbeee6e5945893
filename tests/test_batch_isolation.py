"""A class graded by ``batch`` in which some students attack the course, classmates and the batch.

The course root holds what an attacker wants (the source notebook with solutions and hidden
tests, classmates' notebooks, the gradebook, the other results): each attack scores what the
corpus says, honest classmates keep their scores, and a malformed notebook never stops a rerun.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from corpus import BY_NAME, build
from corpus.grading import processes_with
from nbgrader.api import Gradebook

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
}


def run_batch(course: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "batch", ASSIGNMENT, "--jobs", "2", "-q",
                           "--call-timeout", "20", "--timeout", "120"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def attacked_class(module_course, mnist_env) -> tuple[Path, str, list[subprocess.CompletedProcess]]:
    course = module_course
    marker = f"batch-marker-{uuid.uuid4().hex}"
    for student, name in STUDENTS.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        build(BY_NAME[name], folder / f"{ASSIGNMENT}.ipynb",
              {"REPOSITORY": str(course), "MARKER": marker, "RESULTS": str(course / "reports")})
    first = run_batch(course, mnist_env)
    for student in ("honest", "odd-metadata"):  # a changed submission: graded again on the rerun
        notebook = course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        notebook.write_text(notebook.read_text() + "\n")
    second = run_batch(course, mnist_env)
    return course, marker, [first, second]


def expected_losses(name: str) -> set[str]:
    """What the entry must lose; for tampering, what its honest twin loses (it may gain nothing)."""
    entry = BY_NAME[name]
    return set(entry.loses if entry.loses is not None else BY_NAME[entry.no_better_than].loses)


def scores(course: Path) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: float(s.score) for s in gb.find_assignment(ASSIGNMENT).submissions}


def test_every_run_grades_everyone(attacked_class):
    course, _, runs = attacked_class
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(scores(course)) == sorted(STUDENTS)


def test_attacks_score_what_the_corpus_says_and_classmates_keep_theirs(attacked_class):
    course, _, _ = attacked_class
    got = scores(course)
    for student, name in STUDENTS.items():
        record = json.loads((course / "reports" / ASSIGNMENT / "results" / f"{student}.json").read_text())
        failed = {t["name"] for t in record["result"]["tests"] if t["status"] != "passed"}
        assert failed == expected_losses(name), (student, record["result"]["output"])
        assert got[student] == record["result"]["score"]
    assert got["honest"] == got["honest-too"] == 100.0


def test_each_record_says_how_it_was_isolated_to_the_instructor_only(attacked_class):
    course, _, _ = attacked_class
    record = json.loads((course / "reports" / ASSIGNMENT / "results" / "honest.json").read_text())
    assert "seccomp" in record["result"]["extra_data"]["isolation"]["layers"]
    page = (course / "feedback" / "honest" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "seccomp" not in page and "isolation" not in page  # the instructor's, not the student's
    report = (course / "reports" / ASSIGNMENT / "index.html").read_text()
    isolated = report.split("<h2>How student code was isolated</h2>")[1].split("<h2>")[0]
    assert re.search(rf"<li>{len(STUDENTS)} submissions: [^<]*seccomp", isolated), isolated


def test_nothing_of_the_class_outlives_the_batch(attacked_class):
    _, marker, _ = attacked_class
    assert processes_with(marker) == []
    assert not list(Path("/tmp").glob(f"*{marker}*")) and not list(Path("/dev/shm").glob(f"*{marker}*"))
