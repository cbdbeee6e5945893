"""``python -m autograder SUBMISSION.ipynb``: grade one notebook in a sandbox."""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
from pathlib import Path

from autograder.assignments import UsageError, course_root, identify
from autograder.options import (
    EXIT_FULL,
    EXIT_GRADER,
    EXIT_LOST,
    EXIT_USAGE,
    add_limit_arguments,
    isolation_problem,
    limits_from,
    parse_arguments,
)
from autograder.report import table, to_gradescope, write_json_atomically
from autograder.sandbox import GraderError, become_subreaper


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description=(
            "Grade one submitted notebook of an assignment of the course. The student's code cells "
            "run in a separate, limited process; the checks (pytest) run here and compare."
        ),
        epilog=(
            "Exit status: 0 all points earned, 1 some points lost (also for a submission that "
            "could not be read or run: it is graded 0 with the reason), 3 the grader could not grade "
            "here (its own or the host's fault, never the student's: no results are written), "
            "4 usage error. "
            "Other commands: 'python -m autograder batch --help', "
            "'python -m autograder package --help', 'python -m autograder new --help', "
            "'python -m autograder validate --help'."
        ),
    )
    parser.add_argument("submission", type=Path, help="the submitted .ipynb file")
    parser.add_argument("--results", type=Path, help="write Gradescope-format results JSON here")
    parser.add_argument("--junitxml", type=Path, help="also write a JUnit XML report of every check")
    parser.add_argument(
        "--assignment", metavar="NAME|NOTEBOOK",
        help="the assignment to grade it as: a folder of the course's source/, or the path of an "
        "instructor notebook (default: the assignment folder the submission sits in, else the one "
        "whose grade ids it carries)",
    )
    parser.add_argument("--course", type=Path, metavar="DIR",
                        help="the nbgrader course root (default: $AUTOGRADER_COURSE, else the nearest folder "
                        "above the working directory with source/, else this kit)")
    parser.add_argument("--visibility", default="visible",
                        choices=("visible", "hidden", "after_due_date", "after_published"),
                        help="Gradescope visibility of each test's details (default: visible)")
    add_limit_arguments(parser)
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the total")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    if not args.submission.is_file():
        print(f"{parser.prog}: error: {args.submission}: no such file", file=sys.stderr)
        return EXIT_USAGE
    try:
        limits = limits_from(args)
    except ValueError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    problem = isolation_problem(args.allow_unisolated)
    if problem:
        print(f"{parser.prog}: {problem}", file=sys.stderr)
        return EXIT_GRADER
    assignment = os.environ.get("AUTOGRADER_ASSIGNMENT") if args.assignment is None else args.assignment
    try:
        root = args.course.resolve() if args.course else course_root()
        graded = identify(args.submission, root, assignment)
    except UsageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    become_subreaper()
    gc.freeze()  # what is imported by now lives as long as the process: collections need not scan it
    from autograder.grade import grade_submission
    from autograder.runner import AssignmentFault

    try:
        result = grade_submission(args.submission, graded, limits, args.visibility, args.junitxml)
    except GraderError as error:
        print(f"{parser.prog}: grader error, not the student's: {error}", file=sys.stderr)
        return EXIT_GRADER
    except AssignmentFault as error:
        print(f"{parser.prog}: error in the assignment, not the student's: {error}", file=sys.stderr)
        return EXIT_GRADER
    except Exception as error:  # noqa: BLE001 - a fault of the grader's own: never the student's points
        print(f"{parser.prog}: grader error, not the student's (a fault of the grader itself: "
              f"{type(error).__name__}: {str(error)[:500]})", file=sys.stderr)
        return EXIT_GRADER
    result.grader_peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if args.results:
        write_json_atomically(to_gradescope(result, args.visibility), args.results)
    print(f"{args.submission}: {result.score:g}/{result.max_score:g}" if args.quiet else table(result))
    return EXIT_FULL if result.full_marks else EXIT_LOST
