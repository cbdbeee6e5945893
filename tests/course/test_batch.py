"""``python -m autograder batch``: a whole class, graded in a scratch course.

The class comes from ``scripts/make_demo_class.py``: correct notebooks, typical mistakes,
a tampering attempt, code that loops or exits, a late and a renamed submission, and two
files that are not notebooks. One course is graded in steps (``--student``, the rest, a
rerun) and compared with the single-file command and ``nbgrader export``; another is
killed with SIGKILL partway and graded again.
"""

from __future__ import annotations

import ast
import csv
import functools
import html
import importlib.util
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.assignment import read_assignment

REPOSITORY = Path(__file__).resolve().parents[2]
ASSIGNMENT = "mnist_mlp"
# Far from the honest work's time (well under a second a call when idle), so a busy machine
# does not change a score; the looping submission waits for the call limit.
LIMITS = ("--call-timeout", "10", "--timeout", "60")
# Four of the assignment's declared mistakes (solutions/mnist_mlp/mistakes.py), one per task.
MISTAKEN = ["relu2deriv_greater_or_equal", "train_step_not_in_place", "evaluate_keeps_dropout_scale",
            "dropout_global_state"]
CLASS = ["reference", "typed", "blank", *MISTAKEN, "tampering", "loops", "exits", "late", "renamed",
         "broken", "empty"]
UNREADABLE = {"broken", "empty"}
QUICK_CLASS = ["reference", "typed", "blank", *MISTAKEN, "renamed"]
# Graded alone with the single-file command too: what the notebook's points cannot say (an attack,
# an exit) and the reference, which must score what the points say.
GRADED_ALONE = ["reference", "tampering", "exits"]
DUE = "2025-01-20 00:00:00 UTC"  # make_demo_class: on time 2025-01-15, late 2025-01-22
GRADED_CELLS = read_assignment(REPOSITORY / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").graded
POINTS = {cell.grade_id: cell.points for cell in GRADED_CELLS}
SUMMARY = re.compile(r"(\d+) submissions: (\d+) graded now, (\d+) unchanged since graded")


def expected_totals(alone: dict[str, float]) -> dict[str, float]:
    """Every student's total: those graded alone as the single-file command graded them; the
    others from the notebook's points (a correct copy scores them all; a declared mistake loses
    the points of the grade ids ``solutions/mnist_mlp/mistakes.py`` says it loses)."""
    demo = demo_class_module()
    graded = demo.load(REPOSITORY, ASSIGNMENT)
    mistakes = demo.mistakes_of(graded)
    total = sum(POINTS.values())
    derived = {"reference": total, "typed": total, "late": total, "renamed": total, "blank": 0.0,
               "broken": 0.0, "empty": 0.0}
    derived |= {name: total - sum(POINTS[g] for g in mistakes[name]["loses"]) for name in MISTAKEN}
    # "loops": the last function never returns; the cells whose checks call it lose their points.
    last = graded.assignment.contract.functions[-1]
    derived["loops"] = total - sum(cell.points for cell in GRADED_CELLS if last in (cell.functions or ()))
    return {student: alone.get(student, derived.get(student)) for student in CLASS}


@functools.cache
def demo_class_module():
    path = REPOSITORY / "scripts" / "make_demo_class.py"
    spec = importlib.util.spec_from_file_location("make_demo_class", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_batch(course: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "autograder", "batch", ASSIGNMENT, *args], cwd=course, env=env,
        capture_output=True, text=True, timeout=300,
    )


def counts(process: subprocess.CompletedProcess) -> tuple[int, int, int]:
    """(submissions, graded now, unchanged) from the batch's summary line."""
    match = SUMMARY.search(process.stdout)
    assert match, f"no summary in\n{process.stdout}\n{process.stderr}"
    return tuple(int(group) for group in match.groups())


def records(course: Path) -> dict[str, dict]:
    folder = course / "reports" / ASSIGNMENT / "results"
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")}


def gradebook_totals(course: Path) -> dict[str, float]:
    """Raw score per student of every submission in the gradebook (duplicates would fail here)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submissions = gb.find_assignment(ASSIGNMENT).submissions
        students = [submission.student.id for submission in submissions]
        assert len(students) == len(set(students)), f"duplicate submissions: {sorted(students)}"
        return {submission.student.id: float(submission.score) for submission in submissions}


def single_file_total(notebook: Path, course: Path, env: dict[str, str]) -> float:
    results = notebook.parent.parent / "single.json"
    subprocess.run(
        [sys.executable, "-m", "autograder", str(notebook), "--results", str(results), "-q",
         "--assignment", str(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), *LIMITS],
        env=env, capture_output=True, timeout=120,
    )
    return float(json.loads(results.read_text())["score"])


def readable_mode() -> int:
    """The mode of a new file under the current umask (0644 under the usual 022)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def submitted_notebook(course: Path, student: str) -> Path:
    return next((course / "submitted" / student / ASSIGNMENT).glob("*.ipynb"))


# ----------------------------------------------------------------------------- one class, step by step


@pytest.fixture(scope="module")
def graded(module_course: Path, kit_env, nbgrader) -> dict:
    """The course after: generate_assignment, a due date and the "zero" late policy; ``batch
    --student typed blank``; ``batch`` (the rest); ``batch`` again; ``nbgrader export``."""
    course = module_course
    with open(course / "nbgrader_config.py", "a") as config:
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    nbgrader(course, "db", "assignment", "add", ASSIGNMENT, f"--duedate={DUE}")
    demo_class_module().build_class(course, CLASS)
    steps = {"students": run_batch(course, kit_env, "--student", "typed", "blank", *LIMITS)}
    steps["records_after_students"] = records(course)
    steps["gradebook_after_students"] = gradebook_totals(course)
    steps["all"] = run_batch(course, kit_env, "--jobs", "2", *LIMITS)
    steps["records_after_all"] = records(course)
    steps["again"] = run_batch(course, kit_env, *LIMITS)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # as if killed before these were written
        gb.remove_submission(ASSIGNMENT, "typed")
    (course / "feedback" / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.html").unlink()
    steps["repair"] = run_batch(course, kit_env, *LIMITS)
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    with ThreadPoolExecutor(2) as pool:
        notebooks = [submitted_notebook(course, student) for student in GRADED_ALONE]
        totals = pool.map(lambda notebook: single_file_total(notebook, course, kit_env), notebooks)
        steps["alone"] = dict(zip(GRADED_ALONE, totals, strict=True))
    steps["single"] = expected_totals(steps["alone"])
    steps["course"] = course
    return steps


def test_student_option_grades_only_those(graded):
    assert graded["students"].returncode == 0, graded["students"].stdout + graded["students"].stderr
    assert counts(graded["students"]) == (2, 2, 0)
    assert set(graded["records_after_students"]) == {"typed", "blank"}
    assert set(graded["gradebook_after_students"]) == {"typed", "blank"}


def test_whole_class_graded_once_and_exit_status_names_unreadable(graded):
    process = graded["all"]
    assert counts(process) == (len(CLASS), len(CLASS) - 2, 2)  # typed and blank were already graded
    assert process.returncode == 1  # two files are not notebooks
    for student in UNREADABLE:
        assert f"  {student}: unreadable: {ASSIGNMENT}.ipynb: " in process.stdout
    assert "loops: timed out" in process.stdout
    assert set(graded["records_after_all"]) == set(CLASS)
    kept = {s: graded["records_after_all"][s]["graded_at"] for s in ("typed", "blank")}
    assert kept == {s: graded["records_after_students"][s]["graded_at"] for s in kept}


def test_rerun_without_changes_grades_nothing(graded):
    assert counts(graded["again"]) == (len(CLASS), 0, len(CLASS))
    assert "gradebook: 0 written, 0 repaired; 0 feedback pages written" in graded["again"].stdout
    assert records(graded["course"]) == graded["records_after_all"]


def test_rerun_repairs_a_missing_gradebook_entry_and_page(graded):
    assert counts(graded["repair"]) == (len(CLASS), 0, len(CLASS))
    assert "gradebook: 0 written, 1 repaired; 1 feedback pages written" in graded["repair"].stdout


def test_gradebook_and_export_equal_single_file_totals(graded):
    single = graded["single"]
    derived = expected_totals({})
    assert {s: derived[s] for s in graded["alone"] if derived[s] is not None} == {
        s: total for s, total in graded["alone"].items() if derived[s] is not None}
    total = sum(POINTS.values())
    assert single["reference"] == single["typed"] == total
    assert single["blank"] == single["broken"] == single["empty"] == 0
    # that function's points, and nothing else
    assert single["relu2deriv_greater_or_equal"] == total - POINTS["test_relu2deriv"]
    assert gradebook_totals(graded["course"]) == single
    with open(graded["course"] / "grades.csv", newline="") as stream:
        rows = {row["student_id"]: row for row in csv.DictReader(stream)}
    assert {s: float(row["raw_score"]) for s, row in rows.items()} == single
    for student, row in rows.items():  # the "zero" policy takes everything from the late one
        penalty = single[student] if student == "late" else 0.0
        assert float(row["late_submission_penalty"]) == penalty, student
        assert float(row["score"]) == single[student] - penalty, student


def test_gradebook_entries_are_as_nbgrader_autograde_writes_them(graded):
    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}") as gb:
        for student in CLASS:
            notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
            for grade in notebook.grades:
                assert grade.auto_score is not None and not grade.needs_manual_grade
            submission = gb.find_submission(ASSIGNMENT, student)
            assert submission.timestamp is not None
            assert (submission.total_seconds_late > 0) == (student == "late")
        blank = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "blank")
        assert {comment.auto_comment for comment in blank.comments} == {"No response."}
        typed = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "typed")
        assert {comment.auto_comment for comment in typed.comments} == {None}


def hidden_code_lines() -> set[str]:
    """Lines of code (not strings, not comments) of the checks and of the notebook's hidden tests."""
    lines = set()
    checks = [*(REPOSITORY / "autograder" / "checks").glob("*.py"),  # where the checks were, and are
              *(REPOSITORY / "solutions" / ASSIGNMENT / "checks").glob("*.py")]
    for path in checks:
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.stmt) and not isinstance(node, ast.Expr | ast.FunctionDef | ast.ClassDef):
                first = text.splitlines()[node.lineno - 1].strip()
                if len(first) >= 20 and not first.startswith(("#", '"', "'", "f\"", "from ", "import ")):
                    lines.add(first)
    source = json.loads((REPOSITORY / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    for cell in source["cells"]:
        text = "".join(cell["source"])
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", text, re.S):
            lines |= {line.strip() for line in block.splitlines() if line.strip()}
    assert len(lines) > 20
    return lines


def test_feedback_for_every_submission_without_hidden_code(graded):
    course, single = graded["course"], graded["single"]
    forbidden = hidden_code_lines()
    for student in CLASS:
        page = course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        text = html.unescape(page.read_text(encoding="utf-8"))
        assert f"Score: {single[student]:g} / {sum(POINTS.values()):g}" in text, student
        assert (course / "feedback" / student / ASSIGNMENT / "timestamp.txt").exists()
        assert stat.S_IMODE(page.stat().st_mode) == readable_mode(), student  # not 0600
        leaked = [line for line in forbidden if line in text]
        assert not leaked, f"{student}: {leaked[:3]}"
        assert "HIDDEN TESTS" not in text
        if student in UNREADABLE:
            assert "could not be graded" in text
        else:
            assert "<h2>Score per task</h2>" in text
    reference = (course / "feedback" / "reference" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert 'src="data:image/svg+xml;base64,' in reference and 'class="confusion"' in reference
    mistaken = (course / "feedback" / MISTAKEN[0] / ASSIGNMENT / "mnist_mlp.html").read_text()
    assert "Hint" in mistaken
    late = (course / "feedback" / "late" / ASSIGNMENT / "mnist_mlp.html").read_text()
    assert "after the due date" in late and "Late penalty" in late


def test_report_shows_the_right_counts(graded):
    folder = graded["course"] / "reports" / ASSIGNMENT
    assert (folder / "score_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.unescape((folder / "index.html").read_text())
    for name in ("index.html", "scores.csv", "score_histogram.png"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == readable_mode(), name

    def row(label: str) -> str:
        match = re.search(rf"<th>{re.escape(label)}</th><td class=\"number\">([^<]+)</td>", page)
        assert match, label
        return match.group(1)

    assert row("submissions") == str(len(CLASS))
    assert row("graded") == str(len(CLASS) - 2)
    assert row("could not be read (scored 0)") == "2"
    assert row("not graded (grader failed; rerun grades them)") == "0"
    assert row("hit a limit (time, memory, output) or crashed") == "2"  # loops, exits
    assert row("late") == "1"
    bar = r'(\d+) of (\d+) \(\d+%\)</td>\s*<td class="bar"><span style="width: ([0-9.]+)%">'
    bars = re.findall(bar, page)  # one per check: its share of passes, drawn as a bar
    assert bars and {float(width) for *_, width in bars} != {100.0}
    assert all(float(width) == round(100 * int(passed) / int(total), 1) for passed, total, width in bars)
    assert row("full marks") == str(sum(total == sum(POINTS.values()) for total in graded["single"].values()))
    problems = page.split("could not be read or graded</h2>")[1]
    assert all(student in problems for student in UNREADABLE) and "typed" not in problems
    untried = page.split("<h2>Tasks not attempted</h2>")[1].split("<h2>")[0]  # the blank notebook
    assert re.findall(r'<td class="number">(\d+) of (\d+)</td>', untried) == [("1", str(len(CLASS) - 2))] * 7
    failures = page.split("<h2>Most common failure messages</h2>")[1].split("<h2>")[0]
    assert "raised NotImplementedError" not in failures and "relu2deriv" in failures
    with open(folder / "scores.csv", newline="") as stream:
        rows = {row["student"]: row for row in csv.DictReader(stream)}
    assert {s: float(r["score"]) for s, r in rows.items()} == graded["single"]
    assert {s for s, r in rows.items() if r["status"] == "unreadable"} == UNREADABLE
    assert rows["late"]["final_score"] == "0"
    assert rows["reference"]["final_score"] == f"{sum(POINTS.values()):g}"


# ----------------------------------------------------------------------------- SIGKILL and rerun


def grader_processes(course: Path) -> list[int]:
    """Processes still working on this course: the batch, its forkserver and grading processes
    (in the course as working directory) and anything naming its submissions."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(course / "submitted").encode() in command or Path(cwd).is_relative_to(course):
            found.append(int(entry.name))
    return found


def test_sigkill_partway_then_rerun_grades_each_student_once(scratch_course, kit_env, graded):
    course = scratch_course  # no gradebook yet: the batch adds the assignment itself
    demo_class_module().build_class(course, QUICK_CLASS)
    command = [sys.executable, "-m", "autograder", "batch", ASSIGNMENT, "--jobs", "1", *LIMITS]
    process = subprocess.Popen(command, cwd=course, env=kit_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while len(records(course)) < 2 and process.poll() is None:  # the batch ends by itself at worst
        time.sleep(0.05)
    assert set(grader_processes(course)) - {process.pid}  # its forkserver, at least, is seen
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = records(course)
    assert 2 <= len(before) < len(QUICK_CLASS), "the batch was not killed partway"
    for _ in range(300):  # the grading process dies with the batch (PR_SET_PDEATHSIG)
        if not grader_processes(course):
            break
        time.sleep(0.1)
    assert not grader_processes(course)

    rerun = run_batch(course, kit_env, "--jobs", "2", *LIMITS)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert counts(rerun) == (len(QUICK_CLASS), len(QUICK_CLASS) - len(before), len(before))
    after = records(course)
    assert set(after) == set(QUICK_CLASS)
    assert all(after[s]["graded_at"] == before[s]["graded_at"] for s in before)  # not graded twice
    expected = {student: graded["single"][student] for student in QUICK_CLASS}
    assert gradebook_totals(course) == expected
    assert {s: r["result"]["score"] for s, r in after.items()} == expected
    assert not list((course / "reports" / ASSIGNMENT / "results").glob("*.tmp"))
    assert not (course / "reports" / ASSIGNMENT / ".grading").exists()  # the killed run's scratch
    assert counts(run_batch(course, kit_env, *LIMITS)) == (len(QUICK_CLASS), 0, len(QUICK_CLASS))
