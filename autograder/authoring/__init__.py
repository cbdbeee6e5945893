"""Writing assignments: ``python -m autograder new NAME`` scaffolds one, ``validate NAME`` proves it.

``new`` writes an assignment that grades as it stands (a notebook with one task, its solution,
a visible and a hidden test, its reference in ``solutions/NAME``, a section in
``docs/assignments/NAME.md``); ``validate`` checks, before a release, everything that makes an
assignment trustworthy (see ``validate``). Both speak of files and fixes, never in tracebacks.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.assignments import UsageError, course_root

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 4


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description="Write and check assignments.")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser(
        "new",
        help="scaffold an assignment: source/NAME/NAME.ipynb, solutions/NAME, a docs section",
        description="Scaffold an assignment that grades as it stands: a notebook with one task (its "
        "solution, a visible and a hidden test), its reference in solutions/NAME and a section in "
        "docs/assignments/NAME.md. Then edit the notebook and run: python -m autograder validate NAME.",
    )
    new.add_argument("name", help="the assignment id: letters, digits and _ (a folder of source/)")
    validate = commands.add_parser(
        "validate",
        help="prove an assignment before its release",
        description="Check an assignment: every test cell has its checks and every check its test "
        "cell; the solved source scores full marks and the blank release 0, each cell 'not written "
        "yet'; each declared known mistake loses exactly its grade ids; nbgrader autograde gives the "
        "same totals; the release leaks no solution or hidden test; the points in the notebook's text "
        "are its metadata's; each check's student-side work fits its limits with room.",
        epilog="Exit status: 0 valid, 1 problems found (each names the file and the fix), 4 usage error.",
    )
    validate.add_argument("name", help="the assignment id (a folder of source/)")
    validate.add_argument(
        "--no-nbgrader",
        action="store_true",
        help="skip the comparison with nbgrader autograde (the slowest step)",
    )
    for command in (new, validate):
        command.add_argument(
            "--course",
            type=Path,
            metavar="DIR",
            help="the course root (default: the nearest folder above with source/)",
        )
    return parser


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code else EXIT_OK
    root = args.course.resolve() if args.course else course_root()
    try:
        if args.command == "new":
            from autograder.authoring.scaffold import scaffold

            for path in scaffold(root, args.name):
                print(f"wrote {path}")
            print(
                f"next: edit source/{args.name}/{args.name}.ipynb, "
                f"then run python -m autograder validate {args.name}"
            )
            return EXIT_OK
        from autograder.authoring.validate import validate

        problems = validate(root, args.name, nbgrader=not args.no_nbgrader, say=print)
    except UsageError as error:
        print(f"python -m autograder {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    for problem in problems:
        print(f"PROBLEM {problem}")
    print(f"{args.name}: {'valid' if not problems else f'{len(problems)} problem(s)'}")
    return EXIT_PROBLEMS if problems else EXIT_OK
