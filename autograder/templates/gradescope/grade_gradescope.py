"""Grade the one notebook of a Gradescope submission and write Gradescope's results.json.

``run_autograder`` runs this with the kit's source folder on ``PYTHONPATH``. Paths hang off
``$AUTOGRADER_ROOT`` (default ``/autograder``): the submission is read from ``submission/``,
the results go to ``results/results.json``. ``gradescope.json`` beside this file holds what
was chosen when the zip was built: the grading notebook (the release: grade ids and points),
the visibility of each task's score and checks, and whether students see their total at once.

What students see before the visibility setting lets them see more: one visible entry,
"Submission", naming the notebook that was graded and any cell of it that failed to run
(and the total score, unless the zip was built with --hide-score). Each task's entry, with
the checks' messages, has the chosen visibility. Standard output, which has everything, is
for instructors only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from autograder.assignment import read_assignment
from autograder.cli import grade_submission
from autograder.report import GradeResult, table, to_gradescope, write_json_atomically, zero_grade
from autograder.sandbox import become_subreaper

HERE = Path(__file__).resolve().parent
WHEN_SHOWN = {
    "visible": "",
    "after_due_date": "after the due date",
    "after_published": "once grades are published",
    "hidden": "never here (ask your instructor)",
}


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


def summary(result: GradeResult, graded: str, settings: dict) -> str:
    """The text every student sees at once: what was graded, what went wrong, maybe the total."""
    lines = [graded, *result.notes]
    if settings["show_score"]:
        lines.append(f"Total: {result.score:g} / {result.max_score:g} points.")
    when = WHEN_SHOWN[settings["visibility"]]
    if when:
        hidden = "The points of each task and" if settings["show_score"] else "Your score and"
        lines.append(f"{hidden} the messages of the checks behind them are shown {when}.")
    return "\n".join(lines)


def gradescope_results(result: GradeResult, graded: str, settings: dict, ok: bool) -> dict:
    """Gradescope's results.json: a visible "Submission" entry, then one entry per task."""
    data = to_gradescope(result)
    text = summary(result, graded, settings)
    data.update(output=text, visibility="visible", stdout_visibility="hidden")
    data["tests"] = [
        {"name": "Submission", "status": "passed" if ok else "failed", "output": text,
         "visibility": "visible"},
        *data["tests"],
    ]
    return data


def grade(root: Path, settings: dict) -> tuple[GradeResult, str, bool]:
    """Grade the one notebook under ``root/submission``; a clear 0 when there is none or several."""
    folder = root / "submission"
    assignment = HERE / settings["assignment"]
    notebooks = find_notebooks(folder)
    problem = problem_with(notebooks, folder)
    if problem:
        result = zero_grade(read_assignment(assignment), problem, settings["visibility"])
        return result, "Nothing was graded.", False
    notebook = notebooks[0]
    result = grade_submission(notebook, assignment, visibility=settings["visibility"])
    # A notebook that could not be read gets a zero grade with the reason, and no checks ran.
    return result, f"Graded {notebook.relative_to(folder)}.", bool(result.checks)


def main() -> int:
    root = Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    settings = json.loads((HERE / "gradescope.json").read_text())
    os.environ["AUTOGRADER_ASSIGNMENT"] = str(HERE / settings["assignment"])
    become_subreaper()
    import autograder

    print(f"grader: {Path(autograder.__file__).parent}, python {sys.version.split()[0]}")
    result, graded, ok = grade(root, settings)
    write_json_atomically(gradescope_results(result, graded, settings, ok), root / "results" / "results.json")
    print(graded)
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
