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
exceptions) is escaped, so it shows as typed and never as HTML. Standard output, which has
everything, is for instructors only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.assignment import read_assignment
from autograder.report import table, write_json_atomically, zero_grade

HERE = Path(__file__).resolve().parent
FORMAT = "md"
EXIT_FULL, EXIT_LOST, EXIT_CANNOT_GRADE = 0, 1, 3
GRACE_SECONDS = 120  # beyond the grader's own submission limit before it is stopped from here
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
WHEN_SHOWN = {
    "visible": "",
    "after_due_date": "after the due date",
    "after_published": "once grades are published",
    "hidden": "never here (ask your instructor)",
}


class GraderError(Exception):
    """The grader could not grade here: its own fault or the image's, not the student's."""


def escape(text: str) -> str:
    """``text`` as Markdown that shows it as typed: HTML and Markdown syntax escaped, lines kept."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    lines = [MARKDOWN_SPECIAL.sub(r"\\\1", line) for line in escaped.splitlines()]
    return "  \n".join(lines)  # two spaces: a hard line break


def find_notebooks(folder: Path) -> list[Path]:
    """Every ``.ipynb`` under ``folder``, but none in hidden folders (checkpoints) or ``__MACOSX``."""
    if not folder.is_dir():
        return []
    return sorted(
        path for path in folder.rglob("*.ipynb")
        if path.is_file() and not any(
            part.startswith(".") or part == "__MACOSX" for part in path.relative_to(folder).parts
        )
    )


def problem_with(notebooks: list[Path], folder: Path) -> str:
    """Why ``notebooks`` cannot be graded, or "" when there is exactly one."""
    if not notebooks:
        return (
            "no notebook (.ipynb file) found in the submission. "
            "Hint: upload the notebook itself, mnist_mlp.ipynb (in JupyterLab: File > Download)."
        )
    if len(notebooks) > 1:
        names = ", ".join(str(path.relative_to(folder)) for path in notebooks)
        return (
            f"the submission holds {len(notebooks)} notebooks ({names}); which one to grade is "
            "not clear. Hint: submit exactly one notebook, your mnist_mlp.ipynb."
        )
    return ""


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
    return escape("\n".join(lines))


def gradescope_results(data: dict, graded: str, settings: dict, ok: bool) -> dict:
    """Gradescope's results.json: a visible "Submission" entry, then one entry per task."""
    notes = data["output"].splitlines()[1:]  # the first line is the grader's own "Score: ..."
    text = summary(data, graded, settings, notes)
    tests = [dict(test, output=escape(test["output"]), output_format=FORMAT) for test in data["tests"]]
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
        "output": escape(text),
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"grader_error": reason},
    }


def grade(root: Path, settings: dict) -> tuple[dict, str]:
    """The results for the one notebook under ``root/submission``; a clear 0 when there is none or several."""
    folder = root / "submission"
    assignment = HERE / settings["assignment"]
    notebooks = find_notebooks(folder)
    problem = problem_with(notebooks, folder)
    if problem:
        zero = zero_grade(read_assignment(assignment), problem, settings["visibility"])
        data = {"score": 0.0, "output": f"Score: 0\n{problem}", "tests": zero.tests,
                "extra_data": {"max_score": zero.max_score}}
        return gradescope_results(data, "Nothing was graded.", settings, False), table(zero)
    check_mnist()
    notebook = notebooks[0]
    data = run_grader(notebook, assignment, settings)
    # A notebook that could not be read gets a zero grade with the reason, and no checks ran.
    ok = bool(data.get("extra_data", {}).get("checks"))
    return gradescope_results(data, f"Graded {notebook.relative_to(folder)}.", settings, ok), ""


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
