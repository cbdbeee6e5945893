"""What the Gradescope and Classroom packages share: the assignment chosen, its release checked
against its source, pinned requirements and a reproducible zip."""

from __future__ import annotations

import importlib.metadata
import io
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.assignment import Assignment, AssignmentError, read_assignment
from autograder.assignments import UsageError, assignment_names
from autograder.report import new_file_mode

TEMPLATES = Path(__file__).resolve().parent / "templates"
# What grading imports (numpy, pytest; requests and tqdm through solutions.data; nbformat for
# old notebooks), pinned with everything they need, at the versions of this environment.
GRADER_NEEDS = ("numpy", "pytest", "requests", "tqdm", "nbformat")
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same inputs


class PackageError(Exception):
    """The course cannot be packaged as it is (the message says why and what to do)."""


@dataclass(frozen=True)
class Release:
    """One assignment of a course, checked for packaging: its source notebooks and, in the same
    order, its released notebooks and what the grader reads of them."""

    root: Path
    name: str
    sources: tuple[Path, ...]
    notebooks: tuple[Path, ...]
    assignments: tuple[Assignment, ...]

    @property
    def folder(self) -> Path:
        return self.root / "release" / self.name

    @property
    def stems(self) -> list[str]:
        return [path.stem for path in self.notebooks]

    def beside(self) -> dict[str, bytes]:
        """The files students get beside the notebooks (a visible checks package...), by their
        path below the release folder; not the notebooks, nor caches or hidden files."""
        files = {}
        for path in sorted(self.folder.rglob("*")):
            relative = path.relative_to(self.folder).as_posix()
            if path.is_file() and path not in self.notebooks and kept(relative):
                files[relative] = path.read_bytes()
        return files


def kept(relative: str) -> bool:
    """Whether a file below a packaged folder goes into a package: not caches nor hidden files."""
    parts = relative.split("/")
    return not ("__pycache__" in parts or any(p.startswith(".") for p in parts) or relative.endswith(".pyc"))


def choose_assignment(root: Path, name: str | None) -> str:
    """``name``, or the course's only assignment; ``UsageError`` naming the course's assignments
    when there is no such one, or when ``name`` is None and there are several."""
    names = assignment_names(root)
    known = ", ".join(names) or "none"
    if name is None and len(names) == 1:
        return names[0]
    if name is None:
        raise UsageError(f"the course at {root} has the assignments {known}: say which with --assignment")
    if name not in names:
        raise UsageError(f"no assignment {name!r} in the course at {root} (it has: {known})")
    return name


def checked_release(root: Path, name: str) -> Release:
    """Assignment ``name`` of the course at ``root``, after checking that its release is one, of
    every source notebook, in sync with it (grade ids and points)."""
    regenerate = f"Regenerate it: nbgrader generate_assignment {name} --force (or make release)"
    sources = tuple(sorted(p for p in (root / "source" / name).glob("*.ipynb") if p.is_file()))
    if not sources:
        raise PackageError(f"{root / 'source' / name}: no instructor notebook to package")
    released = {p.name for p in (root / "release" / name).glob("*.ipynb")}
    extra = sorted(released - {p.name for p in sources})
    if extra:
        raise PackageError(f"release/{name}/ has notebooks that source/{name}/ has not: {', '.join(extra)}")
    notebooks, assignments = [], []
    for source in sources:
        release = root / "release" / name / source.name
        if not release.is_file():
            raise PackageError(f"{release}: no such notebook. {regenerate}")
        assignments.append(_checked_notebook(release, source, name, regenerate))
        notebooks.append(release)
    return Release(root, name, sources, tuple(notebooks), tuple(assignments))


def _checked_notebook(release: Path, source: Path, name: str, regenerate: str) -> Assignment:
    text = release.read_text(encoding="utf-8")
    found = [marker for marker in MARKERS if marker in text]
    if found:
        raise PackageError(f"{release} contains {found[0]!r}: that is an instructor notebook, not a release")
    try:
        assignment = read_assignment(release, name, release.stem)
        expected = read_assignment(source, name, source.stem)
    except AssignmentError as error:
        raise PackageError(str(error)) from None
    if not assignment.graded:
        raise PackageError(f"{release} has no autograded test cells (nbgrader metadata missing?)")
    if assignment.grading_key() != expected.grading_key():
        raise PackageError(f"{release} does not carry the grade ids and points of {source}. {regenerate}")
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


def requirements_text(purpose: str) -> str:
    """A requirements file of what grading needs, with ``purpose`` as its first line."""
    python = ".".join(map(str, sys.version_info[:2]))
    header = f"# {purpose}\n# Pinned from the environment that built this (Python {python}).\n"
    return header + "".join(f"{pin}\n" for pin in pinned_requirements(GRADER_NEEDS))


def write_zip(files: dict[str, bytes], out: Path, executable: tuple[str, ...] = ()) -> None:
    """Write ``files`` to the zip ``out`` (sorted, fixed dates, ``executable`` ones executable),
    atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            archive.writestr(info, files[name])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=out.parent, suffix=".tmp", delete=False) as handle:
        handle.write(buffer.getvalue())
    os.chmod(handle.name, new_file_mode())  # as any new file, not the temporary file's 0600
    os.replace(handle.name, out)
