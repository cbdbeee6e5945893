"""What a batch says when it ends, and the class report it writes from every stored record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autograder.assignment import Assignment
from autograder.course.store import ERROR, GRADED
from autograder.text import name, one_line


def lateness_of(batch: Any, submissions: list[Any], records: dict[str, Any]) -> dict[str, Any]:
    """Student -> ``late.Lateness`` for the submissions with a timestamp."""
    late = {}
    for submission in submissions:
        record = records.get(submission.student)
        lateness = batch.lateness(submission, record) if record is not None else None
        if lateness is not None:
            late[submission.student] = lateness
    return late


def write_class_report(
    batch: Any, assignment: Assignment, everyone: list[Any], records: dict[str, Any]
) -> Path:
    """The report over every student in submitted/, from their stored records."""
    from autograder.course.report import write_report

    all_records = {s.student: records.get(s.student) or batch.store.load(s.student) for s in everyone}
    coursedir = batch.course.coursedir
    return write_report(
        batch.reports, batch.course.assignment_id, assignment, all_records,
        lateness_of(batch, everyone, all_records),
        submitted=f"{coursedir.submitted_directory}/", feedback=f"{coursedir.feedback_directory}/",
    )


def first_line(batch: Any, selected: list[Any]) -> str:
    tally, assignment_id = batch.tally, batch.course.assignment_id
    counts = f"{len(selected)} submissions: {tally.graded} graded now, {tally.skipped} unchanged since graded"
    if batch.shard is not None:
        return f"{assignment_id} shard {batch.shard}: {counts}; records only (merge them with --merge)"
    merged = f"{tally.merged} merged from shards; " if batch.grader is None else ""
    return (f"{assignment_id}: {counts}; {merged}gradebook: {tally.gradebook_written} written, "
            f"{tally.gradebook_repaired} repaired; {tally.feedback_written} feedback pages written")


def summary_lines(batch: Any, selected: list[Any], records: dict[str, Any], absent: list[str]) -> list[str]:
    """What the run did, then every submission that could not be read or graded, and why."""
    from autograder.course.report import limit_hits

    lines = [first_line(batch, selected)]
    if batch.gradebook_assignment is not None and batch.gradebook_assignment.updated:
        lines.append(f"Gradebook brought up to date: {batch.gradebook_assignment.updated}")
    unmerged = {submission.student for submission in batch.unmerged}
    not_graded = [s for s in selected if (records.get(s.student) or {}).get("status") != GRADED
                  and s.student not in unmerged]
    if not_graded or absent:
        lines.append("Could not be read (scored 0 in the gradebook) or graded (tried again by the next run):")
        for submission in not_graded:
            record = records.get(submission.student)
            status, reason = (record["status"], record["reason"]) if record else (ERROR, "not graded")
            lines.append(f"  {name(submission.student)}: {status}: {one_line(reason)}")
        lines += [f"  {name(student)}: no folder {one_line(batch.course.student_folder(student))}"
                  for student in absent]
    if unmerged:
        lines.append("Graded by no shard as submitted now (run their shards again, or the batch "
                     "without --merge):")
        lines += [f"  {name(student)}" for student in sorted(unmerged)]
    graded = {s.student: records[s.student] for s in selected
              if (records.get(s.student) or {}).get("status") == GRADED}
    hits = limit_hits(graded)
    if hits:
        lines.append("Graded, but hit a limit or crashed (the affected checks scored 0):")
        lines += [f"  {name(hit['student'])}: {one_line(hit['messages'][0])}" for hit in hits]
    lines += [f"  {problem}" for problem in batch.tally.problems]
    return lines
