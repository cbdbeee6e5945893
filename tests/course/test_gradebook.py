"""The gradebook's copy of the assignment (autograder/course/gradebook.py) after the points change.

``make release`` runs ``nbgrader generate_assignment --no-db``: the release gets the new points,
the gradebook keeps the old ones. With no submission recorded, the batch brings the gradebook up
to date itself, through nbgrader's converter; with submissions, it stops (exit status 4) and
names the command that does it, which then works. (The course is opened from its own folder,
whatever the working directory: there, another course's nbgrader_config.py would win.)
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.course.gradebook import ensure_assignment
from autograder.course.nbgrader_course import CourseError, open_course

ASSIGNMENT = "mnist_mlp"
# nbgrader's add_submission builds its objects in a way SQLAlchemy 2 warns about (harmless)
pytestmark = pytest.mark.filterwarnings("ignore:Object of type .* not in session")


def source(course: Path) -> Path:
    return course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def edit_cells(course: Path, change) -> None:
    """Rewrite the source notebook with ``change(cells)``."""
    notebook = json.loads(source(course).read_text())
    notebook["cells"] = change(notebook["cells"])
    source(course).write_text(json.dumps(notebook, indent=1))


def grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def set_points(course: Path, cell_id: str, points: float) -> None:
    def change(cells: list[dict]) -> list[dict]:
        for cell in cells:
            if grade_id(cell) == cell_id:
                cell["metadata"]["nbgrader"]["points"] = points
        return cells

    edit_cells(course, change)


def recorded_points(course: Path) -> dict[str, float]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {cell.name: cell.max_score for cell in gb.find_notebook(ASSIGNMENT, ASSIGNMENT).grade_cells}


def add_submission(course: Path, student: str) -> None:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_student(student)
        gb.add_submission(ASSIGNMENT, student)


def command_in(message: str) -> str:
    found = re.search(r"run from the course root '([^']+)'", message)
    assert found, message
    return found.group(1)


@pytest.fixture
def course(scratch_course: Path, jupyter_env: dict[str, str], nbgrader, monkeypatch) -> Path:
    """A course whose gradebook has the assignment; nbgrader's configuration read from
    ``jupyter_env`` in this process too."""
    for variable in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR", "PATH"):
        monkeypatch.setenv(variable, jupyter_env[variable])
    nbgrader(scratch_course, "generate_assignment", ASSIGNMENT, "--force")
    assert recorded_points(scratch_course)["test_relu"] == 10
    return scratch_course


def test_the_batch_brings_new_points_into_a_gradebook_without_submissions(course, nbgrader, kit_env):
    set_points(course, "test_relu", 15)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force", "--no-db")  # as `make release`
    release = (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    elsewhere = course.parent / "elsewhere"  # another course's folder, where the batch is started
    elsewhere.mkdir()
    shutil.copy2(course / "nbgrader_config.py", elsewhere)
    command = [sys.executable, "-m", "autograder", "batch", ASSIGNMENT, "--course-dir", str(course),
               "--allow-unisolated"]
    run = subprocess.run(command, cwd=elsewhere, env=kit_env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert list(elsewhere.iterdir()) == [elsewhere / "nbgrader_config.py"]  # no gradebook started there
    assert ("Gradebook brought up to date: the grade cells of mnist_mlp/mnist_mlp now have the source "
            "notebook's points (test_relu 10 -> 15 points)") in run.stdout
    assert recorded_points(course)["test_relu"] == 15
    assert (course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes() == release
    assert ensure_assignment(open_course(course, ASSIGNMENT)).updated == ""  # nothing left to do


def test_with_submissions_it_names_the_command_that_updates_the_points(course, nbgrader):
    add_submission(course, "alice")
    set_points(course, "test_relu", 15)
    with pytest.raises(CourseError) as stopped:
        ensure_assignment(open_course(course, ASSIGNMENT))
    assert "test_relu 10 -> 15 points" in str(stopped.value) and "1 submission(s)" in str(stopped.value)
    command = command_in(str(stopped.value))
    assert command == f"nbgrader generate_assignment {ASSIGNMENT} --force"
    nbgrader(course, *shlex.split(command)[1:])
    assert ensure_assignment(open_course(course, ASSIGNMENT)).updated == ""
    assert recorded_points(course)["test_relu"] == 15
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert [s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions] == ["alice"]


def test_a_grade_cell_removed_with_submissions_names_the_commands_that_start_afresh(course, nbgrader):
    nbgrader(course, "db", "assignment", "add", ASSIGNMENT, "--duedate=2025-01-20 23:59:00 UTC")
    add_submission(course, "alice")
    edit_cells(course, lambda cells: [cell for cell in cells if grade_id(cell) != "test_train"])
    with pytest.raises(CourseError) as stopped:
        ensure_assignment(open_course(course, ASSIGNMENT))
    assert "test_train removed" in str(stopped.value)
    command = command_in(str(stopped.value))
    assert command == (f"nbgrader db assignment remove {ASSIGNMENT} --force && nbgrader db assignment add "
                       f'{ASSIGNMENT} --duedate="2025-01-20 23:59:00 UTC"')
    for part in command.split(" && "):
        nbgrader(course, *shlex.split(part)[1:])
    known = ensure_assignment(open_course(course, ASSIGNMENT))
    assert "test_train" not in recorded_points(course) and known.duedate == datetime(2025, 1, 20, 23, 59)
