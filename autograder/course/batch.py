"""``python -m autograder batch ASSIGNMENT``: grade a whole class, from the nbgrader course root.

Every ``submitted/<student>/<assignment>/`` is graded with the sandbox of the single-file command
(``run``): on this machine, ``--jobs`` at a time (``grading.LocalEngine``), or on a Dask cluster
(``--scheduler``, ``--cluster``: ``cluster.DaskEngine``). This process alone writes the records
(``reports/<assignment>/results/``), nbgrader's gradebook, the feedback pages and the class
report. ``--shard I/N`` grades one part of the class into a results folder of its own and
``--merge`` writes everything else from all shards (``shards``). A rerun grades only what changed.

Exit status: 0 every submission graded, whatever its score; 1 some could not be read or graded
(listed at the end, with the reason); 3 this host cannot isolate student code (see
``--allow-unisolated``); 4 a usage or course set-up error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.assignment import read_assignment
from autograder.course.cluster import ClusterError, add_cluster_arguments
from autograder.course.shards import Shard
from autograder.course.summary import summary_lines, write_class_report
from autograder.options import add_limit_arguments, isolation_problem, limits_from, parse_arguments
from autograder.sandbox import Limits

EXIT_ALL_GRADED, EXIT_SOME_NOT_GRADED, EXIT_CANNOT_GRADE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 3, 4, 130


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder batch",
        description=(
            "Grade every submitted/<student>/ASSIGNMENT/ of the nbgrader course in the current "
            "directory, each in its own sandbox; write the scores into nbgrader's gradebook, "
            "feedback/<student>/ASSIGNMENT/ for students and reports/ASSIGNMENT/ for the instructor. "
            "A rerun grades only new or changed submissions."
        ),
        epilog="Exit status: 0 every submission graded, 1 some could not be read or graded, 3 this host "
        "cannot isolate student code, 4 usage error, 130 interrupted. See docs/batch.md.",
    )
    parser.add_argument("assignment", help="the assignment id (a folder of source/)")
    parser.add_argument("--jobs", "-j", type=int, default=default_jobs(),
                        help="submissions graded at a time on this machine; with a cluster, feedback pages "
                        f"drawn at a time (default: the number of cores, {default_jobs()})")
    parser.add_argument("--student", action="extend", nargs="+", default=[], metavar="ID",
                        help="grade only these students (the report still covers the whole class)")
    parser.add_argument("--force", action="store_true",
                        help="grade again even submissions that have not changed since they were graded")
    parser.add_argument("--course-dir", type=Path, default=Path.cwd(),
                        help="the nbgrader course root (default: the current directory)")
    add_limit_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    split = parser.add_argument_group("a class in shards (job arrays, CI matrices; no Dask)")
    apart = split.add_mutually_exclusive_group()
    apart.add_argument("--shard", type=shard_option, metavar="I/N",
                       help="grade shard I of N (0 <= I < N) into reports/ASSIGNMENT/shards/I-of-N/ only")
    apart.add_argument("--merge", action="store_true",
                       help="grade nothing: write the gradebook, feedback and report from every shard's "
                       "records")
    add_cluster_arguments(parser)
    return parser


def shard_option(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def usage_problem(args: argparse.Namespace, limits: Limits | None) -> str:
    if args.jobs < 1 or limits is None or args.workers < 0 or args.worker_cores < 1:
        return "--jobs, --worker-cores and the limits must be positive"
    if (args.shard or args.merge) and (args.scheduler or args.cluster):
        return "--shard and --merge grade without a cluster: leave out --scheduler and --cluster"
    if (args.workers or args.worker_memory or args.cluster_option) and not args.cluster:
        return "--workers, --worker-memory and --cluster-option go with --cluster"
    return ""


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
    problem = usage_problem(args, limits)
    if problem:
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    local = not (args.scheduler or args.cluster or args.merge)  # elsewhere, each worker decides
    problem = isolation_problem(args.allow_unisolated) if local else ""
    if problem:
        print(f"{parser.prog}: {problem}", file=sys.stderr)
        return EXIT_CANNOT_GRADE
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        return run_batch(args, limits, parser.prog)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def skip_slow_optional_imports() -> None:
    """Leave out ``rfc3987_syntax``, an optional plug-in of ``jsonschema`` (imported by nbformat,
    imported by nbgrader) that compiles an IRI grammar when imported: 0.7 s of a batch's start,
    for a string format no notebook schema uses. ``jsonschema`` works as if it were not installed."""
    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]  # import raises ImportError


@contextlib.contextmanager
def course_lock(folder: Path) -> Iterator[None]:
    """One batch at a time per course and assignment (per shard for shards); released by the
    kernel, even on SIGKILL."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".batch.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock = folder / ".batch.lock"
            raise RuntimeError(f"another batch is running for this assignment ({lock})") from None
        yield


@dataclass
class Run:
    """What ``grade_class`` did: the batch, the students it was asked for, their records."""

    batch: Any  # run.Batch
    selected: list[Any]  # submissions.Submission
    absent: list[str]
    records: dict[str, Any]
    report: Path | None
    interrupted: bool
    failure: str = ""  # why the run stopped early, other than an interruption


def start_engine(args: argparse.Namespace, course: Any, limits: Limits) -> Any:
    """What grades: nothing for a merge, a Dask cluster, else this machine's grading processes."""
    from autograder.course.grading import LocalEngine

    if args.merge:
        return None
    if args.scheduler or args.cluster:
        from autograder.course.bundle import Bundle
        from autograder.course.cluster import DaskEngine

        bundle = Bundle.of_course(course.root, course.assignment_id, course.notebook_id)
        return DaskEngine.start(args, bundle, limits, args.jobs)
    return LocalEngine(course.source_notebook, limits, course.root, args.allow_unisolated, args.jobs,
                       warm=f"{course.root}::{course.assignment_id}")


def grade_class(args: argparse.Namespace, limits: Limits) -> Run:
    """Open the course, grade the selected students, write the report of the whole class."""
    from sqlalchemy.exc import SQLAlchemyError

    from autograder.course.gradebook import ensure_assignment
    from autograder.course.grading import Grader
    from autograder.course.nbgrader_course import open_course
    from autograder.course.run import Batch
    from autograder.course.store import Versions, assignment_version, fingerprint, grader_version
    from autograder.course.submissions import discover, students

    course = open_course(args.course_dir.resolve(), args.assignment)
    assignment = read_assignment(course.source_notebook)
    reports = course.root / "reports" / course.assignment_id
    with course_lock(args.shard.folder(reports) if args.shard else reports):
        version = assignment_version(course.root, course.assignment_id)
        versions = Versions(version, grader_version(), fingerprint(assignment, version, grader_version()))
        gradebook = None if args.shard else ensure_assignment(course)
        engine = start_engine(args, course, limits)
        try:
            released = gradebook.solution_sources if gradebook else None
            grader = Grader(course, assignment, versions, engine, released) if engine else None
            batch = Batch(course, versions.fingerprint, grader, gradebook, args.jobs, args.shard)
            present = [s for s in students(course) if not args.shard or args.shard.holds(s)]
            chosen = [s for s in dict.fromkeys(args.student) if s in present] if args.student else present
            absent = [s for s in dict.fromkeys(args.student) if s not in present]
            selected = discover(course, chosen)
            records: dict[str, Any] = {}
            interrupted, failure = False, ""
            try:
                records = batch.run(selected, args.force, args.quiet)
            except KeyboardInterrupt:
                interrupted = True
            except SQLAlchemyError as error:  # a locked or read-only gradebook: stop, rerun later
                failure = f"the gradebook could not be written: {getattr(error, 'orig', None) or error}"
        finally:
            if engine is not None:
                engine.stop()
                getattr(engine, "close", lambda: None)()
        report = None
        if not args.shard:
            others = discover(course, [s for s in present if s not in set(chosen)], identify=False)
            report = write_class_report(batch, assignment, selected + others, records)
    return Run(batch, selected, absent, records, report, interrupted, failure)


def run_batch(args: argparse.Namespace, limits: Limits, prog: str) -> int:
    """``grade_class``, then the summary and the exit status."""
    from autograder.course.nbgrader_course import CourseError
    from autograder.course.store import GRADED

    try:
        run = grade_class(args, limits)
    except (CourseError, ClusterError, RuntimeError, FileNotFoundError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before grading began (a cluster starting, say): nothing to report
        print("Interrupted. Run the same command again.", file=sys.stderr)
        return EXIT_INTERRUPTED
    lines = summary_lines(run.batch, run.selected, run.records, run.absent)
    where = f"Report: {run.report}" if run.report else f"Records: {run.batch.writes.folder}"
    if run.interrupted or run.failure:
        print(lines[0])
        print(where)
        print(f"Stopped: {run.failure}" if run.failure else "Interrupted.",
              "Run the same command again to grade the rest.")
        return EXIT_SOME_NOT_GRADED if run.failure else EXIT_INTERRUPTED
    print("\n".join(lines))
    print(where)
    statuses = [(run.records.get(s.student) or {}).get("status") for s in run.selected]
    complete = not run.absent and not run.batch.unmerged and all(status == GRADED for status in statuses)
    return EXIT_ALL_GRADED if complete else EXIT_SOME_NOT_GRADED
