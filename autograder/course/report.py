"""The instructor's report of a batch: ``reports/<assignment>/``.

``index.html`` (summary, score histogram, pass rate of every check as a table with bars,
the tasks not attempted, the most common failure messages of the tasks that were, how
student code was isolated, submissions that hit a limit or could not be read or graded),
``score_histogram.png`` and ``scores.csv`` (one row per student: status, score, late
penalty, final score, points per grade id). Built from the stored records of every student
in ``submitted/``, so it describes the whole class whichever students the last run graded.

A task is **not attempted** in a submission when its answer cell is still as released (the
batch records it as ``unanswered``) or one of its checks says the function raised
``NotImplementedError`` (is not written yet): the blank notebook's failures are counted
apart, not among the mistakes of those who tried. Every student text is one line
(``autograder.text``): Jinja escapes it for HTML, ``csv_cell`` keeps it from being a formula.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autograder.assignment import Assignment
from autograder.course.feedback import environment, write_html_atomically
from autograder.course.figures import histogram_png
from autograder.course.late import Lateness
from autograder.course.store import ERROR, GRADED, IN_GRADEBOOK, scores_of
from autograder.text import ISOLATION_NOTE, csv_cell, isolation_note, name, result_notes

# How the sandbox words a limit hit or a crash of the student process (autograder/sandbox.py).
LIMIT_HIT = re.compile(
    r"timed out after|time limit of .* used up|memory limit|ran out of its memory|output limit"
    r"|CPU time limit|crashed with signal|exited with status|closed its connection"
    r"|broke the connection"
)
TOP_FAILURES = 20
# How a check says the student's function is not written yet (outside the quoted student text).
NOT_WRITTEN = re.compile(r"\braised NotImplementedError\b|\bnot written yet\b")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def write_report(
    folder: Path, assignment_id: str, assignment: Assignment, records: dict[str, dict[str, Any] | None],
    late: dict[str, Lateness], submitted: str = "submitted/", feedback: str = "feedback/",
) -> Path:
    """Write the report of ``records`` (student -> record, None if never graded); returns index.html."""
    folder.mkdir(parents=True, exist_ok=True)
    scored = {s: r for s, r in records.items() if r is not None and r["status"] in IN_GRADEBOOK}
    totals = [float(r["result"]["score"]) for r in scored.values()]
    _write_bytes(folder / "score_histogram.png", histogram_png(totals, assignment.total_points))
    graded = [r for r in scored.values() if r["status"] == GRADED]
    untried = {student: not_attempted(record, assignment) for student, record in scored.items()}
    checks = pass_rates(graded, [cell.grade_id for cell in assignment.graded], untried)
    _write_bytes(folder / "scores.csv", scores_csv(records, assignment, late).encode())
    context = {
        "assignment": assignment_id,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "submitted": submitted,
        "feedback": feedback,
        "max_score": assignment.total_points,
        "summary": summary(records, totals, assignment.total_points, late)
        | {"attempted_nothing": attempted_nothing(graded, assignment, untried)},
        "tasks": task_means(scored.values(), assignment),
        "checks": checks,
        "untried": untried_counts(graded, assignment, untried),
        "failures": common_failures(graded, untried),
        "limit_hits": limit_hits(scored),
        "problems": problems(records),
        "isolation": isolation_counts(graded),
        "workers": worker_counts(graded),
    }
    page = folder / "index.html"
    write_html_atomically(environment().get_template("report.html.j2").render(**context), page)
    return page


def isolation_counts(records: Any) -> list[tuple[str, int]]:
    """How the submissions' student processes were isolated: each distinct summary of the
    sandbox's layers (its "isolation:" note, which students do not see), and how many."""
    counts: Counter[str] = Counter()
    for record in records:
        result = record["result"]
        notes = [*result_notes(result["output"]), *result.get("extra_data", {}).get("notes", [])]
        counts[isolation_note(notes) or _layers(result)] += 1
    return counts.most_common()


def worker_counts(records: Any) -> list[tuple[str, int]]:
    """On which hosts the submissions were graded, when a cluster graded them (each result then
    says which worker graded it and how that worker could isolate student code)."""
    counts: Counter[str] = Counter()
    for record in records:
        worker = record["result"].get("extra_data", {}).get("worker")
        if worker:
            counts[str(worker.get("host", "?"))] += 1
    return sorted(counts.items())


def _layers(result: dict[str, Any]) -> str:
    """The layers from the result's ``extra_data``, for a record without the note."""
    isolation = result.get("extra_data", {}).get("isolation") or {}
    layers = ", ".join(isolation.get("layers", [])) or "not recorded"
    missing = "; ".join(f"{layer} ({why})" for layer, why in isolation.get("missing", {}).items())
    return layers + (f"; missing: {missing}" if missing else "")


def summary(
    records: dict[str, dict[str, Any] | None], totals: list[float], max_score: float,
    late: dict[str, Lateness],
) -> dict[str, Any]:
    statuses = Counter(r["status"] if r else ERROR for r in records.values())
    return {
        "submissions": len(records),
        "graded": statuses[GRADED],
        "unreadable": len(records) - statuses[GRADED] - statuses[ERROR],
        "errors": statuses[ERROR],
        "limit_hits": len(limit_hits({s: r for s, r in records.items() if r and r["status"] == GRADED})),
        "late": sum(1 for s in records if s in late and late[s].seconds_late > 0),
        "scored": len(totals),
        "mean": statistics.fmean(totals) if totals else 0.0,
        "median": statistics.median(totals) if totals else 0.0,
        "full": sum(1 for t in totals if t == max_score),
        "zero": sum(1 for t in totals if t == 0),
    }


def task_means(records: Any, assignment: Assignment) -> list[dict[str, Any]]:
    records = list(records)
    rows = []
    for cell in assignment.graded:
        points = [scores_of(r).get(cell.grade_id, 0.0) for r in records]
        rows.append({
            "grade_id": cell.grade_id, "max_score": cell.points,
            "mean": statistics.fmean(points) if points else 0.0,
            "full": sum(1 for p in points if p == cell.points),
        })
    return rows


def answer_cells(assignment: Assignment) -> dict[str, str]:
    """Each graded cell's answer cell: the last solution cell above it in the notebook."""
    answers: dict[str, str] = {}
    answer = None
    graded = {cell.grade_id for cell in assignment.graded}
    for grade_id in assignment.order:
        if grade_id in assignment.solution_ids:
            answer = grade_id
        elif grade_id in graded and answer is not None:
            answers[grade_id] = answer
    return answers


def says_not_written(message: str) -> bool:
    """Whether a check's message says the function raised NotImplementedError (not in the
    student's own quoted text, which could say anything)."""
    return NOT_WRITTEN.search(QUOTED.sub('""', message)) is not None


def not_attempted(record: dict[str, Any], assignment: Assignment) -> frozenset[str]:
    """The grade ids of the tasks ``record`` did not attempt: the answer cell still as
    released, or a failed check saying the function is not written yet."""
    unanswered = set(record.get("unanswered", []))
    answers = answer_cells(assignment)
    untried = {grade_id for grade_id, answer in answers.items() if answer in unanswered}
    for check in record["result"].get("extra_data", {}).get("checks", []):
        if not check["passed"] and says_not_written(check["message"]):
            untried.add(check["grade_id"])
    return frozenset(untried)


def pass_rates(
    records: Any, order: list[str], untried: dict[str, frozenset[str]] | None = None
) -> list[dict[str, Any]]:
    """Per check, grade ids in ``order``: how many graded submissions ran it, passed it, and
    failed it without having attempted its task."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for record in records:
        mine = (untried or {}).get(record["student"], frozenset())
        for check in record["result"]["extra_data"]["checks"]:
            label = f"{check['grade_id']}::{check['name']}"
            total[label] += 1
            passed[label] += bool(check["passed"])
            skipped[label] += not check["passed"] and check["grade_id"] in mine
    rank = {grade_id: index for index, grade_id in enumerate(order)}
    labels = sorted(total, key=lambda label: rank.get(label.split("::")[0], len(rank)))  # stable
    return [
        {"label": label, "passed": passed[label], "total": total[label], "rate": passed[label] / total[label],
         "not_attempted": skipped[label]}
        for label in labels
    ]


def attempted_nothing(
    records: list[dict[str, Any]], assignment: Assignment, untried: dict[str, frozenset[str]]
) -> int:
    """How many of the graded submissions attempted no task at all (the blank notebook)."""
    every = {cell.grade_id for cell in assignment.graded}
    return sum(every <= untried.get(record["student"], frozenset()) for record in records)


def untried_counts(
    records: list[dict[str, Any]], assignment: Assignment, untried: dict[str, frozenset[str]]
) -> list[dict[str, Any]]:
    """Per task, how many of the graded submissions did not attempt it."""
    rows = []
    for cell in assignment.graded:
        count = sum(cell.grade_id in untried.get(record["student"], frozenset()) for record in records)
        rows.append({"grade_id": cell.grade_id, "count": count})
    return rows


def common_failures(
    records: Any, untried: dict[str, frozenset[str]] | None = None, top: int = TOP_FAILURES
) -> list[dict[str, Any]]:
    """The most frequent (check, message) pairs among failed checks of attempted tasks."""
    counts: Counter[tuple[str, str]] = Counter()
    for record in records:
        mine = (untried or {}).get(record["student"], frozenset())
        for check in record["result"]["extra_data"]["checks"]:
            if not check["passed"] and check["grade_id"] not in mine:
                counts[(f"{check['grade_id']}::{check['name']}", check["message"])] += 1
    return [
        {"check": check, "message": message, "count": count}
        for (check, message), count in counts.most_common(top)
    ]


def limit_hits(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Graded submissions whose code hit a sandbox limit or crashed, with what the grader said."""
    hits = []
    for student, record in sorted(records.items()):
        result = record["result"]
        messages = [c["message"] for c in result["extra_data"]["checks"] if not c["passed"]]
        messages += [note for note in result_notes(result["output"]) if not note.startswith(ISOLATION_NOTE)]
        found = list(dict.fromkeys(m for m in messages if LIMIT_HIT.search(m)))
        if found:
            hits.append({"student": student, "name": name(student), "score": result["score"],
                         "messages": found[:5]})
    return hits


def problems(records: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Submissions that could not be read (scored 0) or graded (not in the gradebook)."""
    rows = []
    for student, record in sorted(records.items()):
        if record is None:
            rows.append({"student": name(student), "status": "not graded yet",
                         "reason": "run the batch again"})
        elif record["status"] != GRADED:
            rows.append({"student": name(student), "status": record["status"], "reason": record["reason"]})
    return rows


def scores_csv(
    records: dict[str, dict[str, Any] | None], assignment: Assignment, late: dict[str, Lateness]
) -> str:
    """One row per student: status, score, max_score, late_penalty, final_score, points per grade id."""
    ids = [cell.grade_id for cell in assignment.graded]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "status", "score", "max_score", "late_penalty", "final_score", *ids])
    for student, record in sorted(records.items()):
        if record is None or record["status"] not in IN_GRADEBOOK:
            status = record["status"] if record else "not graded"
            writer.writerow([csv_cell(student), csv_cell(status), "", f"{assignment.total_points:g}", "", "",
                             *[""] * len(ids)])
            continue
        score = float(record["result"]["score"])
        penalty = late[student].penalty if student in late else None
        points = scores_of(record)
        writer.writerow([
            csv_cell(student), csv_cell(record["status"]), f"{score:g}", f"{assignment.total_points:g}",
            f"{penalty or 0:g}", f"{max(0.0, score - (penalty or 0)):g}",
            *[f"{points.get(grade_id, 0):g}" for grade_id in ids],
        ])
    return buffer.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
