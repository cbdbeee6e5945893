"""``python -m autograder batch ASSIGNMENT``: grade a whole class, from the nbgrader course root.

Every ``submitted/<student>/<assignment>/`` (as ``nbgrader collect`` or ``zip_collect``
leave them) is graded by its own ``python -m autograder NOTEBOOK --results ...`` process,
N at a time, so each submission gets the sandbox of the single-file command and a hostile
one takes nothing else down. The parent process alone writes: each result to
``reports/<assignment>/results/<student>.json`` (atomically), the scores into nbgrader's
gradebook (through nbgrader's API, as ``nbgrader autograde`` would, late penalty included),
the student's feedback page to ``feedback/<student>/<assignment>/`` and, at the end, the
class report to ``reports/<assignment>/``.

A rerun grades only what changed or was missed and repairs what an interruption left
undone (a result stored but not yet in the gradebook, a missing feedback page); see
docs/batch.md. Exit status: 0 when every submission was graded, whatever its score; 1
when some could not be read or graded (listed at the end, with the reason); 3 when this
host cannot isolate student code (see ``--allow-unisolated``); 4 for a usage or course
set-up error.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from autograder.assignment import Assignment, read_assignment
from autograder.batchprocs import Processes, Renderers, run_grader
from autograder.batchstore import (
    ERROR,
    GRADED,
    IN_GRADEBOOK,
    MISSING,
    UNREADABLE,
    ResultStore,
    SubmittedFile,
    grader_fingerprint,
    grading_code,
    is_current,
    new_record,
    scores_of,
)
from autograder.options import add_limit_arguments, isolation_problem, limits_from, parse_arguments
from autograder.sandbox import Limits
from autograder.studentfiles import (
    FILE,
    FOLDER,
    Entry,
    Refused,
    copy_file,
    entries,
    label,
    open_folder,
    read_file,
    refusal,
)
from autograder.submission import MAX_NOTEBOOK_BYTES
from autograder.text import name, one_line

EXIT_ALL_GRADED, EXIT_SOME_NOT_GRADED, EXIT_CANNOT_GRADE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 3, 4, 130
NOTEBOOK_FILE = "notebook file"
TIMESTAMP = "timestamp.txt"
TIMESTAMP_BYTES = 4096  # nbgrader writes one line of 30 characters


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder batch",
        description=(
            "Grade every submitted/<student>/ASSIGNMENT/ of the nbgrader course in the current "
            "directory, each in its own sandbox; write the scores into nbgrader's gradebook, "
            "feedback/<student>/ASSIGNMENT/ for students and reports/ASSIGNMENT/ for the instructor. "
            "A rerun grades only new or changed submissions."
        ),
        epilog="Exit status: 0 every submission graded, 1 some could not be read or graded, 4 usage error.",
    )
    parser.add_argument("assignment", help="the assignment id (a folder of source/)")
    parser.add_argument("--jobs", "-j", type=int, default=default_jobs(),
                        help=f"submissions graded at a time (default: the number of cores, {default_jobs()})")
    parser.add_argument("--student", action="extend", nargs="+", default=[], metavar="ID",
                        help="grade only these students (the report still covers the whole class)")
    parser.add_argument("--force", action="store_true",
                        help="grade again even submissions that have not changed since they were graded")
    parser.add_argument("--course-dir", type=Path, default=Path.cwd(),
                        help="the nbgrader course root (default: the current directory)")
    add_limit_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return parser


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- submissions


@dataclass
class Submission:
    """One student's folder in ``submitted/`` and the notebook in it that is graded."""

    student: str
    folder: Path
    notebook: Path | None
    problem: str = ""  # why there is no notebook to grade
    # MISSING (no notebook: scored 0, as nbgrader scores a missing one), UNREADABLE (a link, a
    # pipe... where the notebook or its folder should be: scored 0) or ERROR (not graded)
    problem_status: str = MISSING
    note: str = ""  # something the student should know (a renamed notebook)
    timestamp: datetime | None = None
    file: SubmittedFile | None = None

    def refuse(self, reason: str, status: str = UNREADABLE) -> Submission:
        """No notebook to grade, for ``reason``."""
        self.notebook, self.file, self.problem, self.problem_status = None, None, reason, status
        return self


def choose_notebook(listing: list[Entry], notebook_id: str) -> tuple[str | None, str, str]:
    """``(name, problem, note)`` from the entries of a student's folder: ``<notebook_id>.ipynb``,
    else the folder's only notebook; ``Refused`` when the one chosen is a link, a pipe, a device."""
    expected = f"{notebook_id}.ipynb"
    notebooks = [entry for entry in listing if entry.name.endswith(".ipynb") and entry.kind != FOLDER]
    chosen = next((entry for entry in notebooks if entry.name == expected), None)
    note = ""
    if chosen is None and len(notebooks) == 1:
        chosen = notebooks[0]
        note = f"graded {label([chosen.name])}: there is no {expected} in the submission"
    if chosen is None and not notebooks:
        return None, f"no notebook submitted: {expected} is not in the submission", ""
    if chosen is None:
        names = ", ".join(label([entry.name]) for entry in notebooks)
        return None, f"{len(notebooks)} notebooks ({names}) and none of them is {expected}", ""
    if chosen.kind != FILE:
        raise Refused(refusal([chosen.name], chosen.kind, NOTEBOOK_FILE))
    return chosen.name, "", note


def read_timestamp(folder: int, listing: list[Entry]) -> datetime | None:
    """The ``timestamp.txt`` of the open student ``folder``, as nbgrader reads it; None if absent.

    ``Refused`` when it is a link (or a pipe...); ``ValueError`` when nbgrader could not read it.
    """
    from autograder.gradebook import parse_timestamp

    if not any(entry.name == TIMESTAMP for entry in listing):
        return None
    raw = read_file(folder, [TIMESTAMP], "file", TIMESTAMP_BYTES)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ValueError("not a timestamp nbgrader can read") from None
    if len(raw) > TIMESTAMP_BYTES:
        raise ValueError("not a timestamp nbgrader can read")
    return parse_timestamp(text)


# ----------------------------------------------------------------------------- the batch


@dataclass
class Outcome:
    """What one job did, for the main thread to put into the gradebook and the summary."""

    submission: Submission
    record: dict[str, Any]
    graded: bool  # graded in this run (not only its feedback refreshed)
    feedback_error: str = ""


@dataclass
class Tally:
    graded: int = 0
    skipped: int = 0
    gradebook_written: int = 0
    gradebook_repaired: int = 0
    feedback_written: int = 0
    problems: list[str] = field(default_factory=list)


class Batch:
    """One run of ``batch`` over a course: the course, its gradebook, the stored records."""

    def __init__(self, course: Any, assignment: Assignment, limits: Limits, jobs: int) -> None:
        from autograder.gradebook import ensure_assignment

        self.course = course
        self.assignment = assignment
        self.limits = limits
        self.jobs = max(1, jobs)
        self.reports = course.root / "reports" / course.assignment_id
        self.store = ResultStore(self.reports / "results")
        self.store.remove_leftovers()
        self.scratch = self.reports / ".grading"  # the grading processes' result files, until read
        shutil.rmtree(self.scratch, ignore_errors=True)  # left by a killed batch
        self.fingerprint = grader_fingerprint(assignment, grading_code(course.assignment_id, course.root))
        self.gradebook_assignment = ensure_assignment(course)
        self.processes = Processes(warm=f"{course.root}::{course.assignment_id}")
        self.renderers = Renderers()
        self.tally = Tally()
        self.policy: Any = None  # LatePolicy, once the gradebook is open
        self.allow_unisolated = False

    # -- discovery -------------------------------------------------------------------

    def students(self) -> list[str]:
        """Every student with an entry for the assignment in their folder of ``submitted/``.

        A student folder that is a link is listed, to be refused when graded; whether it holds
        the assignment is a ``stat`` through the link, which reads nothing there."""
        root = self.course.submitted_folder()
        try:
            with os.scandir(root) as scan:
                names = [item.name for item in scan
                         if item.is_symlink() or item.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        return sorted(student for student in names if os.path.lexists(self.course.student_folder(student)))

    def discover(self, students: list[str], identify: bool = True) -> list[Submission]:
        """The submissions of ``students``: the notebook to grade, its timestamp and (if
        ``identify``) the SHA-256 of its content."""
        return [self.inspect(student, identify) for student in students]

    def inspect(self, student: str, identify: bool = True) -> Submission:
        """One student's submission, read without following a link (``autograder.studentfiles``):
        a link, a pipe or a device where a folder, the notebook or its timestamp should be is
        scored 0 with the reason, and nothing it points to is read."""
        submission = Submission(student, self.course.student_folder(student), None)
        base, parts = self.course.student_path(student)
        try:
            folder = open_folder(base, parts)
        except Refused as refused:
            return submission.refuse(str(refused))
        except OSError as error:
            return submission.refuse(f"{label(parts)}: cannot be read ({error.strerror})", ERROR)
        try:
            self._inspect_folder(submission, folder, identify)
        except Refused as refused:
            submission.refuse(str(refused))
        except ValueError as error:
            submission.refuse(f"{label([*parts, TIMESTAMP])}: {error}", ERROR)
        except OSError as error:
            submission.refuse(f"{label(parts)}: cannot be read ({error.strerror})", ERROR)
        finally:
            os.close(folder)
        return submission

    def _inspect_folder(self, submission: Submission, folder: int, identify: bool) -> None:
        listing = entries(folder)
        chosen, submission.problem, submission.note = choose_notebook(listing, self.course.notebook_id)
        submission.timestamp = read_timestamp(folder, listing)
        if chosen is None:
            return
        submission.notebook = submission.folder / chosen
        if identify:
            content = copy_file(folder, [chosen], NOTEBOOK_FILE)
            submission.file = SubmittedFile(submission.notebook, content.sha256, content.size, content.mtime)

    def is_current(self, submission: Submission, force: bool) -> bool:
        """Whether the stored record already grades this submission as it is now."""
        if force or (submission.problem and submission.problem_status == ERROR):
            return False
        record = self.store.load(submission.student)
        if submission.notebook is None:  # nothing to grade: current if already recorded so, for this reason
            return (record is not None and record["status"] == submission.problem_status
                    and record["reason"] == submission.problem and record["fingerprint"] == self.fingerprint)
        assert submission.file is not None
        return is_current(record, submission.file.sha256, self.fingerprint)

    # -- one submission (worker threads) ---------------------------------------------

    def grade(self, submission: Submission, scratch: Path) -> Outcome:
        """Grade one submission, store its record, write its feedback."""
        record = self._grade_record(submission, scratch)
        if record["status"] == ERROR and self.processes.stopping:  # interrupted: keep the old record
            return Outcome(submission, record, graded=True)
        self.store.save(record)
        error = self.write_feedback(submission, record)
        return Outcome(submission, record, graded=True, feedback_error=error)

    def _grade_record(self, submission: Submission, scratch: Path) -> dict[str, Any]:
        if submission.notebook is None:
            return self._zero_record(submission, submission.problem_status, submission.problem)
        private = Path(tempfile.mkdtemp(dir=scratch))
        try:
            return self._grade_copy(submission, scratch, private)
        finally:
            shutil.rmtree(private, ignore_errors=True)

    def _grade_copy(self, submission: Submission, scratch: Path, private: Path) -> dict[str, Any]:
        """Grade a copy of the notebook in ``private``, taken through ``studentfiles``: the
        grading process reads that copy, never a path in the student's folder."""
        assert submission.notebook is not None
        notebook = private / submission.notebook.name
        try:
            described = self._copy_notebook(submission, notebook).describe(self.course.root)
        except Refused as refused:  # made a link (or a pipe) since it was discovered
            return self._zero_record(submission, UNREADABLE, str(refused))
        except OSError as error:
            where = label([submission.student, submission.notebook.name])
            reason = f"{where}: cannot be read ({error.strerror})"
            return new_record(submission.student, self.course.assignment_id, ERROR, self.fingerprint,
                              reason=reason)
        run = run_grader(self.processes, notebook, scratch, self.course.source_notebook,
                         self.limits, self.course.root, self.allow_unisolated)
        if run.result is None:
            return new_record(submission.student, self.course.assignment_id, ERROR, self.fingerprint,
                              submission=described, reason=run.problem, seconds=run.seconds)
        result = run.result
        if submission.note:
            result["output"] += "\n" + submission.note
        if not result["extra_data"]["checks"]:  # the single-file grader could not read the notebook
            reason = (result["output"].splitlines()[1:] or ["not a notebook"])[0]
            return new_record(submission.student, self.course.assignment_id, UNREADABLE, self.fingerprint,
                              submission=described, result=result, reason=reason, seconds=run.seconds)
        return new_record(
            submission.student, self.course.assignment_id, GRADED, self.fingerprint, submission=described,
            result=result, seconds=run.seconds, unanswered=self._unanswered(notebook),
        )

    def _copy_notebook(self, submission: Submission, target: Path) -> SubmittedFile:
        """Copy the submission's notebook to ``target`` (as much of it as the grader reads) and
        identify its content, all of it."""
        assert submission.notebook is not None
        base, parts = self.course.student_path(submission.student)
        folder = open_folder(base, parts)
        try:
            content = copy_file(folder, [target.name], NOTEBOOK_FILE, target, keep=MAX_NOTEBOOK_BYTES + 1)
        finally:
            os.close(folder)
        return SubmittedFile(submission.notebook, content.sha256, content.size, content.mtime)

    def _zero_record(self, submission: Submission, status: str, reason: str) -> dict[str, Any]:
        from autograder.report import to_gradescope, zero_grade

        scored = status in (MISSING, UNREADABLE)
        result = to_gradescope(zero_grade(self.assignment, reason, "visible")) if scored else None
        return new_record(submission.student, self.course.assignment_id, status, self.fingerprint,
                          result=result, reason=reason)

    def _unanswered(self, notebook: Path) -> list[str]:
        """Answer cells still as released: nbgrader comments them "No response."."""
        from autograder.submission import SubmissionError, cell_source, nbgrader_metadata, read_notebook

        try:
            cells = read_notebook(notebook)["cells"]
        except SubmissionError:
            return []
        released = self.gradebook_assignment.solution_sources
        return sorted({
            nbgrader_metadata(cell).get("grade_id") for cell in cells
            if released.get(nbgrader_metadata(cell).get("grade_id")) == cell_source(cell)
        })

    def lateness(self, submission: Submission, record: dict[str, Any]) -> Any:
        """The submission's ``feedback.Lateness`` (None without a timestamp)."""
        from autograder.feedback import Lateness

        if submission.timestamp is None or record["status"] not in IN_GRADEBOOK:
            return None
        seconds = self.policy.seconds_late(submission.student, submission.timestamp)
        penalty = self.policy.penalty(submission.student, float(record["result"]["score"]), seconds)
        return Lateness(submission.timestamp, seconds, penalty)

    def feedback_page(self, student: str) -> Path:
        return self.course.feedback_folder(student) / f"{self.course.notebook_id}.html"

    def write_feedback(self, submission: Submission, record: dict[str, Any]) -> str:
        """Write the feedback page of a stored record in the gradebook; returns an error message or ''."""
        from autograder.feedback import task

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

    # -- the gradebook (main thread only) --------------------------------------------

    def wanted_entry(self, submission: Submission, record: dict[str, Any]) -> Any:
        from autograder.gradebook import Entry

        scores: dict[str, float | None] = dict(scores_of(record))
        return Entry(scores=scores, timestamp=submission.timestamp,
                     no_response=frozenset(record.get("unanswered", [])))

    def to_gradebook(
        self, gb: Any, submission: Submission, record: dict[str, Any], check: dict | None
    ) -> bool:
        """Record ``record`` unless ``check`` (the gradebook's entries) shows it there; True if written."""
        from autograder.gradebook import in_sync
        from autograder.gradebook import record as write_entry

        if record["status"] not in IN_GRADEBOOK:
            return False
        wanted = self.wanted_entry(submission, record)
        student = submission.student
        if check is not None and in_sync(check.get(student), wanted, student, self.policy):
            return False
        write_entry(self.course, gb, submission.student, wanted, self.policy)
        return True

    # -- the run ---------------------------------------------------------------------

    def run(
        self, submissions: list[Submission], force: bool, quiet: bool
    ) -> dict[str, dict[str, Any] | None]:
        """Grade what needs it, repair the rest; returns every submission's record (None if none)."""
        from autograder.feedback import feedback_is_current
        from autograder.gradebook import LatePolicy, read_entries, read_extensions

        records: dict[str, dict[str, Any] | None] = {}
        to_grade: list[Submission] = []
        refresh: list[tuple[Submission, dict[str, Any]]] = []
        with self.course.gradebook() as gb:
            self.policy = LatePolicy(self.gradebook_assignment.duedate, self.course.late_plugin,
                                     read_extensions(self.course, gb))
            entries = read_entries(self.course, gb)
            skipped: list[tuple[Submission, dict[str, Any]]] = []
            for submission in submissions:
                if not self.is_current(submission, force):
                    to_grade.append(submission)
                    continue
                record = self.store.load(submission.student)
                records[submission.student] = record
                skipped.append((submission, record))
                page, lateness = self.feedback_page(submission.student), self.lateness(submission, record)
                if record["status"] in IN_GRADEBOOK and not feedback_is_current(page, record, lateness):
                    refresh.append((submission, record))
            self.tally.skipped = len(skipped)

            def repair() -> None:  # while the workers grade
                for submission, record in skipped:
                    self.tally.gradebook_repaired += self.to_gradebook(gb, submission, record, entries)

            with contextlib.closing(self._execute(to_grade, refresh, quiet, repair)) as outcomes:
                for outcome in outcomes:
                    records[outcome.submission.student] = outcome.record
                    self._account(gb, outcome)
        for submission in to_grade:
            records.setdefault(submission.student, self.store.load(submission.student))
        return records

    def _execute(
        self, to_grade: list[Submission], refresh: list[tuple[Submission, dict[str, Any]]], quiet: bool,
        meanwhile: Callable[[], None],
    ) -> Iterator[Outcome]:
        """Grade and refresh pages in worker threads; run ``meanwhile`` here once they started;
        yield each outcome as it comes."""
        from tqdm import tqdm

        scratch = self.scratch
        scratch.mkdir(parents=True, exist_ok=True)
        executor = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="grade")
        bar = tqdm(total=len(to_grade), desc=f"grading {self.course.assignment_id}", unit="nb",
                   disable=True if quiet else None, file=sys.stderr, dynamic_ncols=True)
        failures = 0
        try:
            if to_grade or refresh:
                self.renderers.warm(min(self.jobs, len(to_grade) + len(refresh)))
                # The class report needs matplotlib in this process too: import it while waiting.
                threading.Thread(target=importlib.import_module, args=("autograder.classreport",),
                                 daemon=True).start()
            futures: list[Future] = [executor.submit(self.grade, s, scratch) for s in to_grade]
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
            self.processes.stop()  # nothing runs any more after a normal end; ends children on interrupt
            executor.shutdown(wait=True, cancel_futures=True)
            self.renderers.close()
            shutil.rmtree(scratch, ignore_errors=True)

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


# ----------------------------------------------------------------------------- report and summary


def lateness_of(batch: Batch, submissions: list[Submission], records: dict[str, Any]) -> dict[str, Any]:
    """Student -> ``classreport.Late`` for the submissions with a timestamp."""
    from autograder.classreport import Late

    late = {}
    for submission in submissions:
        record = records.get(submission.student)
        lateness = batch.lateness(submission, record) if record is not None else None
        if lateness is not None:
            late[submission.student] = Late(lateness.seconds_late, lateness.penalty)
    return late


def write_class_report(batch: Batch, everyone: list[Submission], records: dict[str, Any]) -> Path:
    """The report over every student in submitted/, from their stored records."""
    from autograder.classreport import write_report

    all_records = {s.student: records.get(s.student) or batch.store.load(s.student) for s in everyone}
    coursedir = batch.course.coursedir
    return write_report(
        batch.reports, batch.course.assignment_id, batch.assignment, all_records,
        lateness_of(batch, everyone, all_records),
        submitted=f"{coursedir.submitted_directory}/", feedback=f"{coursedir.feedback_directory}/",
    )


def summary_lines(
    batch: Batch, selected: list[Submission], records: dict[str, Any], absent: list[str]
) -> list[str]:
    """What the run did, then every submission that could not be read or graded, and why."""
    from autograder.classreport import limit_hits

    tally = batch.tally
    lines = [
        f"{batch.course.assignment_id}: {len(selected)} submissions: {tally.graded} graded now, "
        f"{tally.skipped} unchanged since graded; gradebook: {tally.gradebook_written} written, "
        f"{tally.gradebook_repaired} repaired; {tally.feedback_written} feedback pages written"
    ]
    if batch.gradebook_assignment.updated:
        lines.append(f"Gradebook brought up to date: {batch.gradebook_assignment.updated}")
    not_graded = [s for s in selected if (records.get(s.student) or {}).get("status") != GRADED]
    if not_graded or absent:
        lines.append("Could not be read (scored 0 in the gradebook) or graded (tried again by the next run):")
        for submission in not_graded:
            record = records.get(submission.student)
            status, reason = (record["status"], record["reason"]) if record else (ERROR, "not graded")
            lines.append(f"  {name(submission.student)}: {status}: {one_line(reason)}")
        lines += [f"  {name(student)}: no folder {one_line(batch.course.student_folder(student))}"
                  for student in absent]
    graded = {s.student: records[s.student] for s in selected
              if (records.get(s.student) or {}).get("status") == GRADED}
    hits = limit_hits(graded)
    if hits:
        lines.append("Graded, but hit a limit or crashed (the affected checks scored 0):")
        lines += [f"  {name(hit['student'])}: {one_line(hit['messages'][0])}" for hit in hits]
    lines += [f"  {problem}" for problem in tally.problems]
    return lines


# ----------------------------------------------------------------------------- main


@contextlib.contextmanager
def course_lock(folder: Path) -> Iterator[None]:
    """One batch at a time per course and assignment (released by the kernel, even on SIGKILL)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".batch.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock = folder / ".batch.lock"
            raise RuntimeError(f"another batch is running for this assignment ({lock})") from None
        yield


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def skip_slow_optional_imports() -> None:
    """Leave out ``rfc3987_syntax``, an optional plug-in of ``jsonschema`` (imported by nbformat,
    imported by nbgrader) that compiles an IRI grammar when imported: 0.7 s of a batch's start,
    for a string format no notebook schema uses. ``jsonschema`` works as if it were not installed."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]  # import raises ImportError


def main(argv: list[str] | None = None) -> int:
    skip_slow_optional_imports()
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    try:
        limits = limits_from(args)
    except ValueError:
        limits = None
    if args.jobs < 1 or limits is None:
        print(f"{parser.prog}: error: --jobs and the limits must be positive", file=sys.stderr)
        return EXIT_USAGE
    problem = isolation_problem(args.allow_unisolated)
    if problem:
        print(f"{parser.prog}: {problem}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return run_batch(args, limits, parser.prog)
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class Run:
    """What ``grade_class`` did: the batch, the students it was asked for, their records."""

    batch: Batch
    selected: list[Submission]
    absent: list[str]
    records: dict[str, Any]
    report: Path
    interrupted: bool
    failure: str = ""  # why the run stopped early, other than an interruption


def grade_class(args: argparse.Namespace, limits: Limits) -> Run:
    """Open the course, grade the selected students, write the report of the whole class."""
    from sqlalchemy.exc import SQLAlchemyError

    from autograder.gradebook import open_course

    course = open_course(args.course_dir.resolve(), args.assignment)
    assignment = read_assignment(course.source_notebook)
    with course_lock(course.root / "reports" / course.assignment_id):
        batch = Batch(course, assignment, limits, args.jobs)
        batch.allow_unisolated = args.allow_unisolated
        present = batch.students()
        chosen = [s for s in dict.fromkeys(args.student) if s in present] if args.student else present
        absent = [s for s in dict.fromkeys(args.student) if s not in present]
        selected = batch.discover(chosen)
        records: dict[str, Any] = {}
        interrupted, failure = False, ""
        try:
            records = batch.run(selected, args.force, args.quiet)
        except KeyboardInterrupt:
            interrupted = True
        except SQLAlchemyError as error:  # a locked or read-only gradebook: stop, rerun later
            failure = f"the gradebook could not be written: {getattr(error, 'orig', None) or error}"
        batch.processes.stop()
        others = batch.discover([s for s in present if s not in set(chosen)], identify=False)
        report = write_class_report(batch, selected + others, records)
    return Run(batch, selected, absent, records, report, interrupted, failure)


def run_batch(args: argparse.Namespace, limits: Limits, prog: str) -> int:
    """``grade_class``, then the summary and the exit status."""
    from autograder.gradebook import CourseError

    try:
        run = grade_class(args, limits)
    except (CourseError, RuntimeError, FileNotFoundError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    lines = summary_lines(run.batch, run.selected, run.records, run.absent)
    if run.interrupted or run.failure:
        print(lines[0])
        print(f"Report: {run.report}")
        print(f"Stopped: {run.failure}" if run.failure else "Interrupted.",
              "Run the same command again to grade the rest.")
        return EXIT_SOME_NOT_GRADED if run.failure else EXIT_INTERRUPTED
    print("\n".join(lines))
    print(f"Report: {run.report}")
    statuses = [(run.records.get(s.student) or {}).get("status") for s in run.selected]
    complete = not run.absent and all(status == GRADED for status in statuses)
    return EXIT_ALL_GRADED if complete else EXIT_SOME_NOT_GRADED
