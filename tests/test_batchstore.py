"""The batch's records (autograder/batchstore.py): the grader's fingerprint follows the grading code."""

from __future__ import annotations

from pathlib import Path

from autograder.assignment import Assignment, GradedCell
from autograder.batchstore import KIT, grader_fingerprint, grading_code


def worth(points: float) -> Assignment:
    return Assignment(graded=(GradedCell("test_a", points),), solution_ids=frozenset(),
                      instructor_ids=frozenset())


def test_the_fingerprint_changes_with_the_checks_and_the_points(tmp_path: Path):
    checks = tmp_path / "solutions" / "hw" / "checks"
    checks.mkdir(parents=True)
    (checks / "test_a.py").write_text("def test_a(): pass\n")
    assignment = worth(10.0)
    first = grader_fingerprint(assignment, (tmp_path / "solutions",))
    assert grader_fingerprint(assignment, (tmp_path / "solutions",)) == first
    (checks / "test_a.py").write_text("def test_a(): assert False\n")
    changed = grader_fingerprint(assignment, (tmp_path / "solutions",))
    assert changed != first
    assert grader_fingerprint(worth(15.0), (tmp_path / "solutions",)) != changed


def test_the_kits_grading_code_is_hashed(tmp_path: Path):
    folders = grading_code("mnist_mlp", tmp_path)
    assert any(any(folder.rglob("test_*.py")) for folder in folders)  # wherever the checks are now
    assert tmp_path / "solutions" / "mnist_mlp" in folders  # a course's own
    assert len(grading_code("mnist_mlp", KIT)) == 3


def test_an_assignment_module_is_hashed_too(tmp_path: Path):
    (tmp_path / "solutions").mkdir()
    module = tmp_path / "solutions" / "hw.py"
    module.write_text("def relu(x): return x\n")
    places = grading_code("hw", tmp_path)
    first = grader_fingerprint(worth(10.0), places)
    module.write_text("def relu(x): return abs(x)\n")
    assert grader_fingerprint(worth(10.0), places) != first
