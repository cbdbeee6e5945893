"""An nbgrader course as nbgrader's own configuration sees it: folders, one assignment's notebook,
the configured late-submission plugin.

Everything goes through nbgrader itself: its configuration loader (``nbgrader_config.py`` of the
course root and Jupyter's config paths, as every ``nbgrader`` command reads them), its
``CourseDirectory`` for paths and the plugin configured for ``AssignLatePenalties``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CourseError(Exception):
    """The course is not set up for grading (no source notebook, gradebook out of date...)."""


@dataclass
class Course:
    """An nbgrader course folder and one of its assignments, as nbgrader's configuration sees them."""

    root: Path
    assignment_id: str
    notebook_id: str
    source_notebook: Path
    coursedir: Any  # nbgrader.coursedir.CourseDirectory
    config: Any  # traitlets.config.Config
    late_plugin: Any  # an nbgrader LateSubmissionPlugin (or the configured subclass)

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    def submitted_folder(self) -> Path:
        """``submitted/`` (or whatever ``CourseDirectory.submitted_directory`` names)."""
        return self.root / self.coursedir.submitted_directory

    def student_folder(self, student: str) -> Path:
        """``submitted/<student>/<assignment>/``."""
        return Path(self.coursedir.format_path(
            self.coursedir.submitted_directory, student, self.assignment_id))

    def student_path(self, student: str) -> tuple[Path, tuple[str, ...]]:
        """``student_folder`` as the course's own folder (``submitted/``) and the names below it,
        which the student controls (``(student, assignment)``): those are opened without
        following a link (``autograder.studentfiles``)."""
        folder = self.student_folder(student)
        for base in (self.submitted_folder(), self.root):
            relative = Path(os.path.relpath(folder, base))
            if relative.parts and relative.parts[0] != "..":
                return base, relative.parts
        return Path(folder.anchor), folder.parts[1:]

    def feedback_folder(self, student: str) -> Path:
        """``feedback/<student>/<assignment>/``, where nbgrader's release_feedback looks."""
        return Path(self.coursedir.format_path(
            self.coursedir.feedback_directory, student, self.assignment_id))

    def gradebook(self):  # noqa: ANN201 - nbgrader.api.Gradebook, imported lazily
        from nbgrader.api import Gradebook

        return Gradebook(self.db_url, self.coursedir.course_id)


def open_course(root: Path, assignment_id: str) -> Course:
    """Load nbgrader's configuration for the course at ``root`` and find the assignment's notebook."""
    from nbgrader.apps.baseapp import NbGrader
    from nbgrader.preprocessors import AssignLatePenalties
    from sqlalchemy.exc import SAWarning

    # Gradebook.add_submission builds its objects in a way SQLAlchemy 2 warns about (harmless;
    # nbgrader autograde prints the same warnings).
    warnings.filterwarnings("ignore", message="Object of type .* not in session", category=SAWarning)
    app = NbGrader(log_level=logging.WARNING)
    # Jupyter applications also load the nbgrader_config.py of the working directory, whose
    # CourseDirectory.root (this kit's sets it to its own folder) would win: read from ``root``.
    with contextlib.chdir(root):
        app.initialize([], root=str(root))
    coursedir = app.coursedir
    coursedir.assignment_id = assignment_id
    source = Path(coursedir.format_path(coursedir.source_directory, ".", assignment_id))
    notebooks = sorted(source.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise CourseError(
            f"{source}: expected the assignment's one source notebook, found {len(notebooks)}; "
            "run from the course root (the folder with nbgrader_config.py)"
        )
    penalties = AssignLatePenalties(config=app.config)
    penalties.init_plugin()
    return Course(
        root=Path(coursedir.root), assignment_id=assignment_id, notebook_id=notebooks[0].stem,
        source_notebook=notebooks[0], coursedir=coursedir, config=app.config,
        late_plugin=penalties.plugin_inst,
    )

