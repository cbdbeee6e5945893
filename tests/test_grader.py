"""The grader's command line on the corpus (tests/corpus): scores, statuses, messages, clean-up.

The corpus's sample (``corpus.sample``: every attack and broken file, one honest entry of each
kind of answer; ``--exhaustive``: every entry) is graded once, a few submissions at a time
(``corpus.grading``); each test below looks at one part of those runs. A few extra runs check the options.

No test here reads a clock: a time limit is tested by a submission that loops until the
limit fires and by the results saying so, with limits far from the honest work's own time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from corpus import (
    BY_NAME,
    ENTRIES,
    GRADE_IDS,
    HOSTILE_CALL_SECONDS,
    REPOSITORY,
    SOURCE,
    SOURCES,
    build,
    grade_id,
    points_of,
    read_json,
    sample,
)
from corpus.grading import Graded, grade, graded_corpus, processes_with
from corpus.hostile import SPAWN

from autograder.assignment import read_assignment
from autograder.assignments import KIT, load
from autograder.notebook import checks_for

GRADED = load(KIT, "mnist_mlp")
CHECKS = GRADED.checks_dir


@pytest.fixture(scope="module")
def corpus(mnist_env, pytestconfig):
    return graded_corpus(pytestconfig.getoption("exhaustive"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "entry_name" in metafunc.fixturenames:
        chosen = sample(metafunc.config.getoption("exhaustive"))
        metafunc.parametrize("entry_name", [entry.name for entry in chosen])


@pytest.fixture(scope="module")
def points() -> dict[str, dict[str, float]]:
    """Each assignment's points, by grade id in notebook order."""
    return {name: {cell.grade_id: cell.points for cell in read_assignment(path).graded}
            for name, path in SOURCES.items()}


def check_entry(run: Graded, points: dict[str, dict[str, float]], runs: dict[str, Graded]) -> None:
    entry = run.entry
    points = points[entry.assignment]
    assert run.results, f"no results (exit {run.returncode}): {run.stderr[-2000:]}"
    results = run.results
    assert [t["name"] for t in results["tests"]] == list(points)
    for test in results["tests"]:
        assert test["max_score"] == points[test["name"]]
        assert test["score"] == (test["max_score"] if test["status"] == "passed" else 0)
    assert results["score"] == sum(t["score"] for t in results["tests"])
    if entry.loses is not None:
        assert run.failed == entry.loses, run.text
        assert results["score"] == sum(points.values()) - sum(points[g] for g in entry.loses)
    else:
        base = runs[entry.no_better_than]
        assert results["score"] <= base.score, run.text
        assert base.failed <= run.failed
    assert run.returncode == (0 if results["score"] == sum(points.values()) else 1), run.stderr[-2000:]
    for message in entry.messages:
        assert message in run.text, run.text


def test_corpus_entry(corpus, points, entry_name):
    """Each entry scores what the corpus says, with its messages (a limit that fired says so);
    by default the sample of ``corpus.sample``, with ``--exhaustive`` every entry."""
    name = entry_name
    entry = BY_NAME[name]
    if not entry.known_hole:
        check_entry(corpus.runs[name], points, corpus.runs)
        return
    try:
        check_entry(corpus.runs[name], points, corpus.runs)
    except AssertionError:
        pytest.xfail(f"known hole: {entry.known_hole}")
    pytest.fail(f"{name} now gets what it should: remove its known_hole ({entry.known_hole})")


def test_no_process_outlives_grading(corpus):
    assert "detached_children" in corpus.runs
    assert processes_with(corpus.marker) == []


def test_detached_children_would_outlive_a_plain_run(tmp_path):
    """The control for the test above: run outside the grader, the same code leaves sleepers behind."""
    marker = f"corpus-control-{uuid.uuid4().hex}"
    script = "import numpy as np\n" + SPAWN.replace("@MARKER@", marker)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30)
    survivors = processes_with(marker)
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    assert len(survivors) == 2


def test_forged_results_are_overwritten_and_not_written_elsewhere(corpus):
    run = corpus.runs["writes_fake_results"]
    assert run.results["score"] == corpus.runs["relu2deriv_greater_or_equal"].score < 100
    assert corpus.marker not in json.dumps(run.results)
    assert not Path(f"/tmp/{corpus.marker}-results.json").exists()


def test_printed_fake_results_are_not_shown(corpus):
    run = corpus.runs["prints_fake_results"]
    assert corpus.marker not in run.stdout + json.dumps(run.results)
    assert "the submission printed" in run.results["output"]
    assert "total                     90/100" in run.stdout


def test_table_names_the_failing_check(corpus):
    run = corpus.runs["relu_infinite_loop"]
    assert "test_relu                   0/10  failed" in run.stdout
    assert f"FAIL test_values_and_shape: timed out after {HOSTILE_CALL_SECONDS} s in relu" in run.stdout


def test_unreadable_submission_reason_is_in_every_test(corpus):
    results = corpus.runs["not_json"].results
    assert all(t["output"].startswith("not graded: not_json.ipynb: not a notebook") for t in results["tests"])


def test_results_carry_checks_and_learning_curve(corpus):
    extra = corpus.runs["reference"].results["extra_data"]
    grade_ids = {check["grade_id"] for check in extra["checks"]}
    assert grade_ids == set(GRADE_IDS) and all(check["passed"] for check in extra["checks"])
    assert len(extra["artifacts"]["history"]["test_accurate_pred"]) >= 1


# ----------------------------------------------------------------------------- options


def cli(*args: str, env: dict | None = None, cwd: Path = REPOSITORY) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_help():
    process = cli("--help")
    assert process.returncode == 0
    for option in ("--results", "--call-timeout", "--timeout", "--memory", "--output-limit", "--assignment"):
        assert option in process.stdout


@pytest.mark.parametrize("args", [
    (),
    ("missing.ipynb",),
    ("{notebook}", "--no-such-option"),
    ("{notebook}", "--timeout", "0"),
    ("{notebook}", "--memory", "lots"),
    ("{notebook}", "--assignment", "missing.ipynb"),
])
def test_usage_errors_exit_4(args, tmp_path):
    notebook = build(BY_NAME["empty_file"], tmp_path / "empty.ipynb")
    process = cli(*(arg.format(notebook=notebook) for arg in args), cwd=tmp_path)
    assert process.returncode == 4, process.stdout + process.stderr
    assert "error" in process.stderr


def test_points_come_from_the_assignment_notebook(tmp_path, mnist_env):
    """Points changed in a copy of the assignment change the score; the junit report lists every check."""
    assignment = read_json(SOURCE)
    for cell in assignment["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") in ("test_relu", "test_train"):
            meta["points"] = {"test_relu": 25, "test_train": 5}[meta["grade_id"]]
    changed = tmp_path / "mnist_mlp" / "mnist_mlp.ipynb"
    changed.parent.mkdir()
    changed.write_text(json.dumps(assignment))
    run = grade(BY_NAME["relu_returns_comparison"], tmp_path / "run", "unused", dict(mnist_env),
                options=("--assignment", str(changed), "--junitxml", str(tmp_path / "checks.xml")))
    assert run.returncode == 1
    original = points_of("mnist_mlp")
    total = sum(original.values()) - original["test_relu"] - original["test_train"] + 25 + 5
    assert {t["name"]: t["max_score"] for t in run.results["tests"]}["test_relu"] == 25
    assert run.score == total - 25
    checks = run.results["extra_data"]["checks"]
    assert (tmp_path / "checks.xml").read_text().count("<testcase ") == len(checks)

    env = dict(mnist_env, AUTOGRADER_ASSIGNMENT=str(changed))
    empty = build(BY_NAME["empty_file"], tmp_path / "empty.ipynb")
    process = cli(str(empty), "--results", str(tmp_path / "empty.json"), env=env)
    assert process.returncode == 1
    assert read_json(tmp_path / "empty.json")["extra_data"]["max_score"] == total
    assert f"0/{total:g}" in process.stdout


# ----------------------------------------------------------------------------- checks and grade ids


def coverage_problems(grade_ids: set[str], modules: set[str]) -> list[str]:
    """Grade ids without a check module (or with one that has no checks), and modules without a grade id."""
    problems = [f"{g}: no check module" for g in sorted(grade_ids - modules)]
    problems += [f"{m}: names no graded cell of the assignment" for m in sorted(modules - grade_ids)]
    problems += [f"{g}: no checks" for g in sorted(grade_ids & modules) if not checks_for(GRADED, g)]
    return problems


def test_every_grade_id_has_checks_and_every_check_a_grade_id():
    grade_ids = {cell.grade_id for cell in read_assignment(SOURCE).graded}
    modules = {path.stem for path in CHECKS.glob("test_*.py")}
    assert grade_ids == set(GRADE_IDS)
    assert coverage_problems(grade_ids, modules) == []


def test_coverage_problems_are_found(monkeypatch):
    grade_ids = set(GRADE_IDS)
    assert coverage_problems(grade_ids | {"test_extra"}, grade_ids) == ["test_extra: no check module"]
    assert coverage_problems(grade_ids, grade_ids | {"test_stray"}) == [
        "test_stray: names no graded cell of the assignment"
    ]
    monkeypatch.setattr(sys.modules[__name__], "checks_for", lambda _, g: [] if g == "test_relu" else [1])
    assert coverage_problems(grade_ids, grade_ids) == ["test_relu: no checks"]


def test_corpus_entries_build_what_they_say(tmp_path):
    assert {entry.kind for entry in ENTRIES} == {"correct", "mistake", "hostile", "tampering", "broken"}
    for entry in ENTRIES:
        if entry.no_better_than:
            assert BY_NAME[entry.no_better_than].kind == "mistake" and BY_NAME[entry.no_better_than].loses
        if entry.raw is None:
            placeholders = {"MARKER": "marker", "RESULTS": "results.json"}
            notebook = read_json(build(entry, tmp_path / f"{entry.name}.ipynb", placeholders))
            answers = {grade_id(c): "".join(c["source"]) for c in notebook["cells"] if grade_id(c)}
            for function, source in entry.replace.items():
                assert answers[f"{function}_solution"] == source or "@" in source  # placeholders filled
            text = json.dumps(notebook)
            assert not any(f"@{key}@" in text for key in ("MARKER", "RESULTS", "REPOSITORY", "SHARED"))
            base = read_json(SOURCES[entry.assignment])
            assert len(notebook["cells"]) == len(base["cells"]) + len(entry.append)
