"""``python -m autograder new NAME``: an assignment that grades as it stands, to be made one's own."""

from __future__ import annotations

import keyword
from pathlib import Path

import nbformat

from autograder.assignments import UsageError

INTRO = """# {name}

Replace this text with the assignment's introduction. Each task below has an answer cell (the
solution between nbgrader's solution markers) and a test cell worth its points: its first lines are
the checks students see, the lines between nbgrader's hidden-tests markers are graded but never
released.

Run the test cell under each task after writing the task. **Run All** stops at the first test cell
that fails: fix that task (or skip past it) and run the cells below it again.
"""
TASK = """### Task 1: scale a vector (10 points)

Write `scale(values, factor)`: a new array holding each value of `values` (a 1-D NumPy array)
multiplied by `factor`. Leave `values` unchanged."""
SOLUTION = '''def scale(values, factor):
    """Each value times factor, as a new array of the same shape."""
    ### BEGIN SOLUTION
    return np.asarray(values) * factor
    ### END SOLUTION
'''
TEST = """values = np.array([1.0, -2.0, 0.5])
assert np.allclose(scale(values, 2.0), [2.0, -4.0, 1.0]), "scale([1, -2, 0.5], 2) should be [2, -4, 1]"
assert np.array_equal(values, [1.0, -2.0, 0.5]), "scale must leave its argument unchanged"

### BEGIN HIDDEN TESTS
hidden = np.linspace(-3.0, 3.0, 7)
assert np.allclose(scale(hidden, -0.5), -0.5 * hidden), "scale must work for any factor"
assert scale(np.zeros(0), 3.0).shape == (0,), "scale must work on an empty array"
### END HIDDEN TESTS
"""
REFERENCE = '''"""The reference of assignment {name}: its version of each function students write.

The grader uses these (one mistake costs points once: a function that calls another is
checked with this version of the other in its place) and ``python -m solutions {name}``
runs ``main``. Keep the names and parameters of the notebook's answer cells.
"""

from __future__ import annotations

import numpy as np


def scale(values: np.ndarray, factor: float) -> np.ndarray:
    """Each value of ``values`` (shape ``(n,)``) times ``factor``: a new array of shape ``(n,)``."""
    return np.asarray(values) * factor


def main(argv: list[str]) -> int:
    """What ``python -m solutions {name}`` does: show the reference at work."""
    print("scale([1, -2, 0.5], 2) =", scale(np.array([1.0, -2.0, 0.5]), 2.0))
    return 0
'''
DOCS = """# {name}

What this assignment asks of students and what its checks decide (replace this text).

Source: `source/{name}/{name}.ipynb` (tasks, solutions, visible and hidden tests, points);
reference: `solutions/{name}/`. Prove it before each release with
`python -m autograder validate {name}`; release it with `make release`.
"""


def nbgrader_cell(
    kind: str,
    source: str,
    grade_id: str,
    *,
    solution: bool = False,
    grade: bool = False,
    points: float = 0,
    locked: bool = True,
) -> nbformat.NotebookNode:
    make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return make(source, metadata={"nbgrader": meta})


def notebook(name: str) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook()
    book.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    book.cells = [
        nbformat.v4.new_markdown_cell(INTRO.format(name=name)),
        nbgrader_cell("code", "import numpy as np", "imports"),
        nbformat.v4.new_markdown_cell(TASK),
        nbgrader_cell("code", SOLUTION, "scale_solution", solution=True, locked=False),
        nbgrader_cell("code", TEST, "test_scale", grade=True, points=10),
    ]
    return book


def scaffold(root: Path, name: str) -> list[Path]:
    """Write the new assignment's files under the course ``root``; refuse to overwrite any."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.islower():
        raise UsageError(f"{name!r} is not a usable assignment id: use lower-case letters, digits and _")
    source = root / "source" / name / f"{name}.ipynb"
    reference = root / "solutions" / name / "__init__.py"
    for path in (source.parent, reference.parent):
        if path.exists():
            raise UsageError(f"{path} exists already: choose another name, or remove it first")
    source.parent.mkdir(parents=True)
    nbformat.write(notebook(name), source)
    reference.parent.mkdir(parents=True)
    reference.write_text(REFERENCE.format(name=name), encoding="utf-8")
    docs = root / "docs" / "assignments" / f"{name}.md"  # beside the other assignments' pages
    docs.parent.mkdir(parents=True, exist_ok=True)
    if not docs.exists():
        docs.write_text(DOCS.format(name=name).lstrip(), encoding="utf-8")
    return [source, reference, docs]
