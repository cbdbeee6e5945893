"""``python -m autograder new`` and ``validate`` (autograder/authoring/): a scaffolded assignment grades
as it stands, every assignment of the kit is valid, and each kind of problem is found and named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.assignments import KIT, UsageError, assignment_names
from autograder.authoring.scaffold import scaffold
from autograder.authoring.validate import validate


def run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def course(tmp_path_factory, jupyter_env) -> Path:
    """A course made by ``new`` and released with nbgrader, as an instructor starts one."""
    root = tmp_path_factory.mktemp("authoring") / "course"
    root.mkdir()
    (root / "nbgrader_config.py").write_text((KIT / "nbgrader_config.py").read_text())
    made = run(["autograder", "new", "tryout"], root, jupyter_env)
    assert made.returncode == 0, made.stderr
    released = run(["nbgrader", "generate_assignment", "tryout", "--no-db", "--force"], root, jupyter_env)
    assert released.returncode == 0, released.stderr
    return root


def edit_source(course: Path, old: str, new: str) -> None:
    path = course / "source" / "tryout" / "tryout.ipynb"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_new_writes_an_assignment_that_validates_with_nbgrader(course, jupyter_env):
    process = run(["autograder", "validate", "tryout"], course, jupyter_env)
    assert process.returncode == 0, process.stdout + process.stderr
    assert "nbgrader, solved source: 10.0" in process.stdout and "tryout: valid" in process.stdout
    assert (course / "docs" / "assignments" / "tryout.md").read_text().startswith("# tryout\n")


def test_new_refuses_a_taken_or_unusable_name(course):
    with pytest.raises(UsageError, match="exists already"):
        scaffold(course, "tryout")
    for name in ("Tryout", "2nd", "class", "with-dash"):
        with pytest.raises(UsageError, match="not a usable assignment id"):
            scaffold(course, name)


@pytest.mark.parametrize("name", assignment_names(KIT))
def test_every_assignment_of_the_kit_is_valid(name, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert validate(KIT, name, nbgrader=False, say=lambda line: None) == []
    assert list(tmp_path.iterdir()) == [], "validate left its graded copies behind"


def copy_course(course: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "course"
    shutil.copytree(course, target)
    return target


def test_points_in_the_text_that_the_metadata_contradicts_are_named(course, tmp_path):
    copy = copy_course(course, tmp_path)
    edit_source(copy, "scale a vector (10 points)", "scale a vector (15 points)")
    problems = validate(copy, "tryout", nbgrader=False, say=lambda line: None)
    assert any("says 15 points, but test cell test_scale is worth 10" in p for p in problems), problems


def test_a_stray_a_broken_and_an_empty_checks_module_are_named(course, tmp_path):
    copy = copy_course(course, tmp_path)
    checks = copy / "solutions" / "tryout" / "checks"
    checks.mkdir()
    (checks / "test_nothing.py").write_text("def test_x(student, rng):\n    pass\n")
    (checks / "test_scale.py").write_text("import no_such_module\n")
    problems = validate(copy, "tryout", nbgrader=False, say=lambda line: None)
    assert any("test_nothing.py: checks no test cell" in p for p in problems), problems
    assert any("test_scale.py: does not import (ModuleNotFoundError" in p for p in problems), problems
    (checks / "test_scale.py").write_text("X = 1\n")
    problems = validate(copy, "tryout", nbgrader=False, say=lambda line: None)
    assert any("test_scale.py: holds no check" in p for p in problems), problems


def test_a_stale_or_leaking_release_is_named(course, tmp_path):
    copy = copy_course(course, tmp_path)
    release = copy / "release" / "tryout" / "tryout.ipynb"
    book = json.loads(release.read_text())
    for cell in book["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == "scale_solution":
            cell["source"] = "def scale(values, factor):\n    return np.asarray(values) * factor\n"
        if meta.get("grade_id") == "test_scale":
            meta["points"] = 12
    release.write_text(json.dumps(book))
    problems = validate(copy, "tryout", nbgrader=False, say=lambda line: None)
    assert any("grade ids or points differ" in p for p in problems), problems
    assert any("holds a line of a solution or hidden test" in p for p in problems), problems


def test_a_wrong_solution_and_a_mistake_that_loses_other_cells_are_named(course, tmp_path):
    copy = copy_course(course, tmp_path)
    (copy / "solutions" / "tryout" / "mistakes.py").write_text(
        "MISTAKES = {'adds': {'replace': {'scale': 'def scale(values, factor):\\n"
        "    return np.asarray(values) + factor\\n'}, 'loses': []}}\n")
    edit_source(copy, "return np.asarray(values) * factor\\n", "return np.asarray(values) * factor * 1.5\\n")
    problems = validate(copy, "tryout", nbgrader=False, say=lambda line: None)
    assert any("the solved source loses test_scale" in p for p in problems), problems
    assert any("mistake adds loses ['test_scale'], not the declared []" in p for p in problems), problems
