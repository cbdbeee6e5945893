"""One run of the batch over a class: what to grade, grading it, and writing what it gives.

Submissions whose record is current are skipped (their gradebook entry and feedback page are
checked and repaired); the others are graded by the engine, ``engine.capacity`` at a time, each
in a thread of this process that copies the notebook, waits for the engine and stores the
record. This process alone writes: the records (atomically), the gradebook (from the main
thread only, one SQLite transaction at a time) and the feedback pages (drawn by feedback
processes). A shard writes its records only; a merge grades nothing and writes the rest.
"""

from __future__ import annotations

import contextlib
import importlib
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.course.grading import Grader
from autograder.course.late import Lateness, lateness
from autograder.course.servers import Renderers
from autograder.course.shards import Shard, merge
from autograder.course.store import ERROR, GRADED, IN_GRADEBOOK, ResultStore, scores_of
from autograder.course.submissions import Submission, is_current_for
from autograder.text import name, one_line


@dataclass
class Outcome:
    """What one thread did, for the main thread to put into the gradebook and the summary."""

    submission: Submission
    record: dict[str, Any]
    graded: bool  # graded in this run (not only its feedback refreshed)
    feedback_error: str = ""


@dataclass
class Tally:
    graded: int = 0
    skipped: int = 0
    merged: int = 0
    gradebook_written: int = 0
    gradebook_repaired: int = 0
    feedback_written: int = 0
    problems: list[str] = field(default_factory=list)


class Batch:
    """The course, its records, and (unless this is a shard) its gradebook and feedback pages.

    ``grader`` is None for a merge (nothing is graded); ``shard`` names the part of the class a
    shard grades; ``gradebook`` is the gradebook's view of the assignment (None for a shard)."""

    def __init__(self, course: Any, fingerprint: str, grader: Grader | None, gradebook: Any, jobs: int,
                 shard: Shard | None = None) -> None:
        self.course, self.fingerprint, self.grader, self.shard = course, fingerprint, grader, shard
        self.gradebook_assignment = gradebook
        self.reports = course.root / "reports" / course.assignment_id
        self.store = ResultStore(self.reports / "results")
        self.writes = ResultStore(shard.folder(self.reports) / "results") if shard else self.store
        self.writes.remove_leftovers()
        self.scratch = (shard.folder(self.reports) if shard else self.reports) / ".grading"
        shutil.rmtree(self.scratch, ignore_errors=True)  # left by a killed batch
        self.renderers = None if shard else Renderers(limit=max(1, jobs))
        self.jobs = max(1, jobs)
        self.tally = Tally()
        self.unmerged: list[Submission] = []  # a merge: what no shard graded as it is now
        self.policy: Any = None  # late.LatePolicy, once the gradebook is open

    def current_record(self, submission: Submission, force: bool) -> dict[str, Any] | None:
        """The stored record (the batch's, else this shard's) that grades this submission as it is
        now; None when it must be graded."""
        for store in [self.store] + ([self.writes] if self.shard else []):
            record = store.load(submission.student)
            if not force and is_current_for(record, submission, self.fingerprint):
                return record
        return None

    # -- one submission (threads) -----------------------------------------------------

    def grade(self, submission: Submission, scratch: Path) -> Outcome:
        """Grade one submission, store its record, write its feedback."""
        assert self.grader is not None
        record = self.grader.record(submission, scratch)
        if record["status"] == ERROR and self.grader.engine.stopping:  # interrupted: keep the old record
            return Outcome(submission, record, graded=True)
        self.writes.save(record)
        error = "" if self.shard else self.write_feedback(submission, record)
        return Outcome(submission, record, graded=True, feedback_error=error)

    def lateness(self, submission: Submission, record: dict[str, Any]) -> Lateness | None:
        if record["status"] not in IN_GRADEBOOK:
            return None
        score = float(record["result"]["score"])
        return lateness(self.policy, submission.student, submission.timestamp, score)

    def feedback_page(self, student: str) -> Path:
        return self.course.feedback_folder(student) / f"{self.course.notebook_id}.html"

    def write_feedback(self, submission: Submission, record: dict[str, Any]) -> str:
        """Write the feedback page of a stored record in the gradebook; an error message or ''."""
        from autograder.course.feedback import task

        if record["status"] not in IN_GRADEBOOK:
            return ""
        error = self.renderers.write(task(
            self.store.path(submission.student), self.course.feedback_folder(submission.student),
            self.course.notebook_id, self.course.student_path(submission.student),
            self.lateness(submission, record),
        ))
        return f"feedback page not written: {error}" if error else ""

    def refresh_feedback(self, submission: Submission, record: dict[str, Any]) -> Outcome:
        error = self.write_feedback(submission, record)
        return Outcome(submission, record, graded=False, feedback_error=error)

    # -- the gradebook (main thread only) ---------------------------------------------

    def to_gradebook(
        self, gb: Any, submission: Submission, record: dict[str, Any], check: dict | None
    ) -> bool:
        """Record ``record`` unless ``check`` (the gradebook's entries) shows it there; True if written."""
        from autograder.course.gradebook import Entry, in_sync
        from autograder.course.gradebook import record as write_entry

        if record["status"] not in IN_GRADEBOOK:
            return False
        wanted = Entry(scores=dict(scores_of(record)), timestamp=submission.timestamp,
                       no_response=frozenset(record.get("unanswered", [])))
        student = submission.student
        if check is not None and in_sync(check.get(student), wanted, student, self.policy):
            return False
        write_entry(self.course, gb, student, wanted, self.policy)
        return True

    # -- the run ----------------------------------------------------------------------

    def run(
        self, submissions: list[Submission], force: bool, quiet: bool
    ) -> dict[str, dict[str, Any] | None]:
        """Grade what needs it, repair the rest; returns every submission's record (None if none)."""
        if self.shard is not None:
            return self._run_shard(submissions, force, quiet)
        from autograder.course.feedback import feedback_is_current
        from autograder.course.gradebook import read_entries, read_extensions
        from autograder.course.late import LatePolicy

        with self.course.gradebook() as gb:
            self.policy = LatePolicy(self.gradebook_assignment.duedate, self.course.late_plugin,
                                     read_extensions(self.course, gb))
            entries = read_entries(self.course, gb)
            if self.grader is None:  # a merge
                self.tally.merged = merge(self.reports, self.store, submissions, self.fingerprint,
                                          self.gradebook_assignment.solution_sources)
            to_grade, skipped = self._classify(submissions, force)
            if self.grader is None:
                self.unmerged, to_grade = to_grade, []
            refresh = [(s, r) for s, r in skipped if r["status"] in IN_GRADEBOOK
                       and not feedback_is_current(self.feedback_page(s.student), r, self.lateness(s, r))]
            records: dict[str, dict[str, Any] | None] = {s.student: r for s, r in skipped}

            def repair() -> None:  # while the threads grade
                for submission, record in skipped:
                    self.tally.gradebook_repaired += self.to_gradebook(gb, submission, record, entries)

            with contextlib.closing(self._execute(to_grade, refresh, quiet, repair)) as outcomes:
                for outcome in outcomes:
                    records[outcome.submission.student] = outcome.record
                    self._account(gb, outcome)
        for submission in to_grade + self.unmerged:
            records.setdefault(submission.student, self.store.load(submission.student))
        return records

    def _classify(self, submissions: list[Submission], force: bool) -> tuple[list, list]:
        """``(to grade, [(skipped, its record)])``."""
        to_grade, skipped = [], []
        for submission in submissions:
            record = self.current_record(submission, force)
            if record is None:
                to_grade.append(submission)
            else:
                skipped.append((submission, record))
        self.tally.skipped = len(skipped)
        return to_grade, skipped

    def _run_shard(self, submissions: list[Submission], force: bool, quiet: bool) -> dict[str, Any]:
        to_grade, skipped = self._classify(submissions, force)
        records: dict[str, dict[str, Any] | None] = {s.student: r for s, r in skipped}
        with contextlib.closing(self._execute(to_grade, [], quiet, lambda: None)) as outcomes:
            for outcome in outcomes:
                records[outcome.submission.student] = outcome.record
                self.tally.graded += 1
        for submission in to_grade:
            records.setdefault(submission.student, self.writes.load(submission.student))
        return records

    def _execute(
        self, to_grade: list[Submission], refresh: list[tuple[Submission, dict[str, Any]]], quiet: bool,
        meanwhile: Callable[[], None],
    ) -> Iterator[Outcome]:
        """Grade and refresh pages in threads; run ``meanwhile`` here once they started; yield each
        outcome as it comes."""
        from tqdm import tqdm

        self.scratch.mkdir(parents=True, exist_ok=True)
        threads = max(self.grader.engine.capacity if self.grader else 1, self.jobs)
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grade")
        bar = tqdm(total=len(to_grade), desc=f"grading {self.course.assignment_id}", unit="nb",
                   disable=True if quiet else None, file=sys.stderr, dynamic_ncols=True)
        failures = 0
        try:
            if (to_grade or refresh) and self.renderers is not None:
                self.renderers.warm(min(self.jobs, len(to_grade) + len(refresh)))
                # The class report needs matplotlib in this process too: import it while waiting.
                threading.Thread(target=importlib.import_module, args=("autograder.course.report",),
                                 daemon=True).start()
            futures: list[Future] = [executor.submit(self.grade, s, self.scratch) for s in to_grade]
            futures += [executor.submit(self.refresh_feedback, s, r) for s, r in refresh]
            meanwhile()
            for future in as_completed(futures):
                outcome = future.result()
                if outcome.graded:
                    failures += outcome.record["status"] != GRADED
                    bar.set_postfix_str(f"not graded or unreadable: {failures}", refresh=False)
                    bar.update(1)
                    if outcome.record["status"] != GRADED and not quiet:
                        bar.write(f"{name(outcome.submission.student)}: {outcome.record['status']}: "
                                  f"{one_line(outcome.record['reason'])}", file=sys.stderr)
                yield outcome
        finally:
            bar.close()
            if self.grader is not None:
                self.grader.engine.stop()  # nothing runs any more after a normal end; ends it on interrupt
            executor.shutdown(wait=True, cancel_futures=True)
            if self.renderers is not None:
                self.renderers.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _account(self, gb: Any, outcome: Outcome) -> None:
        if outcome.graded:
            self.tally.graded += 1
            if self.to_gradebook(gb, outcome.submission, outcome.record, None):
                self.tally.gradebook_written += 1
        if outcome.feedback_error:
            problem = f"{name(outcome.submission.student)}: {one_line(outcome.feedback_error)}"
            self.tally.problems.append(problem)
        elif outcome.record["status"] in IN_GRADEBOOK:
            self.tally.feedback_written += 1
