"""Which notebook of a student's folder is graded (autograder/course/submissions.py), and
``batch`` never following a link out of a student's folder.

A class in which notebooks, student folders and assignment folders are symbolic links (to the
course's source notebook, to elsewhere, within the folder), nbgrader's files are links, and
pipes or a device sit where files should be. Each such submission is scored 0 with a reason
naming the entry, nothing it points to is read for the student or copied to their feedback,
a pipe blocks nothing, and the rest of the class is graded; a hard link is a file, and graded.

The grading processes run the stand-in of ``grading_entries.stand_in_grade`` (full marks,
and a record of which file it read): what is tested here is which files reach a grader.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import points_of
from nbgrader.api import Gradebook

from autograder import studentfiles
from autograder.course.submissions import choose_notebook, in_shard

TOTAL = sum(points_of("mnist_mlp").values())  # every point, as the notebook gives them

ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
TESTS = Path(__file__).resolve().parents[1]
SOURCE_MARK = "### BEGIN HIDDEN TESTS"  # in the source notebook, never in a student's feedback
OUTSIDE_SECRET = "the-secret-outside-every-student-folder"
ON_TIME = "2025-01-15 12:00:00.000000 UTC"
# Runs the batch with its grading processes running the stand-in grader.
STAND_IN_BATCH = """
import sys
sys.path.insert(0, sys.argv[1])
from autograder.course import batch, processes
processes.ENTRY = "grading_entries:stand_in_grade"
sys.exit(batch.main(sys.argv[2:]))
"""
LINK = "is a symbolic link; submit the notebook file itself"
REFUSED = {  # student -> the reason of the 0
    "notebook-to-source": f"{NOTEBOOK} {LINK}",
    "notebook-to-own-file": f"{NOTEBOOK} {LINK}",
    "renamed-link": f"mine.ipynb {LINK}",
    "student-folder-link": "student-folder-link is a symbolic link; submit the folder itself",
    "assignment-folder-link":
        '"assignment-folder-link/mnist_mlp" is a symbolic link; submit the folder itself',
    "all-links": f"{NOTEBOOK} {LINK}",
    "timestamp-link": "timestamp.txt is a symbolic link; submit the file itself",
    "notebook-pipe": f"{NOTEBOOK} is a named pipe; submit the notebook file itself",
    "timestamp-pipe": "timestamp.txt is a named pipe; submit the file itself",
    "wrong-assignment": (f"{NOTEBOOK} is a notebook of assignment mnist_minibatch (mnist_minibatch.ipynb), "
                         "not of mnist_mlp: grade it with --assignment mnist_minibatch"),
}
LONGEST = "b" * 255  # a folder name as long as a file name may be: its record's name must be shorter
GRADED = ("honest", "hard-link", "secret-link", "secret-pipe", LONGEST)


def run_batch(course: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", STAND_IN_BATCH, str(TESTS), ASSIGNMENT, "--jobs", "2", "-q"]
    # The timeout guards against a pipe that blocks the batch: a blocked batch fails here.
    return subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=600)


def student_folder(course: Path, student: str) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    return folder


def hand_in(folder: Path, text: str = "a student's notebook", secret: bool = True) -> None:
    (folder / NOTEBOOK).write_text(text)
    (folder / "timestamp.txt").write_text(ON_TIME)
    if secret:
        (folder / "submission_secret.txt").write_text("the student's own secret")


def build_class(course: Path) -> None:
    source = course / "source" / ASSIGNMENT / NOTEBOOK
    outside = course.parent / "outside"
    (outside / ASSIGNMENT).mkdir(parents=True)
    hand_in(outside / ASSIGNMENT, text=f"{OUTSIDE_SECRET} notebook")
    (outside / "timestamp.txt").write_text(ON_TIME)
    (outside / "submission_secret.txt").write_text(OUTSIDE_SECRET)
    (outside / "hard.ipynb").write_text("a hard-linked notebook")

    hand_in(student_folder(course, "honest"))
    folder = student_folder(course, "notebook-to-source")
    (folder / NOTEBOOK).symlink_to(os.path.relpath(source, folder))
    (folder / "timestamp.txt").write_text(ON_TIME)
    folder = student_folder(course, "notebook-to-own-file")
    (folder / "work.txt").write_text("a notebook under another name")
    (folder / NOTEBOOK).symlink_to("work.txt")
    (student_folder(course, "renamed-link") / "mine.ipynb").symlink_to(source)
    (course / "submitted" / "student-folder-link").symlink_to(outside)
    (course / "submitted" / "assignment-folder-link").mkdir()
    (course / "submitted" / "assignment-folder-link" / ASSIGNMENT).symlink_to(outside / ASSIGNMENT)
    folder = student_folder(course, "all-links")
    (folder / NOTEBOOK).symlink_to(source)
    for name in ("timestamp.txt", "submission_secret.txt"):
        (folder / name).symlink_to(outside / name)
    folder = student_folder(course, "timestamp-link")
    hand_in(folder)
    (folder / "timestamp.txt").unlink()
    (folder / "timestamp.txt").symlink_to(outside / "timestamp.txt")
    folder = student_folder(course, "secret-link")
    hand_in(folder, secret=False)
    (folder / "submission_secret.txt").symlink_to(outside / "submission_secret.txt")
    os.mkfifo(student_folder(course, "notebook-pipe") / NOTEBOOK)
    folder = student_folder(course, "timestamp-pipe")
    (folder / NOTEBOOK).write_text("a notebook")
    os.mkfifo(folder / "timestamp.txt")
    folder = student_folder(course, "secret-pipe")
    hand_in(folder, secret=False)
    os.mkfifo(folder / "submission_secret.txt")
    os.link(outside / "hard.ipynb", student_folder(course, "hard-link") / NOTEBOOK)
    hand_in(student_folder(course, LONGEST))
    folder = student_folder(course, "wrong-assignment")  # the other assignment's notebook, handed in here
    other = course / "source" / "mnist_minibatch" / "mnist_minibatch.ipynb"
    (folder / NOTEBOOK).write_bytes(other.read_bytes())
    (folder / "timestamp.txt").write_text(ON_TIME)
    if os.geteuid() == 0:
        folder = student_folder(course, "notebook-device")
        os.mknod(folder / NOTEBOOK, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # as /dev/null


def records(course: Path) -> dict[str, dict]:
    folder = course / "reports" / ASSIGNMENT / "results"
    found = (json.loads(path.read_text()) for path in folder.glob("*.json"))
    return {record["student"]: record for record in found}


@pytest.fixture(scope="module")
def linked_class(module_course: Path, kit_env: dict[str, str]) -> dict:
    course = module_course
    build_class(course)
    first = run_batch(course, kit_env)
    first_records = records(course)
    swapped = course / "submitted" / "honest" / ASSIGNMENT / NOTEBOOK  # a link since the first run
    swapped.unlink()
    swapped.symlink_to(course / "source" / ASSIGNMENT / NOTEBOOK)
    second = run_batch(course, kit_env)
    return {"course": course, "first": first, "records": first_records, "second": second,
            "after": records(course)}


def refused(course: Path) -> dict[str, str]:
    expected = dict(REFUSED)
    if os.geteuid() == 0:
        expected["notebook-device"] = f"{NOTEBOOK} is a device; submit the notebook file itself"
    return expected


def test_links_pipes_and_devices_score_0_with_the_reason(linked_class):
    course, run, found = linked_class["course"], linked_class["first"], linked_class["records"]
    assert run.returncode == 1, run.stdout + run.stderr
    expected = refused(course)
    assert {s: r["reason"] for s, r in found.items() if r["status"] == "unreadable"} == expected
    for student, reason in expected.items():
        assert f"  {student}: unreadable: {reason}" in run.stdout
        assert found[student]["result"]["score"] == 0
    assert {s for s, r in found.items() if r["status"] == "graded"} == set(GRADED)


def test_graders_read_a_copy_of_the_students_own_file(linked_class):
    course, found = linked_class["course"], linked_class["records"]
    scratch = course / "reports" / ASSIGNMENT / ".grading"
    handed_in = dict.fromkeys(GRADED, b"a student's notebook") | {"hard-link": b"a hard-linked notebook"}
    for student in GRADED:
        read = found[student]["result"]["extra_data"]["stand_in"]
        assert Path(read["path"]).is_relative_to(scratch), read["path"]
        assert read["sha256"] == found[student]["submission"]["sha256"]
        assert read["sha256"] == hashlib.sha256(handed_in[student]).hexdigest(), student
    assert found["hard-link"]["result"]["score"] == TOTAL  # a hard link is a file of the folder
    assert not scratch.exists()


def test_the_gradebook_scores_them_0(linked_class):
    course = linked_class["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s.student.id: float(s.score) for s in gb.find_assignment(ASSIGNMENT).submissions}
    expected = {student: 0.0 for student in refused(course)} | {student: 100.0 for student in GRADED}
    expected["honest"] = 0.0  # swapped for a link before the second run
    assert scores == expected


def test_nothing_from_outside_reaches_a_feedback_folder(linked_class):
    course = linked_class["course"]
    for folder in (course / "feedback").iterdir():
        for path in (folder / ASSIGNMENT).iterdir():
            text = path.read_text(errors="replace")
            assert OUTSIDE_SECRET not in text and SOURCE_MARK not in text, path
            assert not path.is_symlink(), path
    copied = {student: sorted(p.name for p in (course / "feedback" / student / ASSIGNMENT).iterdir())
              for student in ("all-links", "secret-link", "secret-pipe", "student-folder-link")}
    page_only, with_timestamp = [f"{ASSIGNMENT}.html"], [f"{ASSIGNMENT}.html", "timestamp.txt"]
    assert copied == {"all-links": page_only, "secret-link": with_timestamp, "secret-pipe": with_timestamp,
                      "student-folder-link": page_only}
    page = (course / "feedback" / "notebook-to-source" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "could not be graded" in page and f"{NOTEBOOK} is a symbolic link" in page


def test_a_rerun_refuses_a_file_swapped_for_a_link_and_grades_nothing_else(linked_class):
    second, after = linked_class["second"], linked_class["after"]
    assert "1 graded now" in second.stdout, second.stdout + second.stderr
    assert after["honest"]["status"] == "unreadable" and after["honest"]["reason"] == f"{NOTEBOOK} {LINK}"
    unchanged = {s for s in after if s != "honest"}
    assert all(after[s]["graded_at"] == linked_class["records"][s]["graded_at"] for s in unchanged)


def test_the_class_report_lists_them(linked_class):
    course = linked_class["course"]
    with open(course / "reports" / ASSIGNMENT / "scores.csv", newline="") as stream:
        rows = {row["student"]: row for row in csv.DictReader(stream)}
    unreadable = {s for s, row in rows.items() if row["status"] == "unreadable"}
    assert unreadable == set(refused(course)) | {"honest"}


def test_choose_notebook():
    entry = studentfiles.Entry
    assert choose_notebook([], ASSIGNMENT) == (
        None, "no notebook submitted: mnist_mlp.ipynb is not in the submission", "")
    assert choose_notebook([entry("work.ipynb", "folder")], ASSIGNMENT)[0] is None
    mine = [entry("mine (1).ipynb", "file"), entry("notes.txt", "file")]
    assert choose_notebook(mine, ASSIGNMENT) == (
        "mine (1).ipynb", "", 'graded "mine (1).ipynb": there is no mnist_mlp.ipynb in the submission')
    two = [*mine, entry("other.ipynb", "file")]
    assert choose_notebook(two, ASSIGNMENT)[1] == (
        '2 notebooks ("mine (1).ipynb", other.ipynb) and none of them is mnist_mlp.ipynb')
    expected = ("mnist_mlp.ipynb", "", "")
    assert choose_notebook([*two, entry("mnist_mlp.ipynb", "file")], ASSIGNMENT) == expected
    with pytest.raises(studentfiles.Refused, match="^mnist_mlp.ipynb is a symbolic link; submit the"):
        choose_notebook([*two, entry("mnist_mlp.ipynb", "symbolic link")], ASSIGNMENT)
    with pytest.raises(studentfiles.Refused, match="^mine.ipynb is a named pipe; submit the notebook"):
        choose_notebook([entry("mine.ipynb", "named pipe")], ASSIGNMENT)


def test_every_student_is_in_exactly_one_shard_whatever_the_others():
    students = [f"student-{n}" for n in range(400)] + ["", "=x", "bidi\u202e"]
    for count in (1, 3, 8):
        shards = [[s for s in students if in_shard(s, index, count)] for index in range(count)]
        assert sorted(sum(shards, [])) == sorted(students)
        assert min(map(len, shards)) > len(students) / count / 2  # no shard far from its share
    # Every machine of a job array must agree: no per-process salt (Python's own hash() has one).
    code = ("import sys; from autograder.course.submissions import in_shard; "
            "print([i for i in range(400) if in_shard(f'student-{i}', 0, 8)])")
    there = [subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONHASHSEED=seed),
                            capture_output=True, text=True, check=True).stdout for seed in ("1", "2")]
    here = str([i for i in range(400) if in_shard(f"student-{i}", 0, 8)]) + "\n"
    assert there == [here, here]
