"""The LMS floor: one assignment of the course packaged for Gradescope or GitHub Classroom.

``python -m autograder package gradescope|classroom [--assignment NAME]`` (``main`` here):

- ``gradescope.py`` builds the zip uploaded as a Gradescope assignment's autograder: a course
  root of that one assignment, with Gradescope's scripts (``templates/gradescope/``);
- ``classroom.py`` writes a GitHub Classroom template repository: the assignment's release and
  a workflow (``templates/classroom/``) that grades with the kit fetched from the instructor's
  private repository, through ``grade_classroom.py``;
- ``common.py`` holds what both share: the assignment chosen, its release checked against its
  source, pinned requirements, a reproducible zip.

Nothing here grades: the grader (``autograder/``) does, on Gradescope and in the workflow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.assignments import UsageError, course_root
from autograder.lms.classroom import ACTIONS, FULL_SHA, GRADER_REPOSITORY, build_classroom
from autograder.lms.common import PackageError, choose_assignment
from autograder.lms.gradescope import GRADESCOPE_LIMITS as LIMITS
from autograder.lms.gradescope import VISIBILITIES, build_gradescope
from autograder.options import EXIT_FULL, EXIT_USAGE, parse_arguments

EXIT_FAILED = 1


def parse_pin(text: str) -> tuple[str, str]:
    action, _, ref = text.partition("=")
    if action not in ACTIONS or not FULL_SHA.fullmatch(ref):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ACTION=COMMIT with ACTION one of {', '.join(ACTIONS)} "
            "and COMMIT a full 40-character commit SHA"
        )
    return action, ref


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return value


def grader_repository(text: str) -> str:
    if not GRADER_REPOSITORY.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: expected OWNER/NAME, a GitHub repository")
    return text


def add_course_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--assignment", metavar="NAME",
                        help="the assignment to package, a folder of the course's source/ (default: the "
                        "course's only assignment)")
    parser.add_argument("--course", type=Path, metavar="DIR",
                        help="the nbgrader course root (default: $AUTOGRADER_COURSE, else the nearest folder "
                        "above the working directory with source/, else this kit)")


def add_gradescope(commands: argparse._SubParsersAction) -> None:
    gradescope = commands.add_parser(
        "gradescope", help="the autograder zip of one assignment, for Gradescope (docs/gradescope.md)",
        description="Build the zip to upload to a Gradescope programming assignment.",
    )
    add_course_arguments(gradescope)
    gradescope.add_argument("--out", type=Path, default=Path("autograder.zip"),
                            help="where to write the zip (default: autograder.zip)")
    gradescope.add_argument("--visibility", choices=VISIBILITIES, default="after_due_date",
                            help="when students see each task's points and its checks' messages "
                            "(default: after_due_date)")
    gradescope.add_argument("--hide-score", action="store_true",
                            help="do not tell students their total at once (by default they see it)")
    gradescope.add_argument("--call-timeout", type=positive, default=LIMITS["call_seconds"], metavar="S",
                            help=f"seconds per call of student code (default: {LIMITS['call_seconds']})")
    gradescope.add_argument("--timeout", type=positive, default=LIMITS["submission_seconds"], metavar="S",
                            help=f"seconds per notebook (default: {LIMITS['submission_seconds']}; "
                            "keep it below the assignment's Gradescope timeout)")
    gradescope.add_argument("--memory", type=positive, default=LIMITS["memory_mib"], metavar="MIB",
                            help=f"memory per student process in MiB (default: {LIMITS['memory_mib']}, "
                            "for Gradescope's default 768 MB container)")


def add_classroom(commands: argparse._SubParsersAction) -> None:
    classroom = commands.add_parser(
        "classroom", help="the files of a GitHub Classroom template repository of one assignment "
        "(docs/classroom.md)",
        description="Write the files of a GitHub Classroom template repository into a folder.",
    )
    add_course_arguments(classroom)
    classroom.add_argument("--out", type=Path, required=True, help="folder of the template repository")
    classroom.add_argument("--grader-repo", required=True, type=grader_repository, metavar="OWNER/NAME",
                           help="the private repository holding this kit, which the workflow clones "
                           "with the organization secret GRADER_TOKEN")
    classroom.add_argument("--show-messages", action="store_true",
                           help="print each task's check messages in the workflow's log (students "
                           "read it; by default only pass or fail and the points)")
    classroom.add_argument("--pin", type=parse_pin, action="append", default=[], metavar="ACTION=COMMIT",
                           help="pin an action of the workflow to a commit (repeatable), e.g. "
                           "classroom-resources/autograding-grading-reporter=<40-hex SHA>")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder package",
        description="Package one assignment of the course for Gradescope or GitHub Classroom.",
        epilog="Exit status: 0 written, 1 the course cannot be packaged as it is (the reason is "
        "printed), 4 usage error (an assignment the course has not, or none named when it has several).",
    )
    commands = parser.add_subparsers(dest="target", required=True, metavar="{gradescope,classroom}")
    add_gradescope(commands)
    add_classroom(commands)
    return parser


def package(args: argparse.Namespace, root: Path, name: str) -> None:
    """Build what ``args`` asks for; print what was written."""
    if args.target == "gradescope":
        limits = {"call_seconds": args.call_timeout, "submission_seconds": args.timeout,
                  "memory_mib": int(args.memory)}
        count = build_gradescope(root, name, args.out, args.visibility, not args.hide_score, limits)
        print(f"wrote {args.out} ({count} files, {args.out.stat().st_size // 1024} KiB): upload it as the "
              f"autograder of the Gradescope programming assignment {name}")
        return
    for path in build_classroom(root, name, args.out, args.grader_repo, dict(args.pin), args.show_messages):
        print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    try:
        root = args.course.resolve() if args.course else course_root()
        name = choose_assignment(root, args.assignment)
    except UsageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        package(args, root, name)
    except PackageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FULL
