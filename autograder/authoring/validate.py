"""``python -m autograder validate NAME``: prove an assignment before its release.

Each step returns the problems it found, one sentence each, naming the file and the fix:

1. every test cell has its checks (a module in ``solutions/NAME/checks``, or its own code) and
   every checks module its test cell; every module imports and holds checks;
2. the points a notebook's text gives ("### Task 2: ReLU (10 points)") are its test cells';
3. the release is up to date with the source and leaks no solution and no hidden test;
4. the solved source scores full marks, and the blank release 0 with every test cell saying
   "not written yet";
5. each known mistake the assignment declares (``MISTAKES`` in ``solutions/NAME/mistakes.py``:
   name -> {"replace": {function: source of its answer cell}, "loses": [grade ids]}) loses
   exactly its grade ids;
6. no check of the solved source takes more than a quarter of the call limit;
7. ``nbgrader autograde`` gives the same totals to the same files (``--no-nbgrader`` skips it).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from autograder.assignment import read_assignment
from autograder.assignments import Graded, importable, load, notebooks
from autograder.authoring.parity import nbgrader_totals
from autograder.sandbox import Limits

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
POINTS_IN_TEXT = re.compile(r"^#+ .*\((\d+(?:\.\d+)?) points?\)", re.MULTILINE)
ROOM = 4  # a check may take at most a quarter of the call limit on this machine


def validate(root: Path, name: str, nbgrader: bool = True, say: Callable[[str], Any] = print) -> list[str]:
    """Every problem of assignment ``name`` (each of its notebooks), as sentences."""
    problems: list[str] = []
    for path in notebooks(root, name):
        graded = load(root, name, path.stem)
        say(f"== {name}/{path.name}")
        for step in (coverage, points_in_text, release_problems):
            found = step(graded)
            say(f"{step.__name__.replace('_', ' ')}: {'ok' if not found else f'{len(found)} problem(s)'}")
            problems += found
        found, totals = graded_runs(graded, say)
        problems += found
        if nbgrader and totals:
            found = parity(graded, totals, say)
            say(f"nbgrader parity: {'ok' if not found else f'{len(found)} problem(s)'}")
            problems += found
    return problems


# ----------------------------------------------------------------------------- 1-3, from the files


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


def mistakes_of(graded: Graded) -> dict[str, dict]:
    path = graded.solutions / graded.name / "mistakes.py"
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location(f"_mistakes_{graded.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(getattr(module, "MISTAKES", {}))


def with_answers(graded: Graded, replace: dict[str, str]) -> dict:
    """The source notebook with the answer cells that define ``replace``'s functions replaced."""
    from autograder.contract import contract_of

    book = json.loads(graded.notebook.read_text(encoding="utf-8"))
    book = copy.deepcopy(book)
    left = dict(replace)
    for cell in book["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell.get("cell_type") == "code":
            defined = contract_of(["".join(cell["source"])]).functions
            hit = [f for f in defined if f in left]
            if hit:
                cell["source"] = left.pop(hit[0])
    if left:
        raise ValueError(f"no answer cell defines {', '.join(left)}")
    return book


def grade_file(graded: Graded, notebook: Path) -> dict:
    results = notebook.with_suffix(".json")
    command = [
        sys.executable,
        "-m",
        "autograder",
        str(notebook),
        "--assignment",
        graded.name,
        "--course",
        str(graded.root),
        "--results",
        str(results),
        "-q",
    ]
    process = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    if not results.exists():
        return {"error": f"exit {process.returncode}: {(process.stderr or process.stdout).strip()[-400:]}"}
    return json.loads(results.read_text())


def graded_runs(graded: Graded, say: Callable[[str], Any]) -> tuple[list[str], dict[str, tuple[Path, float]]]:
    """Grade the source, the blank release and the declared mistakes; their problems and totals."""
    problems: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix=f"validate-{graded.name}-"))
    files = {"solved source": graded.notebook}
    if release_of(graded).is_file():
        files["blank release"] = release_of(graded)
    try:
        mistakes = mistakes_of(graded)
    except Exception as error:  # noqa: BLE001 - the instructor's file
        mistakes = {}
        problems.append(
            f"solutions/{graded.name}/mistakes.py: does not import ({type(error).__name__}: {error})"
        )
    expected: dict[str, set[str]] = {}
    for name, mistake in mistakes.items():
        try:
            book = with_answers(graded, dict(mistake.get("replace", {})))
        except ValueError as error:
            problems.append(f"solutions/{graded.name}/mistakes.py: mistake {name}: {error}")
            continue
        path = folder / "mistakes" / graded.name / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(book), encoding="utf-8")
        files[f"mistake {name}"], expected[f"mistake {name}"] = path, set(mistake.get("loses", ()))
    copies = {}
    for label, path in files.items():  # graded from a folder named after the assignment
        target = folder / label.replace(" ", "_") / graded.name / graded.notebook.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        copies[label] = target
    with ThreadPoolExecutor(2) as pool:
        runs = dict(zip(copies, pool.map(lambda p: grade_file(graded, p), copies.values()), strict=True))
    totals = {}
    for label, result in runs.items():
        if "error" in result:
            problems.append(f"{files[label]}: the grader failed on the {label} ({result['error']})")
            continue
        totals[label] = (copies[label], float(result["score"]))
        lost = {t["name"] for t in result["tests"] if t["status"] != "passed"}
        say(f"{label}: {result['score']:g}/{result['extra_data']['max_score']:g}")
        if label == "solved source" and lost:
            problems += [
                f"{graded.notebook}: the solved source loses {t['name']}: {first_line(t['output'])}; fix "
                "the solution or the checks"
                for t in result["tests"]
                if t["status"] != "passed"
            ]
        elif label == "blank release":
            problems += [
                f"{files[label]}: the blank release {'scores' if t['score'] else 'does not say'} "
                f"in {t['name']} ({first_line(t['output'])}); a test cell must fail with 'not written "
                "yet' on an unanswered notebook"
                for t in result["tests"]
                if t["score"] or "not written yet" not in t["output"]
            ]
        elif label in expected and lost != expected[label]:
            problems.append(
                f"solutions/{graded.name}/mistakes.py: {label} loses {sorted(lost)}, not the declared "
                f"{sorted(expected[label])}; fix the checks or the declaration"
            )
        if label == "solved source":
            problems += slow_checks(graded, result)
    return problems, totals


def slow_checks(graded: Graded, result: dict) -> list[str]:
    limit = Limits().call_seconds / ROOM
    return [
        f"{graded.notebook}: check {c['name']} of {c['grade_id']} took {c.get('seconds', 0):.1f} s on the "
        f"solved source, over a quarter of the {Limits().call_seconds:g} s call limit; "
        "make its inputs smaller"
        for c in result["extra_data"]["checks"]
        if c.get("seconds", 0) > limit
    ]


def first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(("FAIL", "NOT WRITTEN", "not graded"))]
    return (lines[0] if lines else text.splitlines()[0] if text else "")[:200]


# ----------------------------------------------------------------------------- 7, nbgrader


def parity(graded: Graded, totals: dict[str, tuple[Path, float]], say: Callable[[str], Any]) -> list[str]:
    try:
        theirs = nbgrader_totals(graded, {label: path for label, (path, _) in totals.items()})
    except RuntimeError as error:
        return [
            f"nbgrader autograde could not run on {graded.name} ({error}); run validate again with "
            "--no-nbgrader to skip this step"
        ]
    problems = []
    for label, (_, ours) in totals.items():
        say(f"nbgrader, {label}: {theirs.get(label, 'not graded')}")
        if theirs.get(label) != ours:
            problems.append(
                f"{graded.notebook}: nbgrader autograde gives the {label} {theirs.get(label)}, the kit "
                f"{ours:g}; make its test cells and checks agree (docs/authoring.md)"
            )
    return problems
