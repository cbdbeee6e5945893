"""``python -m autograder.lms.grade_classroom``: grade the notebooks of a student's repository in
GitHub Classroom's workflow (written by ``package classroom``, autograder/lms/classroom.py).

The student controls every file of the repository: a notebook there may be a symbolic link (to
the kit's source notebook, fetched beside it, which would score every point), a named pipe or a
device. So each notebook is copied into a private folder through descriptors, never following a
link (``autograder.studentfiles``), and only the copy is graded, by ``python -m autograder COPY
--assignment NAME`` in a process of its own, into ``RESULTS/<notebook>.json``. A notebook that
is not a regular file, is missing, or is a notebook of another assignment is graded 0 there, with
the reason.

Exit status: 0 every point earned, 1 some lost (a notebook graded 0 included), else the status of
the grader that could not grade (3: the host's or the grader's fault, never the student's).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder import studentfiles
from autograder.assignments import Graded, UsageError, course_root, load, mismatch
from autograder.options import EXIT_FULL, EXIT_LOST, EXIT_USAGE, parse_arguments
from autograder.report import to_gradescope, write_json_atomically, zero_grade
from autograder.submission import MAX_NOTEBOOK_BYTES

NOTEBOOK_FILE = "notebook file"


def notebook_name(text: str) -> str:
    """A notebook at the top of the repository: a plain file name ending in ``.ipynb``."""
    if "/" in text or text in (".", "..") or not text.endswith(".ipynb"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected the file name of a notebook, NAME.ipynb")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.lms.grade_classroom",
        description="Grade the notebooks of a student's repository, read without following a link.",
    )
    parser.add_argument("notebooks", nargs="+", type=notebook_name, metavar="NOTEBOOK",
                        help="file names of the assignment's notebooks at the top of the repository")
    parser.add_argument("--assignment", required=True, help="the assignment of the course they belong to")
    parser.add_argument("--course", type=Path, help="the course root (default: as the grader finds it)")
    parser.add_argument("--workspace", type=Path, required=True, help="the student's repository")
    parser.add_argument("--results", type=Path, required=True, help="folder of the results, one per notebook")
    parser.add_argument("--visibility", default="hidden", choices=("visible", "hidden"),
                        help="whether the checks' messages go into the results (default: hidden)")
    return parser


def copy_notebook(workspace: Path, name: str, scratch: Path) -> Path:
    """A copy in ``scratch`` of the notebook ``name`` at the top of ``workspace`` (as much of it as
    the grader reads), taken without following a link; ``studentfiles.Refused`` for a link, a
    pipe, a folder..., ``FileNotFoundError`` when there is none."""
    folder = studentfiles.open_folder(workspace, [])
    try:
        target = scratch / name
        studentfiles.copy_file(folder, [name], NOTEBOOK_FILE, target, keep=MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(folder)
    return target


def problem_with(workspace: Path, name: str, graded: Graded, scratch: Path) -> tuple[Path | None, str]:
    """The copy to grade, or why the notebook gets 0."""
    try:
        copy = copy_notebook(workspace, name, scratch)
    except studentfiles.Refused as refused:
        return None, str(refused)
    except FileNotFoundError:
        missing = studentfiles.label([name])
        return None, f"{missing} is not in the repository; commit the notebook you were given, under its name"
    reason = mismatch(copy, graded.root, graded)
    if reason:
        return None, f"{studentfiles.label([name])}: {reason}"
    return copy, ""


def grade_one(graded: Graded, name: str, args: argparse.Namespace) -> int:
    """Grade the notebook ``name`` of the workspace as ``graded``; the grader's exit status."""
    results = args.results / f"{Path(name).stem}.json"
    results.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="classroom-") as scratch:
        copy, problem = problem_with(args.workspace, name, graded, Path(scratch))
        if copy is None:
            print(f"{name}: graded 0: {problem}")
            zero = zero_grade(graded.assignment, problem, args.visibility)
            write_json_atomically(to_gradescope(zero, args.visibility), results)
            return EXIT_LOST
        command = [sys.executable, "-m", "autograder", str(copy), "--assignment", graded.name,
                   "--course", str(graded.root), "--results", str(results),
                   "--visibility", args.visibility, "-q"]
        return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    root = args.course.resolve() if args.course else course_root()
    try:
        notebooks = [load(root, args.assignment, Path(name).stem) for name in args.notebooks]
    except UsageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    args.results.mkdir(parents=True, exist_ok=True)
    statuses = [grade_one(graded, name, args) for graded, name in zip(notebooks, args.notebooks, strict=True)]
    failed = [status for status in statuses if status not in (EXIT_FULL, EXIT_LOST)]
    return failed[0] if failed else max(statuses)


if __name__ == "__main__":
    sys.exit(main())
