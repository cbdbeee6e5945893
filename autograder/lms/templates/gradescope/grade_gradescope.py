"""Grade the notebook(s) of a Gradescope submission and write Gradescope's results.json.

``run_autograder`` runs this with the zip's folder (``/autograder/source``) on ``PYTHONPATH``;
that folder is a course root of one assignment (``source/NAME/`` holds the grading copy of each
notebook, hidden tests included; see autograder/lms/gradescope.py). Paths hang off
``$AUTOGRADER_ROOT`` (default ``/autograder``): the submission is read from ``submission/``,
the results go to ``results/results.json``. ``gradescope.json`` beside this file holds what
was chosen when the zip was built: the assignment and its notebooks, the visibility of each
task's score and checks, whether students see their total at once, and the grader's limits
(sized for Gradescope's default container: 768 MB, half a vCPU).

An assignment of one notebook takes the one notebook of the submission, whatever its name; one
of several notebooks takes each by its file name (``part_a.ipynb``...), each graded on its own,
and a missing one scores 0 with the reason.

The grader runs as its own process (``python -m autograder NOTEBOOK --assignment NAME --course
HERE``), so that a crash of it, a kill or its exit status 3 ("could not grade here") is seen here
and reported as what it is: a **grader error**, with no score and no task marked as failed,
never as points the student lost. So is MNIST missing from the image. The student's own failures
(no notebook, several, an unreadable file, a notebook of another assignment) are graded 0 with
the reason, as everywhere in the kit.

What students see before the visibility setting lets them see more: one visible entry,
"Submission", naming the notebooks that were graded and any cell of them that failed to run
(and the total score, unless the zip was built with --hide-score). Each task's entry, with
the checks' messages, has the chosen visibility. Every text is Markdown (``output_format``
"md") in which whatever the student controls (file names, messages quoting their code or
exceptions) is escaped (``autograder.text.markdown``), so it shows as typed and never as
HTML; file names are shown as one line (``autograder.text.name``). The sandbox's layers
("isolation: ...") are not shown to students. Standard output, which has everything, is for
instructors only.

Notebooks are looked for under ``submission/`` without following a link
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
from autograder.assignments import Graded, load, mismatch
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
Parts = tuple[str, ...]  # a path below submission/, by its parts


class GraderError(Exception):
    """The grader could not grade here: its own fault or the image's, not the student's."""


def not_submitted(part: str) -> bool:
    """Folders (and files) that hold no submission: hidden ones (checkpoints) and ``__MACOSX``."""
    return part.startswith(".") or part == "__MACOSX"


def find_notebooks(folder: Path) -> tuple[list[Parts], list[Parts]]:
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


def labels(paths: list[Parts]) -> str:
    return ", ".join(studentfiles.label(path) for path in paths)


def problem_with(notebooks: list[Parts], links: list[Parts], wanted: str, by_name: bool) -> str:
    """Why ``notebooks`` (those named ``wanted`` when ``by_name``, else any) hold no one notebook
    to grade, or "" when they do."""
    named = f" named {wanted}" if by_name else " (.ipynb file)"
    one = f"one notebook named {wanted}" if by_name else f"one notebook, your {wanted}"
    if not notebooks:
        skipped = f" (symbolic links are not followed: {labels(links)})" if links else ""
        return (f"no notebook{named} found in the submission{skipped}. Hint: upload the notebook itself, "
                f"{wanted} (in JupyterLab: File > Download).")
    if len(notebooks) > 1:
        return (f"the submission holds {len(notebooks)} notebooks ({labels(notebooks)}); which one to "
                f"grade is not clear. Hint: submit exactly {one}.")
    return ""


def choose(notebooks: list[Parts], links: list[Parts], stems: list[str]) -> list[tuple[str, Parts, str]]:
    """For each notebook of the assignment: its stem, the submitted notebook to grade as it, and
    why there is none (or ""). One notebook of the assignment takes the submission's one notebook
    whatever its name; several take each by its file name."""
    if len(stems) == 1:
        problem = problem_with(notebooks, links, f"{stems[0]}.ipynb", by_name=False)
        return [(stems[0], () if problem else notebooks[0], problem)]
    chosen = []
    for stem in stems:
        named = [path for path in notebooks if path[-1] == f"{stem}.ipynb"]
        problem = problem_with(named, links, f"{stem}.ipynb", by_name=True)
        if not named and notebooks:
            problem += f" It holds: {labels(notebooks)}."
        chosen.append((stem, () if problem else named[0], problem))
    return chosen


def copy_notebook(folder: Path, path: Parts, target: Path) -> Path:
    """A copy at ``target`` of the notebook at ``path`` below ``folder`` (as much of it as the
    grader reads), taken without following a link; ``studentfiles.Refused`` for a link, a pipe..."""
    parent = studentfiles.open_folder(folder, path[:-1])
    try:
        studentfiles.copy_file(parent, path, NOTEBOOK_FILE, target, keep=MAX_NOTEBOOK_BYTES + 1)
    finally:
        os.close(parent)
    return target


def not_this_assignment(copy: Path, path: Parts, graded: Graded) -> str:
    """Why the notebook at ``copy`` is not one of ``graded``'s assignment (a notebook of another),
    or "": it carries grade ids, none of them that notebook's."""
    reason = mismatch(copy, graded.root, graded)
    if not reason:
        return ""
    return f"{studentfiles.label(path)}: {reason}. Hint: submit the notebook you were given."


def check_mnist() -> None:
    """MNIST must be in the image (setup.sh put it in ``$MNIST_DATA_DIR``), intact."""
    from solutions.data import MNISTDataError, load_mnist

    try:
        load_mnist(os.environ.get("MNIST_DATA_DIR"), train_count=0, test_count=0)
    except MNISTDataError as error:
        raise GraderError(f"MNIST is not usable in this image ({error}); rebuild the autograder") from error


def grader_command(notebook: Path, results: Path, settings: dict) -> list[str]:
    limits = settings["limits"]
    return [
        sys.executable, "-m", "autograder", str(notebook), "--results", str(results),
        "--assignment", settings["assignment"], "--course", str(HERE),
        "--visibility", settings["visibility"], "-q",
        "--call-timeout", f"{limits['call_seconds']:g}", "--timeout", f"{limits['submission_seconds']:g}",
        "--memory", str(limits["memory_mib"]),
    ]


def run_grader(notebook: Path, settings: dict) -> dict:
    """The grader's results.json for ``notebook``; ``GraderError`` when it did not grade."""
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        command = grader_command(notebook, results, settings)
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


def zero_data(graded: Graded, problem: str, settings: dict) -> tuple[dict, str]:
    """The grader's results for a notebook not graded: every task 0 for ``problem``, said to the
    student; and the table printed for the staff."""
    zero = zero_grade(graded.assignment, problem, settings["visibility"])
    data = {"score": 0.0, "output": f"Score: 0\n{problem}", "tests": zero.tests,
            "extra_data": {"max_score": zero.max_score}}
    return data, table(zero)


def grade_notebook(folder: Path, choice: tuple[str, Parts, str], settings: dict,
                   scratch: Path) -> tuple[dict, str, bool]:
    """The grader's results for one notebook of the assignment, the table printed for the staff,
    and whether the grader graded it (else it is 0 with the reason)."""
    stem, path, problem = choice
    graded = load(HERE, settings["assignment"], stem)
    if not problem:
        try:
            copy = copy_notebook(folder, path, scratch / path[-1])
            problem = not_this_assignment(copy, path, graded)
        except studentfiles.Refused as refused:
            problem = str(refused)
    if problem:
        return *zero_data(graded, problem, settings), False
    check_mnist()
    return run_grader(copy, settings), "", True


def notes_of(data: dict, prefix: str) -> list[str]:
    """The notes of a notebook's results, those for students after ``prefix``."""
    shown = notes_for_students(data["output"])
    return [f"{prefix}{note}" if note in shown else note for note in result_notes(data["output"])]


def combine(parts: list[dict], stems: list[str]) -> dict:
    """The results of one notebook as they are; of several, as one: scores, tests and checks added
    up, the notes of each notebook after its name."""
    if len(parts) == 1:
        return parts[0]
    extras = [part.get("extra_data", {}) for part in parts]
    score, max_score = sum(p["score"] for p in parts), sum(e.get("max_score", 0.0) for e in extras)
    notes = [n for part, stem in zip(parts, stems, strict=True) for n in notes_of(part, f"{stem}.ipynb: ")]
    return {
        "score": score,
        "execution_time": sum(part.get("execution_time", 0) for part in parts),
        "output": "\n".join([f"Score: {score:g} / {max_score:g}", *notes]),
        "tests": [test for part in parts for test in part["tests"]],
        "extra_data": {"max_score": max_score, "checks": [c for e in extras for c in e.get("checks", [])],
                       "notebooks": extras},
    }


def grade(root: Path, settings: dict) -> tuple[dict, str]:
    """The results for the notebook(s) under ``root/submission``; a clear 0 for a notebook that is
    missing, ambiguous, a link (or a pipe, a device) or another assignment's."""
    folder = root / "submission"
    notebooks, links = find_notebooks(folder)
    choices = choose(notebooks, links, settings["notebooks"])
    with tempfile.TemporaryDirectory() as scratch:
        outcomes = [grade_notebook(folder, choice, settings, Path(scratch)) for choice in choices]
    data = combine([data for data, _, _ in outcomes], settings["notebooks"])
    shown = notes_for_students(data["output"])
    for note in result_notes(data["output"]):
        if note not in shown:
            print(note)  # for the course staff only: standard output is hidden from students
    # A notebook that could not be read gets a zero grade with the reason, and no checks ran.
    ok = all(part.get("extra_data", {}).get("checks") for part, _, _ in outcomes)
    ran = [path for (_, path, _), (_, _, graded) in zip(choices, outcomes, strict=True) if graded]
    names = [studentfiles.label(path) for path in ran]
    graded = f"Graded {', '.join(names)}." if names else "Nothing was graded."
    printed = "\n".join(text for _, text, _ in outcomes if text)
    return gradescope_results(data, graded, settings, ok), printed


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
