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
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from autograder.assignments import Graded, load, notebooks
from autograder.authoring.files import coverage, points_in_text, release_of, release_problems
from autograder.authoring.parity import nbgrader_totals
from autograder.sandbox import Limits

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
        with tempfile.TemporaryDirectory(prefix=f"validate-{name}-") as scratch:
            found, totals = graded_runs(graded, say, Path(scratch))
            problems += found
            if nbgrader and totals:
                found = parity(graded, totals, say)
                say(f"nbgrader parity: {'ok' if not found else f'{len(found)} problem(s)'}")
                problems += found
    return problems


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


def graded_runs(
    graded: Graded, say: Callable[[str], Any], folder: Path
) -> tuple[list[str], dict[str, tuple[Path, float]]]:
    """Grade the source, the blank release and the declared mistakes, copied into ``folder``;
    their problems and totals (each with the copy graded)."""
    problems: list[str] = []
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
