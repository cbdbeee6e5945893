"""The steps of ``validate`` that read files only: checks modules, points in the notebook's text,
the release (``validate`` runs them before it grades anything)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from autograder.assignment import read_assignment
from autograder.assignments import Graded, importable

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
POINTS_IN_TEXT = re.compile(r"^#+ .*\((\d+(?:\.\d+)?) points?\)", re.MULTILINE)


def coverage(graded: Graded) -> list[str]:
    ids = [cell.grade_id for cell in graded.assignment.graded]
    folder = graded.checks_dir
    modules = sorted(folder.glob("test_*.py")) if folder else []
    problems = [
        f"{m}: checks no test cell of {graded.notebook.name} (no cell with grade id {m.stem}); "
        "rename it after a test cell's grade id or remove it"
        for m in modules
        if m.stem not in ids
    ]
    for module in (m for m in modules if m.stem in ids):
        try:
            with importable(*graded.import_folders):
                spec = importlib.util.spec_from_file_location(
                    f"_validate_{graded.name}_{module.stem}", module
                )
                loaded = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(loaded)
        except Exception as error:  # noqa: BLE001 - any failure of the instructor's module is reported
            problems.append(f"{module}: does not import ({type(error).__name__}: {error}); fix the module")
            continue
        if not any(n.startswith("test_") and callable(f) for n, f in vars(loaded).items()):
            problems.append(f"{module}: holds no check (no function test_...); add one or remove the module")
    for cell in graded.assignment.graded:
        if graded.check_module(cell.grade_id) is None and not cell.source.strip():
            problems.append(f"{graded.notebook}: test cell {cell.grade_id} has no code and no checks module")
    return problems


def points_in_text(graded: Graded) -> list[str]:
    """A heading's "(N points)" must be the points of the first test cell after it, and a table row
    that names a function in backticks and ends with a number must give that function's task's
    points (a row with "total" the notebook's total)."""
    cells = json.loads(graded.notebook.read_text(encoding="utf-8"))["cells"]
    problems, said = [], None
    for cell in cells:
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            found = POINTS_IN_TEXT.findall(source)
            said = (float(found[-1]), source.strip().splitlines()[0]) if found else said
            problems += table_points(graded, source)
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if said is not None and meta.get("grade") and not meta.get("solution"):
            points = float(meta.get("points", 0))
            if points != said[0]:
                problems.append(
                    f"{graded.notebook}: the heading {said[1]!r} says {said[0]:g} points, but test cell "
                    f"{meta.get('grade_id')} is worth {points:g}; change the heading (or the cell's points "
                    "in nbgrader's metadata)"
                )
            said = None
    return problems


TABLE_ROW = re.compile(r"^\|(.*)\|\s*\**(\d+(?:\.\d+)?)\**\s*\|\s*$", re.MULTILINE)


def table_points(graded: Graded, text: str) -> list[str]:
    assignment, problems = graded.assignment, []
    for row, number in TABLE_ROW.findall(text):
        names = re.findall(r"`(\w+)`", row)
        grade_id = next((assignment.grade_id_of(n) for n in names if assignment.grade_id_of(n)), None)
        if grade_id is not None:
            expected = assignment.points(grade_id)
        elif "total" in row.lower():
            expected = assignment.total_points
        else:
            continue
        if float(number) != expected:
            problems.append(
                f"{graded.notebook}: a table row {row.strip()[:60]!r} gives {float(number):g} points, "
                f"the metadata {expected:g}; change the table"
            )
    return problems


def release_of(graded: Graded) -> Path:
    return graded.root / "release" / graded.name / graded.notebook.name


def release_problems(graded: Graded) -> list[str]:
    release = release_of(graded)
    if not release.is_file():
        return [
            f"{release}: missing; generate it with make release (nbgrader generate_assignment "
            f"{graded.name} --force)"
        ]
    text = release.read_text(encoding="utf-8")
    problems = [
        f"{release}: holds {marker!r}: regenerate it with make release"
        for marker in MARKERS
        if marker in text
    ]
    if read_assignment(release).grading_key() != graded.assignment.grading_key():
        problems.append(
            f"{release}: its grade ids or points differ from {graded.notebook}; regenerate it with "
            "make release"
        )
    answers = released_code(release)
    for secret in hidden_lines(graded):
        if secret in answers:
            problems.append(
                f"{release}: holds a line of a solution or hidden test ({secret[:60]!r}); regenerate "
                "it with make release"
            )
            break
    for path in sorted(graded.folder.rglob("*.py")):
        copy_ = release.parent / path.relative_to(graded.folder)
        if "__pycache__" not in path.parts and (
            not copy_.is_file() or copy_.read_bytes() != path.read_bytes()
        ):
            problems.append(f"{copy_}: not the same as {path}; regenerate the release with make release")
    extra = [
        p
        for p in release.parent.rglob("*")
        if p.is_file() and p.suffix == ".py" and p.stem.startswith("test_")
    ]
    problems += [
        f"{p}: a checks module in the release; move it to solutions/{graded.name}/checks" for p in extra
    ]
    return problems


def released_code(release: Path) -> str:
    """The code of the release's answer and test cells, where a solution or hidden test would leak."""
    cells = json.loads(release.read_text(encoding="utf-8"))["cells"]
    return "\n".join(
        "".join(c.get("source", ""))
        for c in cells
        if c.get("cell_type") == "code"
        and (
            c.get("metadata", {}).get("nbgrader", {}).get("solution")
            or c.get("metadata", {}).get("nbgrader", {}).get("grade")
        )
    )


def hidden_lines(graded: Graded) -> list[str]:
    """Distinctive lines of the solutions and hidden tests, which the release must not hold."""
    lines = []
    for source in (*graded.assignment.solution_sources, *(c.source for c in graded.assignment.graded)):
        inside = False
        for line in source.splitlines():
            if line.strip().startswith("### BEGIN"):
                inside = True
            elif line.strip().startswith("### END"):
                inside = False
            elif inside and len(line.strip()) >= 20:
                lines.append(line.strip())
    return lines


# ----------------------------------------------------------------------------- 4-6, graded
