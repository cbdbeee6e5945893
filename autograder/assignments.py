"""Where an assignment lives in a course, and which assignment a submission belongs to.

A course is an nbgrader course root. Each assignment is a folder of ``source/`` (the instructor
notebooks; the release in ``release/`` carries the same grading metadata) and may add, in the
importable package ``solutions``, a module of its own, ``solutions/<assignment>``: its
reference versions of the contract functions (for one-mistake-once) and, in its ``checks``
folder, one pytest module per test cell (``test_<grade id>.py``) with rich checks. A test cell
without a module is graded by running its own code. The visible checks package an assignment
ships to students sits beside its notebook in ``source/<assignment>/`` and is importable by
the checks.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

from autograder.assignment import Assignment, AssignmentError, read_assignment
from autograder.contract import contract_of, process_plan

KIT = Path(__file__).resolve().parent.parent
NOTEBOOK_FOLDERS = ("source", "release")


class UsageError(Exception):
    """The grader was asked for something that cannot be (exit status 4); the message says why."""


@dataclass(frozen=True)
class Graded:
    """One notebook of one assignment, with everything the grader uses to grade it."""

    root: Path
    name: str
    notebook: Path
    assignment: Assignment

    @property
    def folder(self) -> Path:
        return self.notebook.parent

    @property
    def import_folders(self) -> list[Path]:
        """Where the checks import from: the course root (``solutions``), the notebook's folder and
        the assignment's source folder (its visible checks package)."""
        source = self.root / "source" / self.name
        folders = [self.solutions.parent, self.folder]
        return folders + ([source] if source.is_dir() and source != self.folder else [])

    @property
    def solutions(self) -> Path:
        """The ``solutions`` folder holding this assignment's module: the course's own, else the
        kit's (where the kit's own assignments live)."""
        return solutions_folder(self.root, self.name)

    @property
    def checks_dir(self) -> Path | None:
        folder = self.solutions / self.name / "checks"
        return folder if folder.is_dir() else None

    def check_module(self, grade_id: str) -> Path | None:
        """The pytest module of ``grade_id``'s checks, or None when its own test code grades it."""
        path = self.checks_dir / f"{grade_id}.py" if self.checks_dir else None
        return path if path is not None and path.is_file() else None

    @cached_property
    def reference(self) -> ModuleType | None:
        """The assignment's module ``solutions.NAME`` (its reference functions), if it has one,
        loaded from this course's ``solutions`` folder (the kit's package ``solutions`` is its parent)."""
        package = self.solutions / self.name / "__init__.py"
        path = package if package.is_file() else self.solutions / f"{self.name}.py"
        if not path.is_file():
            return None
        name = f"solutions.{self.name}"
        loaded = sys.modules.get(name)
        if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path.resolve():
            return loaded
        with importable(*self.import_folders):
            importlib.import_module("solutions")
            search = [str(path.parent)] if path == package else None
            spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=search)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        return module

    @cached_property
    def references(self) -> dict[str, Callable]:
        """The reference functions of the contract (none without a module in ``solutions``)."""
        module = self.reference
        if module is None:
            return {}
        return {
            name: getattr(module, name)
            for name in self.assignment.contract.functions
            if callable(getattr(module, name, None))
        }

    @cached_property
    def calls(self) -> dict[str, tuple[str, ...]]:
        """Which contract functions each function calls, read from the reference's own source when
        there is one (a release has no solutions), else from the notebook's solution cells."""
        if self.reference is not None and self.reference.__file__:
            source = Path(self.reference.__file__).read_text(encoding="utf-8")
            found = contract_of([source]).calls
            names = set(self.assignment.contract.functions)
            calls = {f: tuple(g for g in c if g in names) for f, c in found.items() if f in names}
            return {f: c for f, c in calls.items() if c}
        return dict(self.assignment.contract.calls)

    @cached_property
    def process(self) -> dict[str, str]:
        """The student process each function is checked in (``contract.process_plan``)."""
        order = [f for cell in self.assignment.graded for f in cell.functions]
        order += [f for f in self.assignment.contract.functions if f not in order]
        calls = {f: [g for g in c if g in self.references] for f, c in self.calls.items()}
        return process_plan(order, calls)

    def given_values(self, grade_id: str) -> dict | None:
        """The assignment's own values for a data cell (``given_values`` of its module), if it has them."""
        provider = getattr(self.reference, "given_values", None) if self.reference else None
        return provider(grade_id) if callable(provider) else None


class importable:  # noqa: N801 - used as a context manager, like contextlib's
    """Put the course root (for ``solutions``) and an assignment's folder (for its visible checks
    package) on ``sys.path``; they stay there (the grading process grades one assignment)."""

    def __init__(self, *folders: Path) -> None:
        self.folders = [str(folder) for folder in folders]

    def __enter__(self) -> None:
        for folder in reversed(self.folders):
            if folder not in sys.path:
                sys.path.insert(0, folder)

    def __exit__(self, *exc: object) -> None:
        return None


def solutions_folder(root: Path, name: str) -> Path:
    """``root/solutions`` when the course has assignment ``name``'s module there, else the kit's."""
    own = root / "solutions"
    return own if (own / name).is_dir() or (own / f"{name}.py").is_file() else KIT / "solutions"


def course_root(start: Path | None = None) -> Path:
    """The course: ``$AUTOGRADER_COURSE``, else the nearest folder at or above ``start`` (the
    working directory) that has ``source/``, ``release/`` or ``nbgrader_config.py``, else the
    kit's own checkout."""
    if os.environ.get("AUTOGRADER_COURSE"):
        return Path(os.environ["AUTOGRADER_COURSE"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        markers = [folder / name for name in NOTEBOOK_FOLDERS]
        if any(m.is_dir() for m in markers) or (folder / "nbgrader_config.py").is_file():
            return folder
    return KIT


def assignment_names(root: Path) -> list[str]:
    """The course's assignments: folders of ``source/`` (or ``release/``) that hold a notebook."""
    names = set()
    for kind in NOTEBOOK_FOLDERS:
        folder = root / kind
        if folder.is_dir():
            names.update(p.name for p in folder.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))
    return sorted(names)


def notebooks(root: Path, name: str) -> list[Path]:
    """The instructor notebooks of assignment ``name`` (its source, else its release)."""
    for kind in NOTEBOOK_FOLDERS:
        found = sorted(p for p in (root / kind / name).glob("*.ipynb") if p.is_file())
        if found:
            return found
    return []


def load(root: Path, name: str, notebook_id: str | None = None) -> Graded:
    """Assignment ``name`` of the course at ``root`` (its notebook ``notebook_id``, or its only one)."""
    found = notebooks(root, name)
    if not found:
        known = ", ".join(assignment_names(root)) or "none"
        raise UsageError(f"no assignment {name!r} in the course at {root} (it has: {known})")
    chosen = [p for p in found if p.stem == notebook_id] if notebook_id else found
    if len(chosen) != 1:
        names = ", ".join(p.name for p in found)
        raise UsageError(f"assignment {name} has the notebooks {names}: say which one to grade")
    try:
        return Graded(root, name, chosen[0], read_assignment(chosen[0], name, chosen[0].stem))
    except AssignmentError as error:
        raise UsageError(str(error)) from None


def load_path(notebook: Path) -> Graded:
    """The assignment of an instructor notebook given by its path (``--assignment PATH``)."""
    notebook = notebook.resolve()
    root = course_root(notebook.parent)
    try:
        return Graded(root, notebook.parent.name, notebook, read_assignment(notebook))
    except AssignmentError as error:
        raise UsageError(str(error)) from None


def submission_ids(path: Path) -> set[str]:
    """The grade ids a submitted notebook carries (none when it cannot be read)."""
    try:
        cells = json.loads(path.read_bytes()).get("cells", [])
    except (OSError, ValueError, AttributeError, RecursionError):
        return set()
    ids = set()
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def all_ids(graded: Graded) -> set[str]:
    a = graded.assignment
    return set(a.order) | {c.grade_id for c in a.manual} | set(a.solution_ids) | set(a.instructor_ids)


def identify(submission: Path, root: Path, explicit: str | None = None) -> Graded:
    """The assignment (and notebook) ``submission`` is graded as: ``explicit`` (a name, or the path
    of an instructor notebook), else the folder it sits in (``.../<assignment>/x.ipynb``), else the
    grade ids it carries. A notebook that belongs to another assignment is a ``UsageError``."""
    ids = submission_ids(submission)
    if explicit and explicit.endswith(".ipynb"):
        graded = load_path(Path(explicit))
    elif explicit:
        try:
            graded = load(root, explicit, _notebook_id(root, explicit, submission, ids))
        except UsageError:
            _belongs_elsewhere(submission, root, explicit, ids)
            raise
    else:
        graded = _guess(submission, root, ids)
    _check_match(submission, root, graded, ids)
    return graded


def _notebook_id(root: Path, name: str, submission: Path, ids: set[str]) -> str | None:
    found = notebooks(root, name)
    if len(found) <= 1:
        return None
    if any(p.stem == submission.stem for p in found):
        return submission.stem
    overlap = {p.stem: len(ids & all_ids(load(root, name, p.stem))) for p in found}
    best = max(overlap, key=overlap.get)
    return best if overlap[best] else None


def _guess(submission: Path, root: Path, ids: set[str]) -> Graded:
    names = assignment_names(root)
    folder = submission.resolve().parent.name
    if folder in names:
        return load(root, folder, _notebook_id(root, folder, submission, ids))
    matches = [
        (len(ids & all_ids(load(root, n, p.stem))), n, p.stem) for n in names for p in notebooks(root, n)
    ]
    matches = sorted((m for m in matches if m[0]), reverse=True)
    if not matches and len(names) == 1 and len(notebooks(root, names[0])) == 1:
        return load(root, names[0])  # the course's only notebook: nothing else it could be
    if not matches or (len(matches) > 1 and matches[0][0] == matches[1][0]):
        raise UsageError(
            f"{submission.name}: cannot tell which assignment it belongs to; name it with "
            f"--assignment (the course has: {', '.join(names) or 'none'})"
        )
    return load(root, matches[0][1], matches[0][2])


def mismatch(submission: Path, root: Path, graded: Graded, ids: set[str] | None = None,
             loader: Callable[..., Graded] = load) -> str:
    """Why ``submission`` is not a notebook of ``graded`` (naming the assignment it belongs to when
    the course has it), or "". Its grade ids decide: a notebook that shares more of them with
    another notebook of the course, or fewer than half of them with this one, is not this one's.
    ``loader``: ``load``, or one that keeps what it read (a batch asks once per submission)."""
    ids = submission_ids(submission) if ids is None else ids
    if not ids:
        return ""
    own = len(ids & all_ids(graded))
    for name in assignment_names(root):
        for path in notebooks(root, name):
            if (name, path.stem) != (graded.name, graded.notebook.stem) and len(ids & all_ids(
                    loader(root, name, path.stem))) > own:
                return (f"{submission.name} is a notebook of assignment {name} ({path.name}), not of "
                        f"{graded.name}: grade it with --assignment {name}")
    if 2 * own < len(ids):
        return (f"{submission.name} carries {own} of its {len(ids)} grade ids from assignment {graded.name} "
                f"({graded.notebook.name}): it is not a notebook of that assignment")
    return ""


def _check_match(submission: Path, root: Path, graded: Graded, ids: set[str]) -> None:
    reason = mismatch(submission, root, graded, ids)
    if reason:
        raise UsageError(reason)


def _belongs_elsewhere(submission: Path, root: Path, name: str, ids: set[str]) -> None:
    """Raise, naming both, when ``submission`` is a notebook of an assignment other than ``name``."""
    for other in assignment_names(root):
        for path in notebooks(root, other):
            if other != name and ids & all_ids(load(root, other, path.stem)):
                raise UsageError(
                    f"{submission.name} is a notebook of assignment {other} ({path.name}), not of {name}: "
                    f"grade it with --assignment {other}"
                )
