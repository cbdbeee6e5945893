"""A class graded in shards, then merged (autograder/course/shards.py): what a SLURM job array, a
Kubernetes indexed Job or a CI matrix runs, with no Dask.

Each shard grades its part of the class into its own results folder and writes nothing else;
the merge writes the gradebook, the pages and the report, the gradebook the same as one batch
over the whole class writes (unanswered cells, late penalty and all). A submission changed
after its shard ran is graded by no shard: the merge names it. The grading processes run the
stand-in of ``grading_entries.stand_in_grade``: what is tested is where records go.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import points_of
from nbgrader.api import Gradebook

TOTAL = sum(points_of("mnist_mlp").values())  # every point, as the notebook gives them

ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
REPOSITORY = Path(__file__).resolve().parents[2]
TESTS = REPOSITORY / "tests"
DUE = "2025-01-20 00:00:00 UTC"
ON_TIME, LATE = "2025-01-15 12:00:00.000000 UTC", "2025-01-22 18:30:00.000000 UTC"
# The batch with a stand-in grader; it says at the end whether anything imported Dask.
STAND_IN_BATCH = """
import atexit, sys
sys.path.insert(0, sys.argv[1])
from autograder.course import batch, processes
processes.ENTRY = "grading_entries:stand_in_grade"
atexit.register(lambda: print("Dask imported:", "dask" in sys.modules or "distributed" in sys.modules,
                              file=sys.stderr))
sys.exit(batch.main(sys.argv[2:]))
"""
STUDENTS = [f"student-{n}" for n in range(6)] + ["blank", "late", "nothing"]


def run_batch(course: Path, env: dict[str, str], *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", STAND_IN_BATCH, str(TESTS), ASSIGNMENT, "-q", "--jobs", "2", *options]
    return subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=600)


def build_class(course: Path) -> None:
    """Six notebooks, the untouched release, a late one, and a folder with no notebook."""
    release = (REPOSITORY / "release" / ASSIGNMENT / NOTEBOOK).read_text()
    for student in STUDENTS:
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text(LATE if student == "late" else ON_TIME)
        if student == "blank":
            (folder / NOTEBOOK).write_text(release)
        elif student == "nothing":
            (folder / "notes.txt").write_text("I could not do it")
        else:
            (folder / NOTEBOOK).write_text(f"the notebook of {student}")


def gradebook(course: Path) -> dict[str, dict]:
    """Each student's submission as nbgrader keeps it (a duplicate would fail here)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        found = {}
        for submission in gb.find_assignment(ASSIGNMENT).submissions:
            notebook = submission.notebooks[0]
            assert submission.student.id not in found
            found[submission.student.id] = {
                "scores": sorted((grade.name, grade.auto_score) for grade in notebook.grades),
                "comments": sorted((comment.name, comment.auto_comment) for comment in notebook.comments),
                "timestamp": submission.timestamp, "penalty": notebook.late_submission_penalty,
            }
        return found


def shard_records(course: Path) -> dict[str, set[str]]:
    shards = course / "reports" / ASSIGNMENT / "shards"
    return {folder.name: {path.stem for path in (folder / "results").glob("*.json")}
            for folder in shards.iterdir()}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory, kit_env, nbgrader) -> dict:
    """Two courses with the same class and due date: one graded in two shards and merged, one by
    a single batch; then a notebook of the first changed and merged again."""
    runs, courses = {}, {}
    for kind in ("sharded", "whole"):
        course = courses[kind] = tmp_path_factory.mktemp(kind)
        shutil.copytree(REPOSITORY / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        shutil.copy2(REPOSITORY / "nbgrader_config.py", course)
        with open(course / "nbgrader_config.py", "a") as config:
            config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
        nbgrader(course, "db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE}")
        build_class(course)
    course = courses["sharded"]
    runs["shards"] = [run_batch(course, kit_env, "--shard", f"{index}/2") for index in (0, 1)]
    runs["shard_records"] = shard_records(course)
    runs["before_merge"] = sorted(path.name for path in (course / "reports" / ASSIGNMENT).iterdir())
    runs["feedback_before_merge"] = (course / "feedback").exists()
    runs["gradebook_before_merge"] = gradebook(course)
    runs["merge"] = run_batch(course, kit_env, "--merge")
    runs["whole"] = run_batch(courses["whole"], kit_env)
    runs["merge_again"] = run_batch(course, kit_env, "--merge")
    changed = course / "submitted" / "student-0" / ASSIGNMENT / NOTEBOOK
    changed.write_text(changed.read_text() + " (changed)")
    runs["merge_changed"] = run_batch(course, kit_env, "--merge")
    return {"courses": courses, **runs}


def test_each_shard_grades_its_part_and_writes_nothing_else(sharded):
    for run in sharded["shards"]:
        assert "Dask imported: False" in run.stderr, run.stderr
        assert run.returncode in (0, 1), run.stdout + run.stderr  # 1: the one with no notebook
    parts = sharded["shard_records"]
    assert sorted(parts) == ["0-of-2", "1-of-2"]
    assert parts["0-of-2"].isdisjoint(parts["1-of-2"]) and parts["0-of-2"] | parts["1-of-2"] == set(STUDENTS)
    assert all(parts.values())  # the class of nine is split, not given to one shard
    assert sharded["before_merge"] == ["shards"]  # no results/, report or page yet
    assert not sharded["feedback_before_merge"]
    assert sharded["gradebook_before_merge"] == {}  # the gradebook untouched


def test_the_merge_writes_the_gradebook_one_batch_writes(sharded):
    merge, whole = sharded["merge"], sharded["whole"]
    assert merge.returncode == whole.returncode == 1, merge.stdout + merge.stderr  # "nothing": no notebook
    assert f"{len(STUDENTS)} submissions: 0 graded now, 9 unchanged since graded; 9 merged from shards; " \
        "gradebook: 0 written, 9 repaired; 9 feedback pages written" in merge.stdout
    assert "Dask imported: False" in merge.stderr
    merged, single = gradebook(sharded["courses"]["sharded"]), gradebook(sharded["courses"]["whole"])
    assert merged == single and sorted(merged) == sorted(STUDENTS)
    assert {comment for _, comment in merged["blank"]["comments"]} == {"No response."}
    assert {comment for _, comment in merged["student-1"]["comments"]} == {None}
    assert merged["late"]["penalty"] == TOTAL and merged["student-1"]["penalty"] is None  # the "zero" policy
    course = sharded["courses"]["sharded"]
    for student in STUDENTS:
        assert (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").exists(), student
    scores = (course / "reports" / ASSIGNMENT / "scores.csv").read_text().splitlines()
    assert len(scores) == len(STUDENTS) + 1
    record = json.loads((course / "reports" / ASSIGNMENT / "results" / "blank.json").read_text())
    assert record["unanswered"] and set(record["unanswered"]) == set(record["answers"])


def test_a_second_merge_finds_everything_current(sharded):
    again = sharded["merge_again"]
    assert f"{len(STUDENTS)} submissions: 0 graded now, 9 unchanged since graded; 0 merged" in again.stdout
    assert "gradebook: 0 written, 0 repaired; 0 feedback pages written" in again.stdout


def test_a_notebook_changed_after_its_shard_is_named_not_merged(sharded):
    run = sharded["merge_changed"]
    assert run.returncode == 1
    assert "Graded by no shard as submitted now" in run.stdout and "\n  student-0\n" in run.stdout + "\n"
    assert "8 unchanged since graded; 0 merged from shards" in run.stdout
