"""``package classroom``: the files of a GitHub Classroom template repository for one assignment.

The repository holds the assignment's release (its notebooks at the top, with the files beside
them) and a workflow that fetches the kit from the instructor's private repository, grades each
notebook with the sandboxed grader (as root, every isolation layer on) through
``autograder.lms.grade_classroom`` (which copies the notebook without following a link of the
student's repository), and has one command-grader step per test cell that only reads that
cell's status from the grader's results. The reference never goes into the students'
repositories. See docs/classroom.md.
"""

from __future__ import annotations

import re
from pathlib import Path

from autograder.lms.common import TEMPLATES, PackageError, Release, checked_release, requirements_text

# Actions the workflow uses, pinned: releases of checkout and setup-python that run on Node 24
# (the runners retired Node 20). The two classroom-resources actions publish only a moving "v1"
# tag (their release job force-moves it); pin a commit with --pin.
ACTIONS = {
    "actions/checkout": ("08c6903cd8c0fde910a37f88322edcfb5dd907a8", "v5.0.0"),
    "actions/setup-python": ("e797f83bcb11b83ae66e0230d6156d7c80228e7c", "v6.0.0"),
    "classroom-resources/autograding-command-grader": ("v1", ""),
    "classroom-resources/autograding-grading-reporter": ("v1", ""),
}
FULL_SHA = re.compile(r"[0-9a-f]{40}")
CLASSROOM_PYTHON = "3.11"
GRADER_REPOSITORY = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+")
# Step timeouts, in minutes. Grading stops itself after 5 minutes a notebook (the grader's
# submission limit); the task steps only read a file.
SETUP_MINUTES, FETCH_MINUTES, GRADE_MINUTES, TASK_MINUTES, REPORTER_MINUTES = 5, 10, 10, 1, 2
RESULTS = "${{ runner.temp }}/results"
# Names the workflow writes into a shell command or a YAML line unquoted.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def action_ref(action: str, pins: dict[str, str]) -> str:
    """``owner/name@ref  # version`` for the workflow's ``uses:``."""
    ref, version = ACTIONS[action]
    if action in pins:
        ref = pins[action]
    return f"{action}@{ref}" + (f"  # {version}" if version and ref != version else "")


def step_id(grade_id: str) -> str:
    """A step id the grading reporter accepts: letters and digits only (``test_square`` -> ``testsquare``)."""
    return re.sub(r"[^A-Za-z0-9]", "", grade_id)


def grade_step(release: Release, show_messages: bool) -> str:
    """The step that grades every notebook with the kit's grader, as root, into ``$RUNNER_TEMP/results``."""
    visibility = "visible" if show_messages else "hidden"
    notebooks = " ".join(path.name for path in release.notebooks)
    minutes = GRADE_MINUTES * len(release.notebooks)
    return (
        "      - name: Grade the notebook in the grader's sandbox\n"
        f"        timeout-minutes: {minutes}\n"
        "        working-directory: ${{ runner.temp }}/kit\n"
        "        run: |\n"
        "          status=0\n"
        '          sudo -E env MNIST_DATA_DIR="$RUNNER_TEMP/mnist" "$(command -v python)" \\\n'
        f"            -m autograder.lms.grade_classroom --assignment {release.name} \\\n"
        '            --workspace "$GITHUB_WORKSPACE" --results "$RUNNER_TEMP/results" \\\n'
        f"            --visibility {visibility} {notebooks} || status=$?\n"
        '          sudo chmod -R a+rX "$RUNNER_TEMP/results" || true\n'
        '          echo "grader exit status $status (0 all points, 1 some lost, else a grader error)"\n'
        '          test "$status" -le 1\n'
    )


def task_step(grade_id: str, points: float, notebook: str) -> str:
    """A command-grader step that only reads ``grade_id``'s status from ``notebook``'s results."""
    results = f"{RESULTS}/{Path(notebook).stem}.json"
    command = f"python .github/classroom/task_status.py {results} {grade_id}"
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


def job_minutes(release: Release, task_count: int) -> int:
    """The job's timeout: above the sum of every step's timeout."""
    grading = GRADE_MINUTES * len(release.notebooks)
    steps = 2 * SETUP_MINUTES + FETCH_MINUTES + grading + task_count * (TASK_MINUTES + 1)
    return steps + REPORTER_MINUTES + 5


def checked_names(release: Release) -> list[str]:
    """Every graded cell's grade id, after checking that each name the workflow writes is plain
    and that the step ids (grade ids without ``_``) are distinct."""
    ids = [cell.grade_id for assignment in release.assignments for cell in assignment.graded]
    names = [release.name, *ids, *(path.name for path in release.notebooks)]
    odd = [name for name in names if not SAFE_NAME.fullmatch(name)]
    if odd:
        raise PackageError(f"{odd[0]!r}: the workflow needs names of letters, digits, '_', '.' and '-'")
    if len({step_id(id_) for id_ in ids}) != len(ids):
        raise PackageError(f"grade ids {ids} do not give distinct step ids once '_' is dropped")
    return ids


def workflow_text(release: Release, pins: dict[str, str], grader_repository: str,
                  show_messages: bool = False) -> str:
    """The Classroom workflow: fetch the grader, grade, one step per graded cell, the reporter."""
    ids = checked_names(release)
    steps = "".join(
        task_step(cell.grade_id, cell.points, notebook.name)
        for notebook, assignment in zip(release.notebooks, release.assignments, strict=True)
        for cell in assignment.graded
    )
    fields = {
        "__ASSIGNMENT__": release.name,
        "__NOTEBOOKS__": ", ".join(path.name for path in release.notebooks),
        "__GRADE_STEP__": grade_step(release, show_messages).rstrip("\n"),
        "__TASK_STEPS__": steps.rstrip("\n"),
        "__REPORTER_ENV__": "\n".join(
            f'          {step_id(id_).upper()}_RESULTS: "${{{{ steps.{step_id(id_)}.outputs.result }}}}"'
            for id_ in ids
        ),
        "__RUNNERS__": ",".join(step_id(id_) for id_ in ids),
        "__PYTHON_VERSION__": CLASSROOM_PYTHON,
        "__GRADER_REPOSITORY__": grader_repository,
        "__JOB_MINUTES__": str(job_minutes(release, len(ids))),
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


def classroom_files(release: Release, pins: dict[str, str], grader_repository: str,
                    show_messages: bool = False) -> dict[str, bytes]:
    """Every file of the template repository, by its path in the repository."""
    files = dict(release.beside())
    files.update({path.name: path.read_bytes() for path in release.notebooks})
    workflow = workflow_text(release, pins, grader_repository, show_messages)
    files.update({
        ".github/workflows/classroom.yml": workflow.encode(),
        ".github/classroom/task_status.py": (TEMPLATES / "classroom" / "task_status.py").read_bytes(),
        ".github/classroom/requirements.txt": requirements_text(
            "What the kit's grader needs in GitHub Classroom's workflow.").encode(),
    })
    return files


def build_classroom(root: Path, name: str, out: Path, grader_repository: str,
                    pins: dict[str, str] | None = None, show_messages: bool = False) -> list[Path]:
    """Write the template repository of assignment ``name`` of the course at ``root`` under ``out``
    (other files there are left alone); return the paths written."""
    files = classroom_files(checked_release(root, name), pins or {}, grader_repository, show_messages)
    written = []
    for relative, data in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written
