"""The instructor's report of a batch: ``reports/<assignment>/``.

``index.html`` (summary, score histogram, pass rate of every check as a table with bars,
the most common failure messages, submissions that hit a limit or could not be read or
graded), ``score_histogram.png`` and ``scores.csv`` (one row per
student: status, score, late penalty, final score, points per grade id). Built from the
stored records of every student in ``submitted/``, so it describes the whole class
whichever students the last run graded.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autograder.assignment import Assignment
from autograder.batchstore import ERROR, GRADED, IN_GRADEBOOK, scores_of
from autograder.feedback import environment, write_html_atomically
from autograder.figures import histogram_png

# How the sandbox words a limit hit or a crash of the student process (autograder/sandbox.py).
LIMIT_HIT = re.compile(
    r"timed out after|time limit of .* used up|memory limit|ran out of its memory|output limit"
    r"|CPU time limit|crashed with signal|exited with status|closed its connection"
    r"|broke the connection"
)
TOP_FAILURES = 20


@dataclass(frozen=True)
class Late:
    """A submission's lateness as the gradebook sees it."""

    seconds_late: float
    penalty: float | None


def write_report(
    folder: Path, assignment_id: str, assignment: Assignment, records: dict[str, dict[str, Any] | None],
    late: dict[str, Late], submitted: str = "submitted/", feedback: str = "feedback/",
) -> Path:
    """Write the report of ``records`` (student -> record, None if never graded); returns index.html."""
    folder.mkdir(parents=True, exist_ok=True)
    scored = {s: r for s, r in records.items() if r is not None and r["status"] in IN_GRADEBOOK}
    totals = [float(r["result"]["score"]) for r in scored.values()]
    _write_bytes(folder / "score_histogram.png", histogram_png(totals, assignment.total_points))
    checks = pass_rates(scored.values(), [cell.grade_id for cell in assignment.graded])
    _write_bytes(folder / "scores.csv", scores_csv(records, assignment, late).encode())
    context = {
        "assignment": assignment_id,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "submitted": submitted,
        "feedback": feedback,
        "max_score": assignment.total_points,
        "summary": summary(records, totals, assignment.total_points, late),
        "tasks": task_means(scored.values(), assignment),
        "checks": checks,
        "failures": common_failures(scored.values()),
        "limit_hits": limit_hits(scored),
        "problems": problems(records),
        "isolation": isolation_counts(scored.values()),
    }
    page = folder / "index.html"
    write_html_atomically(environment().get_template("report.html.j2").render(**context), page)
    return page


def isolation_counts(records: Any) -> list[tuple[str, int]]:
    """How the submissions' student processes were isolated: each distinct set of layers, and how many."""
    counts: Counter[str] = Counter()
    for record in records:
        isolation = record["result"].get("extra_data", {}).get("isolation") or {}
        layers = ", ".join(isolation.get("layers", [])) or "not recorded"
        missing = "; ".join(f"{name} ({why})" for name, why in isolation.get("missing", {}).items())
        counts[layers + (f"; missing: {missing}" if missing else "")] += 1
    return counts.most_common()


def summary(
    records: dict[str, dict[str, Any] | None], totals: list[float], max_score: float, late: dict[str, Late]
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


def pass_rates(records: Any, order: list[str]) -> list[dict[str, Any]]:
    """Per check, grade ids in ``order``: how many graded submissions ran it and passed it."""
    passed: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for record in records:
        for check in record["result"]["extra_data"]["checks"]:
            label = f"{check['grade_id']}::{check['name']}"
            total[label] += 1
            passed[label] += bool(check["passed"])
    rank = {grade_id: index for index, grade_id in enumerate(order)}
    labels = sorted(total, key=lambda label: rank.get(label.split("::")[0], len(rank)))  # stable
    return [
        {"label": label, "passed": passed[label], "total": total[label], "rate": passed[label] / total[label]}
        for label in labels
    ]


def common_failures(records: Any, top: int = TOP_FAILURES) -> list[dict[str, Any]]:
    """The most frequent (check, message) pairs among failed checks."""
    counts: Counter[tuple[str, str]] = Counter()
    for record in records:
        for check in record["result"]["extra_data"]["checks"]:
            if not check["passed"]:
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
        messages += result["output"].splitlines()[1:]
        found = list(dict.fromkeys(m for m in messages if LIMIT_HIT.search(m)))
        if found:
            hits.append({"student": student, "score": result["score"], "messages": found[:5]})
    return hits


def problems(records: dict[str, dict[str, Any] | None]) -> list[dict[str, Any]]:
    """Submissions that could not be read (scored 0) or graded (not in the gradebook)."""
    rows = []
    for student, record in sorted(records.items()):
        if record is None:
            rows.append({"student": student, "status": "not graded yet", "reason": "run the batch again"})
        elif record["status"] != GRADED:
            rows.append({"student": student, "status": record["status"], "reason": record["reason"]})
    return rows


def scores_csv(
    records: dict[str, dict[str, Any] | None], assignment: Assignment, late: dict[str, Late]
) -> str:
    """One row per student: status, score, max_score, late_penalty, final_score, points per grade id."""
    ids = [cell.grade_id for cell in assignment.graded]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "status", "score", "max_score", "late_penalty", "final_score", *ids])
    for student, record in sorted(records.items()):
        if record is None or record["status"] not in IN_GRADEBOOK:
            status = record["status"] if record else "not graded"
            writer.writerow([student, status, "", f"{assignment.total_points:g}", "", "", *[""] * len(ids)])
            continue
        score = float(record["result"]["score"])
        penalty = late[student].penalty if student in late else None
        points = scores_of(record)
        writer.writerow([
            student, record["status"], f"{score:g}", f"{assignment.total_points:g}",
            f"{penalty or 0:g}", f"{max(0.0, score - (penalty or 0)):g}",
            *[f"{points.get(grade_id, 0):g}" for grade_id in ids],
        ])
    return buffer.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
