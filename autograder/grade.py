"""Grade one submitted notebook: submission -> sandbox -> checks -> report.

The grading process reads the submission (``submission``), starts its student processes
(``sandbox``) with the student's cells and the given cells, runs the assignment's checks against
them under pytest (``runner``) and turns the outcomes into a grade (``report``). It never runs
student code itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from autograder import text
from autograder.assignments import Graded, importable
from autograder.context import data_values, name_places
from autograder.report import GradeResult, grade, zero_grade
from autograder.runner import Given, run_checks
from autograder.sandbox import Layers, Limits, Sandbox, detect
from autograder.submission import SubmissionError, place_labels, student_cells, submission_digest
from autograder.testcells import run_statements


def given_data(graded: Graded) -> tuple[Given, dict[str, dict[str, Any]]]:
    """What each data cell hands to the student's process (see ``context``): the assignment's own
    values where its module provides them, else the cell run here (which may read files), with
    the given cells above it run here first. Nothing runs when no data cell needs running."""
    given = Given()
    data: dict[str, dict[str, Any]] = {}
    cells = graded.assignment.context
    with importable(*graded.import_folders):
        provided = {c.grade_id: graded.given_values(c.grade_id) for c in cells if c.kind == "data"}
        needed = [i for i, c in enumerate(cells) if c.kind == "data" and provided[c.grade_id] is None]
        for cell in cells[: max(needed, default=-1) + 1]:
            given.ran.add(cell.grade_id)
            if provided.get(cell.grade_id) is not None:
                given.namespace.update(provided[cell.grade_id])
                continue
            run_statements(cell.source, given.namespace, f"<given cell {cell.grade_id}>")
            if cell.kind == "data":
                data[cell.grade_id] = data_values(cell, given.namespace)
    data.update({grade_id: dict(values) for grade_id, values in provided.items() if values is not None})
    return given, data


def process_order(graded: Graded) -> list[str]:
    """The student processes the checks will use, in the order they will use them."""
    return list(
        dict.fromkeys(
            graded.process.get(f, "") for cell in graded.assignment.graded for f in cell.functions or ("",)
        )
    )


DEFAULT_LIMITS = Limits()


def grade_submission(
    path: Path,
    graded: Graded,
    limits: Limits = DEFAULT_LIMITS,
    visibility: str = "visible",
    junitxml: Path | None = None,
    layers: Layers | None = None,
) -> GradeResult:
    """Grade one notebook; never raises for a bad submission (it gets 0 and a reason).

    Raises ``GraderError`` when the student process cannot be set up on this host, and
    ``runner.AssignmentFault`` when the assignment's checks are broken.
    """
    started = time.monotonic()
    assignment = graded.assignment
    layers = layers if layers is not None else detect()
    given, data = given_data(graded)
    try:
        cells = student_cells(path, assignment, data)
    except SubmissionError as error:
        result = zero_grade(assignment, str(error), visibility)
    else:
        with Sandbox(cells, limits, layers, prestart=process_order(graded)) as sandbox:
            sandbox.start()  # the student processes load NumPy while pytest is imported here
            salt = submission_digest(path)
            outcomes = run_checks(graded, sandbox, str(junitxml) if junitxml else None, given, salt)
            output = sandbox.output
            layers = sandbox.layers  # less any layer that turned out not to work here
        result = grade(assignment, outcomes, visibility)
        result.artifacts = sandbox.artifacts
        places = place_labels(cells)
        for index, error in sorted(sandbox.cell_errors.items()):
            result.student_notes.append(name_places(f"cell {index} failed to run: {error}", places))
        if output:
            result.student_notes.append(f"the submission printed {len(output)} characters (not shown)")
    result.isolation = layers.report()
    result.notes.append(layers.summary())
    result.execution_time = time.monotonic() - started
    result.assignment = text.one_line(graded.name)
    return result
