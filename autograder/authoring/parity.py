"""What ``nbgrader autograde`` gives the very files the kit graded, in a scratch copy of the course.

The scratch course holds the assignment's source folder, the course's ``solutions`` package
(the notebooks' hidden tests import its checks) and ``nbgrader_config.py``; Jupyter's folders
are private to it, with a kernel of this interpreter. Each file is submitted as its own student.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.assignments import Graded

IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "data", "*-ubyte.gz")


def scratch_course(graded: Graded, folder: Path) -> Path:
    course = folder / "course"
    shutil.copytree(graded.root / "source" / graded.name, course / "source" / graded.name, ignore=IGNORED)
    own = graded.solutions / graded.name
    (course / "solutions").mkdir()
    if own.is_dir():
        shutil.copytree(own, course / "solutions" / graded.name, ignore=IGNORED)
    elif own.with_suffix(".py").is_file():
        shutil.copy2(own.with_suffix(".py"), course / "solutions" / f"{graded.name}.py")
    config = graded.root / "nbgrader_config.py"
    if config.is_file():
        shutil.copy2(config, course / "nbgrader_config.py")
    return course


QUICK = "COURSE_KIT_QUICK"  # set for the kit's own runs of a notebook: a long training cell may run briefly


def environment(folder: Path) -> dict[str, str]:
    """Jupyter's folders inside ``folder``; ``COURSE_KIT_QUICK=1``, which an assignment's long
    training cell may read to train briefly (nbgrader runs every cell of every notebook)."""
    env = dict(os.environ)
    env.update(
        {QUICK: "1"},
        JUPYTER_CONFIG_DIR=str(folder / "jupyter" / "config"),
        JUPYTER_DATA_DIR=str(folder / "jupyter" / "data"),
        IPYTHONDIR=str(folder / "jupyter" / "ipython"),
        MPLBACKEND="Agg",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    env.pop("JUPYTER_PATH", None)
    return env


def run(command: list[str], course: Path, env: dict[str, str]) -> None:
    process = subprocess.run(command, cwd=course, env=env, capture_output=True, text=True, timeout=1800)
    if process.returncode != 0:
        tail = (process.stderr or process.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(command[2:4])} exited with {process.returncode}: {' / '.join(tail)}")


def nbgrader_totals(graded: Graded, files: dict[str, Path]) -> dict[str, float]:
    """nbgrader's total for each file (by label), autograded as the notebook of one student each."""
    return {label: sum(scores.values()) for label, scores in nbgrader_scores(graded, files).items()}


def nbgrader_scores(graded: Graded, files: dict[str, Path]) -> dict[str, dict[str, float]]:
    """nbgrader's score of each autograded cell (by grade id) for each file (by label), autograded
    as the notebook of one student each; a file nbgrader could not grade has no entry."""
    from nbgrader.api import Gradebook, MissingEntry

    folder = Path(tempfile.mkdtemp(prefix=f"validate-nbgrader-{graded.name}-"))
    try:
        course = scratch_course(graded, folder)
        env = environment(folder)
        run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"], course, env)
        run([sys.executable, "-m", "nbgrader", "generate_assignment", graded.name, "--force"], course, env)
        students = {label: f"s{index}" for index, label in enumerate(files)}
        for label, path in files.items():
            target = course / "submitted" / students[label] / graded.name / graded.notebook.name
            target.parent.mkdir(parents=True)
            shutil.copy(path, target)
        run([sys.executable, "-m", "nbgrader", "autograde", graded.name, "--force"], course, env)
        autograded = {cell.grade_id for cell in graded.assignment.graded}
        scores = {}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            for label, student in students.items():
                try:
                    notebook = gradebook.find_submission_notebook(graded.notebook.stem, graded.name, student)
                except MissingEntry:
                    continue
                scores[label] = {g.name: float(g.score or 0) for g in notebook.grades if g.name in autograded}
        return scores
    finally:
        shutil.rmtree(folder, ignore_errors=True)
