"""Grade the one notebook of a Gradescope submission and write Gradescope's results.json.

``run_autograder`` runs this with the kit's source folder on ``PYTHONPATH``. Paths hang off
``$AUTOGRADER_ROOT`` (default ``/autograder``): the submission is read from ``submission/``,
the results go to ``results/results.json``. ``gradescope.json`` beside this file holds what
was chosen when the zip was built: the grading notebook (the release: grade ids and points),
the visibility of each task's score and checks, whether students see their total at once,
and the grader's limits (sized for Gradescope's default container: 768 MB, half a vCPU).

The grader runs as its own process (``python -m autograder``), so that a crash of it, a kill
or its exit status 3 ("could not grade here") is seen here and reported as what it is: a
**grader error**, with no score and no task marked as failed, never as points the student
lost. So is MNIST missing from the image. The student's own failures (no notebook, several,
an unreadable file) are graded 0 with the reason, as everywhere in the kit.

What students see before the visibility setting lets them see more: one visible entry,
"Submission", naming the notebook that was graded and any cell of it that failed to run
(and the total score, unless the zip was built with --hide-score). Each task's entry, with
the checks' messages, has the chosen visibility. Every text is Markdown (``output_format``
"md") in which whatever the student controls (file names, messages quoting their code or
exceptions) is escaped (``autograder.text.markdown``), so it shows as typed and never as
HTML; file names are shown as one line (``autograder.text.name``). The sandbox's layers
("isolation: ...") are not shown to students. Standard output, which has everything, is for
instructors only.

The notebook is looked for under ``submission/`` without following a link
(``autograder.studentfiles``): a notebook that is a symbolic link (a GitHub submission can
hold one), a named pipe or a device is graded 0 with the reason, a linked folder is not
entered, and the grader reads a copy of the notebook taken through descriptors, never a path
in the submission that could be swapped meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder import studentfiles
from autograder.assignment import read_assignment
from autograder.report import table, write_json_atomically, zero_grade
from autograder.submission import MAX_NOTEBOOK_BYTES
from autograder.text import markdown, notes_for_students, result_notes

HERE = Path(__file__).resolve().parent
FORMAT = "md"
EXIT_FULL, EXIT_LOST, EXIT_CANNOT_GRADE = 0, 1, 3
GRACE_SECONDS = 120  # beyond the grader's own submission limit before it is stopped from here
NOTEBOOK_FILE = "notebook file"
WHEN_SHOWN = {
    "visible": "",
    "after_due_date": "after the due date",
    "after_published": "once grades are published",
    "hidden": "never here (ask your instructor)",
}


class GraderError(Exception):
    """The grader could not grade here: its own fault or the image's, not the student's."""


def not_submitted(part: str) -> bool:
    """Folders (and files) that hold no submission: hidden ones (checkpoints) and ``__MACOSX``."""
    return part.startswith(".") or part == "__MACOSX"


def find_notebooks(folder: Path) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Every entry named ``*.ipynb`` under ``folder`` that is not a folder (a link, a pipe... is
    one too, refused when chosen), by its path below it; and the other links, which are not
    followed. Hidden folders and ``__MACOSX`` are left out."""
    try:
        top = studentfiles.open_folder(folder, [])
    except OSError:
        return [], []
    notebooks, links = [], []
    try:
        for path, entry in studentfiles.walk(top, lambda part: not not_submitted(part)):
            if any(not_submitted(part) for part in path):
                continue
            if entry.name.endswith(".ipynb") and entry.kind != studentfiles.FOLDER:
                notebooks.append(path)
            elif entry.kind == studentfiles.LINK:
                links.append(path)
    finally:
        os.close(top)
    return notebooks, links


def problem_with(notebooks: list[tuple[str, ...]], links: list[tuple[str, ...]] | None = None) -> str:
    """Why ``notebooks`` cannot be graded, or "" when there is exactly one."""
    if not notebooks:
        skipped = ", ".join(studentfiles.label(path) for path in links or [])
        return (
            "no notebook (.ipynb file) found in the submission"
            + (f" (symbolic links are not followed: {skipped})" if skipped else "")
            + ". Hint: upload the notebook itself, mnist_mlp.ipynb (in JupyterLab: File > Download)."
        )
    if len(notebooks) > 1:
        names = ", ".join(studentfiles.label(path) for path in notebooks)
        return (
            f"the submission holds {len(notebooks)} notebooks ({names}); which one to grade is "
            "not clear. Hint: submit exactly one notebook, your mnist_mlp.ipynb."
        )
    return ""


def copy_notebook(folder: Path, path: tuple[str, ...], scratch: Path) -> Path:
    """A copy in ``scratch`` of the notebook at ``path`` below ``folder`` (as much of it as the
    grader reads), taken without following a link; ``studentfiles.Refused`` for a link, a pipe..."""
    parent = studentfiles.open_folder(folder, path[:-1])
    try:
        target = scratch / path[-1]
        studentfiles.copy_file(parent, path, NOTEBOOK_FILE, target, keep=MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(parent)
    return target


def check_mnist() -> None:
    """MNIST must be in the image (setup.sh put it in ``$MNIST_DATA_DIR``), intact."""
    from solutions.data import MNISTDataError, load_mnist

    try:
        load_mnist(os.environ.get("MNIST_DATA_DIR"), train_count=0, test_count=0)
    except MNISTDataError as error:
        raise GraderError(f"MNIST is not usable in this image ({error}); rebuild the autograder") from error


def grader_command(notebook: Path, assignment: Path, results: Path, settings: dict) -> list[str]:
    limits = settings["limits"]
    return [
        sys.executable, "-m", "autograder", str(notebook), "--results", str(results),
        "--assignment", str(assignment), "--visibility", settings["visibility"], "-q",
        "--call-timeout", f"{limits['call_seconds']:g}", "--timeout", f"{limits['submission_seconds']:g}",
        "--memory", str(limits["memory_mib"]),
    ]


def run_grader(notebook: Path, assignment: Path, settings: dict) -> dict:
    """The grader's results.json for ``notebook``; ``GraderError`` when it did not grade."""
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        command = grader_command(notebook, assignment, results, settings)
        try:
            process = subprocess.run(command, capture_output=True, text=True,
                                     timeout=settings["limits"]["submission_seconds"] + GRACE_SECONDS)
        except subprocess.TimeoutExpired as error:
            raise GraderError(f"the grader did not finish within {error.timeout:g} s") from error
        print(process.stdout, end="")
        print(process.stderr, end="", file=sys.stderr)
        if process.returncode == EXIT_CANNOT_GRADE:
            raise GraderError(f"the grader could not grade here (exit status 3): {process.stderr[-2000:]}")
        if process.returncode not in (EXIT_FULL, EXIT_LOST):
            how = (f"was killed by signal {-process.returncode}" if process.returncode < 0
                   else f"failed with exit status {process.returncode}")
            raise GraderError(f"the grader {how}: {process.stderr[-2000:]}")
        try:
            data = json.loads(results.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise GraderError(f"the grader wrote no readable results ({error})") from error
    if not data.get("tests"):
        raise GraderError("the grader's results hold no tests")
    return data


def summary(data: dict, graded: str, settings: dict, notes: list[str]) -> str:
    """The text every student sees at once: what was graded, what went wrong, maybe the total."""
    lines = [graded, *notes]
    if settings["show_score"]:
        lines.append(f"Total: {data['score']:g} / {data['extra_data']['max_score']:g} points.")
    when = WHEN_SHOWN[settings["visibility"]]
    if when:
        hidden = "The points of each task and" if settings["show_score"] else "Your score and"
        lines.append(f"{hidden} the messages of the checks behind them are shown {when}.")
    return markdown("\n".join(lines))


def gradescope_results(data: dict, graded: str, settings: dict, ok: bool) -> dict:
    """Gradescope's results.json: a visible "Submission" entry, then one entry per task."""
    notes = notes_for_students(data["output"])  # not the grader's "Score: ...", nor the sandbox's layers
    text = summary(data, graded, settings, notes)
    tests = [dict(test, output=markdown(test["output"]), output_format=FORMAT) for test in data["tests"]]
    return {
        "score": data["score"],
        "execution_time": int(round(data.get("execution_time", 0))),
        "output": text,
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [
            {"name": "Submission", "status": "passed" if ok else "failed", "output": text,
             "output_format": FORMAT, "visibility": "visible"},
            *tests,
        ],
        "extra_data": data.get("extra_data", {}),
    }


def grader_error_results(reason: str) -> dict:
    """What Gradescope gets when the grader failed: no score, no task, the reason for the staff."""
    text = (
        "The grader failed on this submission, so it was not graded: this is not your score. "
        "Your course staff can see why; once they have fixed it they will regrade it."
    )
    return {
        "output": markdown(text),
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"grader_error": reason},
    }


def grade(root: Path, settings: dict) -> tuple[dict, str]:
    """The results for the one notebook under ``root/submission``; a clear 0 when there is none,
    several, or one that is a link (or a pipe, a device)."""
    folder = root / "submission"
    assignment = HERE / settings["assignment"]
    notebooks, links = find_notebooks(folder)
    problem = problem_with(notebooks, links)
    if problem:
        return zero_results(assignment, problem, settings)
    with tempfile.TemporaryDirectory() as scratch:
        try:
            notebook = copy_notebook(folder, notebooks[0], Path(scratch))
        except studentfiles.Refused as refused:
            return zero_results(assignment, str(refused), settings)
        check_mnist()
        data = run_grader(notebook, assignment, settings)
    shown = notes_for_students(data["output"])
    for note in result_notes(data["output"]):
        if note not in shown:
            print(note)  # for the course staff only: standard output is hidden from students
    # A notebook that could not be read gets a zero grade with the reason, and no checks ran.
    ok = bool(data.get("extra_data", {}).get("checks"))
    graded = f"Graded {studentfiles.label(notebooks[0])}."
    return gradescope_results(data, graded, settings, ok), ""


def zero_results(assignment: Path, problem: str, settings: dict) -> tuple[dict, str]:
    """Every task 0 for ``problem``, said to the student; the table printed for the staff."""
    zero = zero_grade(read_assignment(assignment), problem, settings["visibility"])
    data = {"score": 0.0, "output": f"Score: 0\n{problem}", "tests": zero.tests,
            "extra_data": {"max_score": zero.max_score}}
    return gradescope_results(data, "Nothing was graded.", settings, False), table(zero)


def main() -> int:
    root = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    settings = json.loads((HERE / "gradescope.json").read_text())
    import autograder

    print(f"grader: {Path(autograder.__file__).parent}, python {sys.version.split()[0]}")
    try:
        results, printed = grade(root, settings)
    except GraderError as error:
        print(f"GRADER ERROR (not the student's fault): {error}")
        results, printed = grader_error_results(str(error)), ""
    if printed:
        print(printed)
    write_json_atomically(results, root / "results" / "results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
