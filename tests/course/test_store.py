"""The records (autograder/course/store.py): a record is current for one file, one version of
the assignment and one version of the grader; what each version covers."""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.assignment import Assignment, GradedCell
from autograder.course.store import (
    ERROR,
    GRADED,
    KIT,
    Versions,
    assignment_files,
    assignment_version,
    digest_files,
    fingerprint,
    grader_files,
    grader_version,
    is_current,
    new_record,
)

REPOSITORY = Path(__file__).resolve().parents[2]


def worth(points: float) -> Assignment:
    return Assignment(graded=(GradedCell("test_a", points),), solution_ids=frozenset(),
                      instructor_ids=frozenset())


def course_of(tmp_path: Path, name: str = "hw") -> Path:
    """A course with ``source/hw/hw.ipynb`` and its module ``solutions/hw/`` with one check."""
    (tmp_path / "source" / name).mkdir(parents=True)
    (tmp_path / "source" / name / f"{name}.ipynb").write_text("{}")
    checks = tmp_path / "solutions" / name / "checks"
    checks.mkdir(parents=True)
    (checks.parent / "__init__.py").write_text("def relu(x): return x\n")
    (checks / "test_a.py").write_text("def test_a(): pass\n")
    return tmp_path


def test_the_assignment_version_follows_its_notebook_checks_and_reference(tmp_path: Path):
    course = course_of(tmp_path)
    first = assignment_version(course, "hw")
    assert assignment_version(course, "hw") == first
    for path in (course / "source" / "hw" / "hw.ipynb", course / "solutions" / "hw" / "checks" / "test_a.py",
                 course / "solutions" / "hw" / "__init__.py"):
        saved = path.read_text()
        path.write_text(saved + "\n# changed\n")
        assert assignment_version(course, "hw") != first, path
        path.write_text(saved)
    assert assignment_version(course, "hw") == first
    (course / "source" / "hw" / "__pycache__").mkdir()  # caches and checkpoints are no part of it
    (course / "source" / "hw" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (course / "source" / "hw" / ".ipynb_checkpoints").mkdir()
    (course / "source" / "hw" / ".ipynb_checkpoints" / "hw-checkpoint.ipynb").write_text("{}")
    assert assignment_version(course, "hw") == first
    (course / "source" / "hw" / "data.csv").write_text("1,2\n")  # a file students get beside it is
    assert assignment_version(course, "hw") != first


def test_an_assignment_module_of_one_file_is_covered_and_the_kits_is_found(tmp_path: Path):
    (tmp_path / "source" / "hw").mkdir(parents=True)
    (tmp_path / "solutions").mkdir()
    module = tmp_path / "solutions" / "hw.py"
    module.write_text("def relu(x): return x\n")
    assert sorted(assignment_files(tmp_path, "hw")) == ["solutions/hw.py"]
    first = assignment_version(tmp_path, "hw")
    module.write_text("def relu(x): return abs(x)\n")
    assert assignment_version(tmp_path, "hw") != first
    kit = assignment_files(KIT, "mnist_mlp")  # the kit's own assignment, checks included
    assert "source/mnist_mlp/mnist_mlp.ipynb" in kit
    assert any(name.startswith("solutions/mnist_mlp/checks/") for name in kit)
    empty = tmp_path / "empty"
    shutil.copytree(REPOSITORY / "source" / "mnist_mlp", empty / "source" / "mnist_mlp",
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    assert assignment_files(empty, "mnist_mlp").keys() == kit.keys()  # a course without its own module


def test_the_fingerprint_changes_with_points_assignment_and_grader():
    first = fingerprint(worth(10.0), "assignment-1", "grader-1")
    assert fingerprint(worth(10.0), "assignment-1", "grader-1") == first
    others = {fingerprint(worth(15.0), "assignment-1", "grader-1"), fingerprint(worth(10.0), "assignment-2",
              "grader-1"), fingerprint(worth(10.0), "assignment-1", "grader-2")}
    assert first not in others and len(others) == 3


def test_the_grader_version_covers_grading_code_not_the_course_floor():
    files = grader_files()
    assert "autograder/grade.py" in files and "autograder/sandbox/seccomp.py" in files
    assert {"solutions/data.py", "solutions/_download.py"} <= set(files)
    assert not any(name.startswith(("autograder/course/", "autograder/authoring/")) for name in files)
    assert grader_version() == digest_files(files)


def test_a_record_is_current_for_its_file_and_fingerprint_unless_it_failed():
    versions = Versions("a", "g", "fp")
    record = new_record("alice", "hw", GRADED, versions, submission={"sha256": "abc"}, result={})
    assert is_current(record, "abc", "fp")
    assert not is_current(record, "abd", "fp") and not is_current(record, "abc", "other")
    failed = new_record("alice", "hw", ERROR, versions, submission={"sha256": "abc"})
    assert not is_current(failed, "abc", "fp") and not is_current(None, "abc", "fp")
    assert record["versions"] == {"assignment": "a", "grader": "g"}
