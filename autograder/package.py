"""``python -m autograder package gradescope|classroom``: the grader for Gradescope or GitHub Classroom.

``gradescope`` builds the zip an instructor uploads to a Gradescope programming assignment:
``setup.sh`` and ``run_autograder`` at its root, the grader (``autograder/``), the reference
it compares against (``solutions/``), the released notebook for the grade ids and points
(never the source notebook: it holds the solutions and hidden tests), pinned requirements
and ``gradescope.json`` (the visibility chosen here). It holds no MNIST bytes: ``setup.sh``
fetches and verifies MNIST when Gradescope builds the image. See docs/gradescope.md.

``classroom`` writes the files of a GitHub Classroom template repository: the released
notebook and a workflow that fetches the kit from the instructor's private repository,
grades the notebook with the sandboxed grader (as root, every isolation layer on), and has
one command-grader step per task that only reads that task's status from the grader's
results. The reference never goes into the students' repositories. See docs/classroom.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from pathlib import Path

from autograder.assignment import ASSIGNMENT_ID, Assignment, read_assignment
from autograder.cli import parse_arguments

REPOSITORY = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
RELEASE = f"release/{ASSIGNMENT_ID}/{ASSIGNMENT_ID}.ipynb"
SOURCE = f"source/{ASSIGNMENT_ID}/{ASSIGNMENT_ID}.ipynb"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 4

# What grading imports (numpy, pytest; requests and tqdm through solutions.data; nbformat for
# old notebooks), pinned with everything they need, at the versions of this environment.
GRADER_NEEDS = ("numpy", "pytest", "requests", "tqdm", "nbformat")
PACKAGES = ("autograder", "solutions")
PACKAGING_ONLY = ("package.py", "templates/gradescope/", "templates/classroom/")  # builds, never grades
GRADESCOPE_SCRIPTS = ("setup.sh", "run_autograder", "grade_gradescope.py")
# Gradescope's default container: 768 MB for everything and half a vCPU. Honest work peaks
# near 100 MB a process and takes a few seconds there; a submission's time limit stays well
# inside Gradescope's default 10-minute timeout.
GRADESCOPE_LIMITS = {"call_seconds": 30, "submission_seconds": 300, "memory_mib": 256}
EXECUTABLE = ("setup.sh", "run_autograder")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same inputs
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
VISIBILITIES = ("after_due_date", "after_published", "hidden", "visible")

# Actions the Classroom workflow uses, pinned: releases of checkout and setup-python that run
# on Node 24 (the runners retired Node 20). The two classroom-resources actions publish only a
# moving "v1" tag (their release job force-moves it); pin a commit with --pin.
ACTIONS = {
    "actions/checkout": ("08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
    "actions/setup-python": ("e797f83bcb11b83ae66e0230d6156d7c80228e7c", "v6.0.0"),
    "classroom-resources/autograding-command-grader": ("v1", ""),
    "classroom-resources/autograding-grading-reporter": ("v1", ""),
}
FULL_SHA = re.compile(r"[0-9a-f]{40}")
CLASSROOM_PYTHON = "3.11"
GRADER_REPOSITORY = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
# Step timeouts of the Classroom workflow, in minutes. Grading stops itself after 5 minutes
# (the grader's submission limit); the task steps only read a file.
SETUP_MINUTES, FETCH_MINUTES, GRADE_MINUTES, TASK_MINUTES, REPORTER_MINUTES = 5, 10, 10, 1, 2


class PackageError(Exception):
    """The checkout cannot be packaged as it is (the message says why and what to do)."""


# ----------------------------------------------------------------------------- shared


def checked_release(release: Path, source: Path | None = None) -> Assignment:
    """The grading metadata of ``release``, after checking that it is a release in sync with ``source``."""
    if not release.is_file():
        raise PackageError(
            f"{release}: no such notebook. Generate it: nbgrader generate_assignment {ASSIGNMENT_ID}"
        )
    text = release.read_text(encoding="utf-8")
    found = [marker for marker in MARKERS if marker in text]
    if found:
        raise PackageError(f"{release} contains {found[0]!r}: that is the instructor notebook, not a release")
    assignment = read_assignment(release)
    if not assignment.graded:
        raise PackageError(f"{release} has no graded cells (nbgrader metadata missing?)")
    if source is not None and source.is_file() and read_assignment(source) != assignment:
        raise PackageError(
            f"{release} does not carry the grade ids and points of {source}. Regenerate it: "
            f"nbgrader generate_assignment {ASSIGNMENT_ID} --force"
        )
    return assignment


def pinned_requirements(roots: tuple[str, ...]) -> list[str]:
    """``name==version`` for ``roots`` and everything they require here (markers evaluated here)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if canonicalize_name(name) in pins:
            continue
        dist = importlib.metadata.distribution(name)
        pins[canonicalize_name(name)] = f"{dist.metadata['Name']}=={dist.version}"
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(pins.values(), key=str.lower)


def requirements_text(roots: tuple[str, ...], purpose: str) -> str:
    python = ".".join(map(str, sys.version_info[:2]))
    header = f"# {purpose}\n# Pinned from the environment that built this (Python {python}).\n"
    return header + "".join(f"{pin}\n" for pin in pinned_requirements(roots))


# ----------------------------------------------------------------------------- gradescope


def package_files(package: str) -> dict[str, bytes]:
    """``package``'s files by their path in the zip, without caches and the packaging templates."""
    folder = REPOSITORY / package
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and packaged(relative):
            files[f"{package}/{relative}"] = path.read_bytes()
    return files


def packaged(relative: str) -> bool:
    """Whether a file of a package goes into the zip: not caches, hidden files or this packaging."""
    parts = relative.split("/")
    return not (
        "__pycache__" in parts
        or any(part.startswith(".") for part in parts)
        or relative.endswith(".pyc")
        or relative.startswith(PACKAGING_ONLY)
    )


def gradescope_files(release: Path, visibility: str, show_score: bool,
                     limits: dict | None = None) -> dict[str, bytes]:
    """Every file of the Gradescope zip, by its path in the zip."""
    settings = {"assignment": RELEASE, "visibility": visibility, "show_score": show_score,
                "limits": limits or GRADESCOPE_LIMITS}
    files = {name: (TEMPLATES / "gradescope" / name).read_bytes() for name in GRADESCOPE_SCRIPTS}
    files["gradescope.json"] = (json.dumps(settings, indent=2) + "\n").encode()
    files["requirements.txt"] = requirements_text(
        GRADER_NEEDS, "What the grader needs on Gradescope; setup.sh installs it."
    ).encode()
    files[RELEASE] = release.read_bytes()
    for package in PACKAGES:
        files.update(package_files(package))
    return files


def write_zip(files: dict[str, bytes], out: Path) -> None:
    """Write ``files`` to the zip ``out`` (sorted, fixed dates, scripts executable), atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if name in EXECUTABLE else 0o100644) << 16
            archive.writestr(info, files[name])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".tmp", delete=False) as handle:
        handle.write(buffer.getvalue())
    os.chmod(handle.name, 0o666 & ~current_umask())  # as any new file, not the temporary file's 0600
    os.replace(handle.name, out)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def build_gradescope(
    out: Path, release: Path, visibility: str = "after_due_date", show_score: bool = True,
    limits: dict | None = None,
) -> int:
    """Build the Gradescope zip at ``out``; return the number of files in it."""
    checked_release(release, REPOSITORY / SOURCE)
    files = gradescope_files(release, visibility, show_score, limits)
    write_zip(files, out)
    return len(files)


# ----------------------------------------------------------------------------- classroom


def action_ref(action: str, pins: dict[str, str]) -> str:
    """``owner/name@ref  # version`` for the workflow's ``uses:``."""
    ref, version = ACTIONS[action]
    if action in pins:
        ref = pins[action]
    return f"{action}@{ref}" + (f"  # {version}" if version and ref != version else "")


def step_id(grade_id: str) -> str:
    """A step id the grading reporter accepts: letters and digits only (``test_relu`` -> ``testrelu``)."""
    return re.sub(r"[^A-Za-z0-9]", "", grade_id)


def grade_step(show_messages: bool) -> str:
    """The step that grades the notebook with the kit's grader, as root, into ``$RUNNER_TEMP``."""
    visibility = "visible" if show_messages else "hidden"
    return (
        "      - name: Grade the notebook in the grader's sandbox\n"
        f"        timeout-minutes: {GRADE_MINUTES}\n"
        "        working-directory: ${{ runner.temp }}/kit\n"
        "        run: |\n"
        "          status=0\n"
        '          sudo -E env MNIST_DATA_DIR="$RUNNER_TEMP/mnist" "$(command -v python)" -m autograder \\\n'
        f'            "$GITHUB_WORKSPACE/{ASSIGNMENT_ID}.ipynb" --results "$RUNNER_TEMP/results.json" \\\n'
        f"            --visibility {visibility} -q > /dev/null || status=$?\n"
        '          sudo chmod a+r "$RUNNER_TEMP/results.json" || true\n'
        '          echo "grader exit status $status (0 all points, 1 some lost, else a grader error)"\n'
        '          test "$status" -le 1\n'
    )


def task_step(grade_id: str, points: float) -> str:
    """A command-grader step that only reads ``grade_id``'s status from the grader's results."""
    command = f"python .github/classroom/task_status.py ${{{{ runner.temp }}}}/results.json {grade_id}"
    return (
        f"      - name: {grade_id}\n"
        f"        id: {step_id(grade_id)}\n"
        "        if: always()\n"
        f"        timeout-minutes: {TASK_MINUTES + 1}\n"
        "        uses: __COMMAND_GRADER__\n"
        "        with:\n"
        f"          test-name: {grade_id}\n"
        f"          command: {command}\n"
        f"          timeout: {TASK_MINUTES}\n"
        f"          max-score: {points:g}\n"
    )


def job_minutes(task_count: int) -> int:
    """The job's timeout: above the sum of every step's timeout."""
    steps = 2 * SETUP_MINUTES + FETCH_MINUTES + GRADE_MINUTES + task_count * (TASK_MINUTES + 1)
    return steps + REPORTER_MINUTES + 5


def workflow_text(assignment: Assignment, pins: dict[str, str], grader_repository: str,
                  show_messages: bool = False) -> str:
    """The Classroom workflow: fetch the grader, grade once, one step per graded cell, the reporter."""
    ids = [cell.grade_id for cell in assignment.graded]
    if len({step_id(id_) for id_ in ids}) != len(ids):
        raise PackageError(f"grade ids {ids} do not give distinct step ids once '_' is dropped")
    steps = "".join(task_step(cell.grade_id, cell.points) for cell in assignment.graded)
    fields = {
        "__GRADE_STEP__": grade_step(show_messages).rstrip("\n"),
        "__TASK_STEPS__": steps.rstrip("\n"),
        "__REPORTER_ENV__": "\n".join(
            f'          {step_id(id_).upper()}_RESULTS: "${{{{ steps.{step_id(id_)}.outputs.result }}}}"'
            for id_ in ids
        ),
        "__RUNNERS__": ",".join(step_id(id_) for id_ in ids),
        "__PYTHON_VERSION__": CLASSROOM_PYTHON,
        "__GRADER_REPOSITORY__": grader_repository,
        "__JOB_MINUTES__": str(job_minutes(len(ids))),
        "__SETUP_MINUTES__": str(SETUP_MINUTES),
        "__FETCH_MINUTES__": str(FETCH_MINUTES),
        "__REPORTER_MINUTES__": str(REPORTER_MINUTES),
        "__CHECKOUT__": action_ref("actions/checkout", pins),
        "__SETUP_PYTHON__": action_ref("actions/setup-python", pins),
        "__COMMAND_GRADER__": action_ref("classroom-resources/autograding-command-grader", pins),
        "__REPORTER__": action_ref("classroom-resources/autograding-grading-reporter", pins),
    }
    text = (TEMPLATES / "classroom" / "classroom.yml").read_text()
    for marker, value in fields.items():  # in order: the task steps bring __COMMAND_GRADER__
        text = text.replace(marker, value)
    left = re.findall(r"__[A-Z_]+__", text)
    if left:
        raise PackageError(f"the workflow template has markers nothing fills: {left}")
    return text


def classroom_files(release: Path, pins: dict[str, str], grader_repository: str,
                    show_messages: bool = False) -> dict[str, str]:
    """Every file of the template repository, by its path in the repository."""
    assignment = checked_release(release, REPOSITORY / SOURCE)
    return {
        f"{ASSIGNMENT_ID}.ipynb": release.read_text(encoding="utf-8"),
        ".github/workflows/classroom.yml": workflow_text(assignment, pins, grader_repository, show_messages),
        ".github/classroom/task_status.py": (TEMPLATES / "classroom" / "task_status.py").read_text(),
        ".github/classroom/requirements.txt": requirements_text(
            GRADER_NEEDS, "What the kit's grader needs in GitHub Classroom's workflow."
        ),
    }


def build_classroom(out: Path, release: Path, grader_repository: str, pins: dict[str, str] | None = None,
                    show_messages: bool = False) -> list[Path]:
    """Write the template repository's files under ``out`` (others there are left alone)."""
    written = []
    for name, text in classroom_files(release, pins or {}, grader_repository, show_messages).items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# ----------------------------------------------------------------------------- command line


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder package",
        description="Package the grader for Gradescope or GitHub Classroom.",
        epilog="Exit status: 0 written, 1 the checkout cannot be packaged (the reason is printed), "
        "4 usage error.",
    )
    commands = parser.add_subparsers(dest="target", required=True, metavar="{gradescope,classroom}")
    release_help = f"the released notebook (default: {RELEASE} of this checkout)"
    gradescope = commands.add_parser(
        "gradescope", help="the autograder zip to upload to Gradescope (docs/gradescope.md)",
        description="Build the zip to upload to a Gradescope programming assignment.",
    )
    gradescope.add_argument("--out", type=Path, default=Path("autograder.zip"),
                            help="where to write the zip (default: autograder.zip)")
    gradescope.add_argument("--release", type=Path, default=REPOSITORY / RELEASE, help=release_help)
    gradescope.add_argument("--visibility", choices=VISIBILITIES, default="after_due_date",
                            help="when students see each task's points and its checks' messages "
                            "(default: after_due_date)")
    gradescope.add_argument("--hide-score", action="store_true",
                            help="do not tell students their total at once (by default they see it)")
    defaults = GRADESCOPE_LIMITS
    gradescope.add_argument("--call-timeout", type=positive, default=defaults["call_seconds"], metavar="S",
                            help=f"seconds per call of student code (default: {defaults['call_seconds']})")
    gradescope.add_argument("--timeout", type=positive, default=defaults["submission_seconds"], metavar="S",
                            help=f"seconds per submission (default: {defaults['submission_seconds']}; "
                            "keep it below the assignment's Gradescope timeout)")
    gradescope.add_argument("--memory", type=positive, default=defaults["memory_mib"], metavar="MIB",
                            help=f"memory per student process in MiB (default: {defaults['memory_mib']}, "
                            "for Gradescope's default 768 MB container)")
    classroom = commands.add_parser(
        "classroom", help="the files of a GitHub Classroom template repository (docs/classroom.md)",
        description="Write the files of a GitHub Classroom template repository into a folder.",
    )
    classroom.add_argument("--out", type=Path, required=True, help="folder of the template repository")
    classroom.add_argument("--release", type=Path, default=REPOSITORY / RELEASE, help=release_help)
    classroom.add_argument("--grader-repo", required=True, type=grader_repository, metavar="OWNER/NAME",
                           help="the private repository holding this kit, which the workflow clones "
                           "with the organization secret GRADER_TOKEN")
    classroom.add_argument("--show-messages", action="store_true",
                           help="print each task's check messages in the workflow's log (students "
                           "read it; by default only pass or fail and the points)")
    classroom.add_argument("--pin", type=parse_pin, action="append", default=[], metavar="ACTION=COMMIT",
                           help="pin an action of the workflow to a commit (repeatable), e.g. "
                           "classroom-resources/autograding-grading-reporter=<40-hex SHA>")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_arguments(parser, argv)
    if isinstance(args, int):
        return args
    try:
        if args.target == "gradescope":
            limits = {"call_seconds": args.call_timeout, "submission_seconds": args.timeout,
                      "memory_mib": int(args.memory)}
            count = build_gradescope(args.out, args.release, args.visibility, not args.hide_score, limits)
            print(f"wrote {args.out} ({count} files, {args.out.stat().st_size // 1024} KiB): "
                  "upload it as the autograder of a Gradescope programming assignment")
        else:
            for path in build_classroom(args.out, args.release, args.grader_repo, dict(args.pin),
                                        args.show_messages):
                print(f"wrote {path}")
    except PackageError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
