"""What a batch's forkserver imports once for every grading process of one assignment.

Imported by the forkserver (``autograder.course.processes.GRADER_PRELOAD``) with ``$AUTOGRADER_WARM`` naming
``COURSE_ROOT::ASSIGNMENT``: the assignment's reference module and its other modules (not its
checks, which pytest collects per grading), and the packages beside its notebook (a visible
checks package), so that a grading process forked from the server imports none of them again.
Without the variable it does nothing.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from pathlib import Path


def warm(root: Path, name: str) -> list[str]:
    """Import what grading ``name`` imports; the names of the modules imported."""
    from autograder.assignments import importable, load, notebooks

    imported = []
    for path in notebooks(root, name):
        graded = load(root, name, path.stem)
        module = graded.reference
        with importable(*graded.import_folders):
            if module is not None and hasattr(module, "__path__"):
                for info in pkgutil.walk_packages(module.__path__, f"{module.__name__}."):
                    if ".checks" not in info.name:
                        importlib.import_module(info.name)
                        imported.append(info.name)
            for folder in graded.import_folders[1:]:
                for package in sorted(p.parent.name for p in Path(folder).glob("*/__init__.py")):
                    importlib.import_module(package)
                    imported.append(package)
    return imported


if os.environ.get("AUTOGRADER_WARM"):
    _root, _, _name = os.environ["AUTOGRADER_WARM"].partition("::")
    try:
        warm(Path(_root), _name)
    except Exception:  # noqa: BLE001, S110 - warming is an optimisation: a grading imports what it needs
        pass
