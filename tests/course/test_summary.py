"""Every text a student controls reaches the batch's outputs as one line, escaped for where it lands.

Student ids (folder names) that are spreadsheet formulas, hold a newline and a terminal escape,
a right-to-left override or HTML; a notebook named with a terminal escape; check messages and an
unreadable file's reason holding escapes and markup. The terminal summary, ``scores.csv``, the
class report and the feedback pages show each as typed, on one line, and run nothing.

The grading processes run the stand-in of ``grading_entries.stand_in_grade``, which turns a
``STAND_IN_MESSAGE=`` or ``STAND_IN_UNREADABLE=`` line of a notebook into its result.
"""

from __future__ import annotations

import csv
import html
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.text import name

ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
TESTS = Path(__file__).resolve().parents[1]
STAND_IN_BATCH = """
import sys
sys.path.insert(0, sys.argv[1])
from autograder.course import batch, processes
processes.ENTRY = "grading_entries:stand_in_grade"
sys.exit(batch.main(sys.argv[2:]))
"""
ESCAPE, OVERRIDE = "\x1b", "\u202e"
STUDENTS = {  # student id -> (notebook file name, its text)
    '=HYPERLINK("x","y")': (NOTEBOOK, "a notebook"),
    "evil\n\x1b[31mred": (NOTEBOOK, "STAND_IN_MESSAGE=<script>alert(1)</script> **bold** \\x1b[2J"),
    "bidi\u202eexe": (NOTEBOOK, "STAND_IN_UNREADABLE=not a notebook \\x1b[2J\\u202e<b>x</b>"),
    "<img src=x onerror=alert(1)>": (NOTEBOOK, "STAND_IN_MESSAGE=relu timed out after 10 s \\x1b[2J"),
    "-renamed": ("my\x1b[31mnb.ipynb", "a notebook"),
    "alice": (NOTEBOOK, "a notebook"),
}


def run_batch(course: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", STAND_IN_BATCH, str(TESTS), ASSIGNMENT, "--jobs", "2"]
    return subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def named_class(module_course: Path, kit_env: dict[str, str]) -> tuple[Path, subprocess.CompletedProcess]:
    course = module_course
    for student, (file_name, text) in STUDENTS.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / file_name).write_text(text)
    return course, run_batch(course, kit_env)


def test_the_terminal_summary_shows_every_id_and_message_as_one_line(named_class):
    _, run = named_class
    assert run.returncode == 1, run.stdout + run.stderr  # one unreadable
    shown = run.stdout + run.stderr
    assert ESCAPE not in shown and OVERRIDE not in shown
    bidi = name("bidi\u202eexe")
    assert f"  {bidi}: unreadable: not a notebook \\x1b[2J\\u202e<b>x</b>" in run.stdout
    assert f"{bidi}: unreadable: " in run.stderr  # the line written while the batch runs
    hit = f"  {name('<img src=x onerror=alert(1)>')}: relu timed out after 10 s \\x1b[2J"
    assert hit in run.stdout
    assert all(line.startswith(("  ", "mnist_mlp:", "Could not", "Graded,", "Report:"))
               for line in run.stdout.splitlines())


def test_scores_csv_has_one_row_per_student_and_no_formula(named_class):
    course, _ = named_class
    text = (course / "reports" / ASSIGNMENT / "scores.csv").read_text()
    assert len(text.splitlines()) == len(STUDENTS) + 1
    with open(course / "reports" / ASSIGNMENT / "scores.csv", newline="") as stream:
        cells = [row["student"] for row in csv.DictReader(stream)]
    assert len(cells) == len(STUDENTS)
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)
    assert '\'=HYPERLINK("x","y")' in cells and "'-renamed" in cells and "alice" in cells
    assert "evil\\n\\x1b[31mred" in cells


def test_the_class_report_runs_nothing_and_reorders_nothing(named_class):
    course, _ = named_class
    page = (course / "reports" / ASSIGNMENT / "index.html").read_text()
    assert ESCAPE not in page and OVERRIDE not in page
    for raw in ("<script>", "<img src=x", "<b>x</b>"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "stand-in layer, another layer" in page  # the sandbox's layers: the instructor's


def test_feedback_pages_show_student_text_escaped_and_no_layers(named_class):
    course, _ = named_class
    for student in STUDENTS:
        page = (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        assert ESCAPE not in page and OVERRIDE not in page, repr(student)
        assert "<script>" not in page and "<img src=x" not in page and "<b>x</b>" not in page
        assert "stand-in layer" not in page and "isolation" not in page
        title = html.unescape(page.split("<title>")[1].split("</title>")[0])
        assert title == f"{ASSIGNMENT}: feedback for {name(student)}"
    renamed = (course / "feedback" / "-renamed" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    renamed = html.unescape(renamed)
    assert 'graded "my\\x1b[31mnb.ipynb": there is no mnist_mlp.ipynb in the submission' in renamed
