"""Which assignment a notebook is graded as (autograder/assignments.py), and the grader saying so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from plain_course import make_course

from autograder.assignments import KIT, UsageError, course_root, identify, load, notebooks


@pytest.fixture
def course(tmp_path: Path) -> Path:
    return make_course(tmp_path / "course")


def copy_to(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def test_from_the_folder_it_sits_in(course):
    submitted = copy_to(course / "source/quiz/part_b.ipynb", course / "submitted/ann/quiz/part_b.ipynb")
    graded = identify(submitted, course)
    assert (graded.name, graded.notebook.name) == ("quiz", "part_b.ipynb")


def test_from_its_grade_ids_when_the_folder_says_nothing(course):
    loose = copy_to(course / "source/quiz/part_a.ipynb", course / "inbox/renamed.ipynb")
    graded = identify(loose, course)
    assert (graded.name, graded.notebook.name) == ("quiz", "part_a.ipynb")


def test_named_by_name_or_by_notebook_path(course):
    loose = copy_to(course / "source/drill/drill.ipynb", course / "inbox/x.ipynb")
    assert identify(loose, course, "drill").notebook.name == "drill.ipynb"
    assert identify(loose, course, str(course / "source/drill/drill.ipynb")).name == "drill"


def test_a_notebook_of_another_assignment_is_a_usage_error_naming_both(course):
    wrong = copy_to(course / "source/drill/drill.ipynb", course / "submitted/ann/quiz/part_a.ipynb")
    with pytest.raises(UsageError, match=r"notebook of assignment drill .* not of quiz"):
        identify(wrong, course)
    with pytest.raises(UsageError, match="not of quiz"):
        identify(wrong, course, "quiz")


def test_a_file_without_grade_ids_needs_a_name_when_the_course_has_several(course, tmp_path):
    empty = tmp_path / "empty.ipynb"
    empty.write_text("")
    with pytest.raises(UsageError, match="cannot tell which assignment"):
        identify(empty, course)
    assert identify(empty, course, "drill").name == "drill"
    with pytest.raises(UsageError, match="no assignment 'nothing'"):
        identify(empty, course, "nothing")


def test_the_course_is_found_above_the_working_directory(course):
    assert course_root(course / "submitted" / "ann") == course.resolve()
    quiz = course / "source" / "quiz"
    assert notebooks(course, "quiz") == [quiz / "part_a.ipynb", quiz / "part_b.ipynb"]
    with pytest.raises(UsageError, match="has the notebooks part_a.ipynb, part_b.ipynb"):
        load(course, "quiz")


def test_the_command_line_exits_4_on_a_mismatch_and_names_both(course):
    wrong = copy_to(course / "source/drill/drill.ipynb", course / "inbox/drill.ipynb")
    process = subprocess.run([sys.executable, "-m", "autograder", str(wrong), "--assignment", "quiz"],
                             capture_output=True, text=True, cwd=course, timeout=120)
    assert process.returncode == 4, process.stdout + process.stderr
    assert "notebook of assignment drill" in process.stderr and "quiz" in process.stderr


def test_the_kits_own_assignments_are_found_without_a_course():
    names = {path.parent.name for path in (KIT / "source").glob("*/*.ipynb") if json.loads(path.read_text())}
    assert names and all(load(KIT, name).assignment.graded for name in names)
