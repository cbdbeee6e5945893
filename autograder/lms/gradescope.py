"""``package gradescope``: the zip an instructor uploads as a Gradescope assignment's autograder.

The zip is a course root of one assignment, as the grader finds assignments
(``autograder.assignments``), with Gradescope's scripts at its top (Gradescope unpacks it into
``/autograder/source``)::

    setup.sh  run_autograder  grade_gradescope.py  gradescope.json  requirements.txt
    autograder/                   the grader (without this packaging, authoring and the course floor)
    solutions/                    the kit's shared modules (MNIST loader, plots), and only this
                                  assignment's own module: solutions/NAME/ or solutions/NAME.py
    source/NAME/NB.ipynb          the grading copy of each notebook: the instructor notebook with
                                  its solutions cleared by nbgrader's ClearSolutions, hidden tests kept
    source/NAME/...               the files students get beside the notebooks (a visible checks package)
    release/NAME/                 the release as students got it

No other assignment's files, no solution of a notebook, no MNIST bytes: ``setup.sh`` fetches and
verifies MNIST when Gradescope builds the image. ``gradescope.json`` records the assignment, its
notebooks and the choices made here (visibility, total shown, limits). See docs/gradescope.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder.assignments import KIT, solutions_folder
from autograder.lms.common import (
    TEMPLATES,
    PackageError,
    Release,
    checked_release,
    kept,
    requirements_text,
    write_zip,
)
from solutions.__main__ import SHARED

NOT_GRADING = ("lms/", "authoring/", "course/")  # folders of autograder/ left out of the zip
SCRIPTS = ("setup.sh", "run_autograder", "grade_gradescope.py")
EXECUTABLE = ("setup.sh", "run_autograder")
# Gradescope's default container: 768 MB for everything and half a vCPU. Honest work peaks
# near 100 MB a process and takes a few seconds there; a submission's time limit stays well
# inside Gradescope's default 10-minute timeout.
GRADESCOPE_LIMITS = {"call_seconds": 30, "submission_seconds": 300, "memory_mib": 256}
VISIBILITIES = ("after_due_date", "after_published", "hidden", "visible")


def folder_files(folder: Path, prefix: str, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """The files below ``folder`` by their path in the zip (``prefix/...``): no caches, no hidden
    files, nothing below the relative paths ``skip``."""
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and kept(relative) and not relative.startswith(skip):
            files[f"{prefix}/{relative}"] = path.read_bytes()
    return files


def grader_files() -> dict[str, bytes]:
    """The grader, without the floors that never grade: this packaging, the authoring of
    assignments (whose templates hold solution markers) and the course floor (batch, gradebook)."""
    return folder_files(KIT / "autograder", "autograder", skip=NOT_GRADING)


def solutions_files(root: Path, name: str) -> dict[str, bytes]:
    """The kit's shared ``solutions`` modules (``_*.py`` and those ``solutions.__main__`` calls
    shared), and assignment ``name``'s own module from where the grader finds it: no other
    assignment's reference, checks or mistakes."""
    files = {}
    for path in sorted((KIT / "solutions").iterdir()):
        module = path.stem if path.suffix == ".py" else path.name if (path / "__init__.py").is_file() else ""
        shared = module in SHARED or (module.startswith("_") and path.is_file())
        if shared and module != name:
            files.update(folder_files(path, f"solutions/{path.name}") if path.is_dir()
                         else {f"solutions/{path.name}": path.read_bytes()})
    own = solutions_folder(root, name)
    if (own / name).is_dir():
        files.update(folder_files(own / name, f"solutions/{name}"))
    elif (own / f"{name}.py").is_file():
        files[f"solutions/{name}.py"] = (own / f"{name}.py").read_bytes()
    return files


def course_config(root: Path) -> Config:
    """The course's nbgrader configuration (its solution delimiters, code stubs...), if it has one."""
    path = root / "nbgrader_config.py"
    return PyFileConfigLoader(path.name, str(path.parent)).load_config() if path.is_file() else Config()


def grading_copy(source: Path, config: Config) -> bytes:
    """``source`` with its solutions cleared by nbgrader's ``ClearSolutions`` (as in the release),
    its mark schemes and outputs too, and its hidden tests kept: what the grader runs a plain test
    cell from. ``PackageError`` when a solution delimiter is left."""
    import nbformat
    from nbgrader.preprocessors import ClearMarkScheme, ClearOutput, ClearSolutions

    notebook = nbformat.read(source, as_version=4)
    clear = ClearSolutions(config=config)
    resources: dict = {}
    try:
        for step in (clear, ClearMarkScheme(config=config), ClearOutput(config=config)):
            notebook, resources = step.preprocess(notebook, resources)
    except (RuntimeError, ValueError) as error:
        raise PackageError(f"{source}: nbgrader cannot clear its solutions ({error})") from None
    text = nbformat.writes(notebook) + "\n"
    left = [d for d in (clear.begin_solution_delimeter, clear.end_solution_delimeter) if d in text]
    if left:
        raise PackageError(f"{source}: {left[0]!r} is left once its solutions are cleared (outside a "
                           "solution cell?)")
    return text.encode()


def course_files(release: Release) -> dict[str, bytes]:
    """The assignment's folders in the zip: its release as is, and in ``source/`` the grading copy
    of each notebook beside the files students get."""
    name, config = release.name, course_config(release.root)
    beside = release.beside()
    files = {f"release/{name}/{relative}": data for relative, data in beside.items()}
    files.update({f"source/{name}/{relative}": data for relative, data in beside.items()})
    for source, notebook in zip(release.sources, release.notebooks, strict=True):
        files[f"release/{name}/{notebook.name}"] = notebook.read_bytes()
        files[f"source/{name}/{source.name}"] = grading_copy(source, config)
    return files


def gradescope_files(release: Release, visibility: str, show_score: bool,
                     limits: dict | None = None) -> dict[str, bytes]:
    """Every file of the Gradescope zip of ``release``'s assignment, by its path in the zip."""
    settings = {"assignment": release.name, "notebooks": release.stems, "visibility": visibility,
                "show_score": show_score, "limits": limits or GRADESCOPE_LIMITS}
    files = {name: (TEMPLATES / "gradescope" / name).read_bytes() for name in SCRIPTS}
    files["gradescope.json"] = (json.dumps(settings, indent=2) + "\n").encode()
    files["requirements.txt"] = requirements_text(
        "What the grader needs on Gradescope; setup.sh installs it.").encode()
    files.update(grader_files())
    files.update(solutions_files(release.root, release.name))
    files.update(course_files(release))
    return files


def build_gradescope(root: Path, name: str, out: Path, visibility: str = "after_due_date",
                     show_score: bool = True, limits: dict | None = None) -> int:
    """Build the Gradescope zip of assignment ``name`` of the course at ``root`` at ``out``; return
    the number of files in it."""
    files = gradescope_files(checked_release(root, name), visibility, show_score, limits)
    write_zip(files, out, EXECUTABLE)
    return len(files)
