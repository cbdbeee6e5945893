"""The Gradescope zip, unpacked into a scratch root laid out like Gradescope's, and how to run it;
and a course of plain nbgrader assignments, released, to package.

Shared by ``test_package.py``, ``test_gradescope.py`` and ``test_classroom.py`` (their fixtures
call these). ``setup.sh`` runs without its installs (the project's environment, or another, is
first on ``PATH``) and with MNIST already in the root's ``mnist/`` folder, as no network is
needed then.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
from plain_course import make_course

from autograder.authoring.scaffold import scaffold
from autograder.lms import main

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = REPOSITORY / "release" / "mnist_mlp" / "mnist_mlp.ipynb"


def notebook_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def reference_notebook() -> str:
    """The source notebook: the reference solutions in the student's cells."""
    return notebook_text(SOURCE)


def mistaken_notebook() -> str:
    """The reference with the tutorial's ``>=`` in ``relu2deriv``: one task wrong."""
    text = notebook_text(SOURCE)
    wrong = text.replace("(output > 0).astype(np.float64)", "(output >= 0).astype(np.float64)")
    assert wrong != text, "the reference relu2deriv changed: update mistaken_notebook()"
    return wrong


def broken_notebook() -> str:
    """A truncated download: not valid JSON."""
    return notebook_text(SOURCE)[:5000]


def with_answer(function: str, source: str) -> str:
    """The reference notebook with the answer cell of ``function`` replaced by ``source``."""
    notebook = json.loads(reference_notebook())
    cells = [c for c in notebook["cells"]
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == f"{function}_solution"]
    assert len(cells) == 1, f"no answer cell for {function}"
    cells[0]["source"] = source
    return json.dumps(notebook)


SUBMISSIONS = {"reference": reference_notebook, "mistaken": mistaken_notebook, "broken": broken_notebook}


def single_file_score(notebook: Path, tmp_path: Path) -> float:
    results = tmp_path / "single.json"
    subprocess.run(
        [sys.executable, "-m", "autograder", str(notebook), "--assignment", "mnist_mlp",
         "--results", str(results), "-q"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300, check=False,
    )
    return json.loads(results.read_text())["score"]


def build_zip(folder: Path, assignment: str = "mnist_mlp", course: Path = REPOSITORY) -> Path:
    """The Gradescope zip of ``assignment`` of ``course`` (this kit's by default), in ``folder``."""
    path = folder / f"{assignment}.zip"
    assert main(["gradescope", "--assignment", assignment, "--course", str(course), "--out", str(path)]) == 0
    return path


def release(course: Path, name: str) -> Path:
    """``release/NAME/`` of ``course`` as nbgrader makes it: each source notebook with its solutions,
    hidden tests and outputs cleared (nbgrader's preprocessors, without its database and app)."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearOutput, ClearSolutions

    folder = course / "release" / name
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((course / "source" / name).glob("*.ipynb")):
        notebook, resources = nbformat.read(source, as_version=4), {}
        for step in (ClearSolutions(), ClearHiddenTests(), ClearMarkScheme(), ClearOutput()):
            notebook, resources = step.preprocess(notebook, resources)
        nbformat.write(notebook, folder / source.name)
    return folder


def plain_course(root: Path) -> Path:
    """A released course of plain nbgrader assignments (test cells of asserts, hidden tests): ``quiz``
    (notebooks ``part_a`` and ``part_b``) and ``drill`` of ``tests/plain_course.py``, and ``scaling``
    as ``python -m autograder new`` writes it (with its reference in the course's ``solutions/``)."""
    make_course(root)
    scaffold(root, "scaling")
    for name in ("quiz", "drill", "scaling"):
        release(root, name)
    return root


def gradescope_env(python: Path = Path(sys.executable)) -> dict[str, str]:
    """``python``'s environment (the project's by default) first on PATH; nothing of the checkout
    importable otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MNIST_DATA_DIR")}
    env["PATH"] = os.pathsep.join([str(python.parent), env.get("PATH", "")])
    return env


def unpack(zip_path: Path, root: Path) -> Path:
    """``root`` laid out as Gradescope's before ``setup.sh``, with MNIST pre-seeded in ``mnist/``."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):  # zipfile does not restore file modes
        (root / "source" / name).chmod(0o755)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    shutil.copytree(os.environ["MNIST_DATA_DIR"], root / "mnist", ignore=shutil.ignore_patterns("README*"))
    return root


def run_setup(root: Path, gradescope_env: dict[str, str]) -> subprocess.CompletedProcess:
    """``setup.sh`` of ``root`` with its installs skipped: the python3 of ``gradescope_env``'s PATH."""
    env = dict(gradescope_env, AUTOGRADER_ROOT=str(root), AUTOGRADER_SKIP_INSTALL="1")
    return subprocess.run([str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def gradescope_root(zip_path: Path, gradescope_env: dict[str, str], root: Path) -> Path:
    """``root`` laid out as Gradescope's, after ``setup.sh`` (installs skipped, MNIST pre-seeded).

    Without the check that other users can read the interpreter and NumPy: the project's
    environment may be in a folder of root's (pyenv), and here the grader, root with every
    capability, gives student code a minimal root that holds them whatever their modes.
    """
    setup = run_setup(unpack(zip_path, root), dict(gradescope_env, AUTOGRADER_SKIP_READABLE_CHECK="1"))
    assert setup.returncode == 0, setup.stderr
    assert "MNIST verified" in setup.stdout
    return root


def submit(root: Path, files: dict[str, str]) -> None:
    """Empty ``submission/`` and ``results/``, then put ``files`` in ``submission/``."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text, encoding="utf-8")


def run_gradescope(root: Path, env: dict[str, str], files: dict[str, str], launcher: tuple[str, ...] = (),
                   **popen: object) -> tuple[dict, str]:
    """Put ``files`` in ``submission/``, run ``run_autograder`` (through ``launcher``, e.g. ``capsh``);
    its results.json and stdout."""
    submit(root, files)
    command = [*launcher, str(root / "run_autograder")]
    process = subprocess.run(command, env=dict(env, AUTOGRADER_ROOT=str(root)),
                             capture_output=True, text=True, timeout=900, check=False, **popen)
    assert process.returncode == 0, process.stdout + process.stderr
    return json.loads((root / "results" / "results.json").read_text()), process.stdout


def is_grader_error(results: dict) -> bool:
    """Results that say the grader failed: no score, no task, the reason for the staff."""
    return ("score" not in results and results["tests"] == [] and results["extra_data"]["grader_error"]
            and "this is not your score" in results["output"])


def plain(markdown: str) -> str:
    """The text a Markdown ``output`` of grade_gradescope.py shows (its escapes undone)."""
    text = re.sub(r"\\(.)", r"\1", markdown.replace("  \n", "\n"))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
