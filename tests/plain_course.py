"""Courses of plain nbgrader assignments (metadata and assert cells only, no checks package), built
in a test's temporary folder the way an instructor writes them.

``quiz`` has two notebooks. ``part_a`` asks for functions that return lists, dicts and strings,
one that must raise an exception its test expects, a value, and a function that must use
another (its hidden test rebinds the other's name, another deletes it); a manually graded
answer sits beside the autograded cells. ``part_b`` is one small task. ``drill`` is a second
assignment of one notebook.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from autograder.authoring.scaffold import nbgrader_cell

KIT = Path(__file__).resolve().parent.parent

SETUP = "import numpy as np\nfrom collections import Counter\n\nLIMIT = 3\n"
WORDS = '''def words(text):
    """The words of text, in order (a list of str)."""
    ### BEGIN SOLUTION
    return text.split()
    ### END SOLUTION
'''
TEST_WORDS = '''assert words("a b") == ["a", "b"], "words('a b') should be ['a', 'b']"
### BEGIN HIDDEN TESTS
assert words("") == [], "words('') should be an empty list"
assert words("  x   y ") == ["x", "y"]
### END HIDDEN TESTS
'''
COUNTS = '''def counts(text):
    """How often each word of text occurs (a dict of str to int); uses words."""
    ### BEGIN SOLUTION
    return dict(Counter(words(text)))
    ### END SOLUTION
'''
TEST_COUNTS = '''assert counts("a a b") == {"a": 2, "b": 1}
### BEGIN HIDDEN TESTS
_saved_words = words
words = lambda text: ["x", "x"]
try:
    assert counts("anything") == {"x": 2}, "counts must call words"
finally:
    words = _saved_words
### END HIDDEN TESTS
'''
CHECKED = '''def checked(n):
    """n itself when it is at least 0 and at most LIMIT; else raise ValueError."""
    ### BEGIN SOLUTION
    if not 0 <= n <= LIMIT:
        raise ValueError(f"{n} is out of range")
    return n
    ### END SOLUTION
'''
TEST_CHECKED = '''assert checked(2) == 2
try:
    checked(-1)
except ValueError as error:
    assert "out of range" in str(error)
else:
    raise AssertionError("checked(-1) should raise ValueError")
'''
GREETING = '''### BEGIN SOLUTION
GREETING = "hello"
### END SOLUTION
'''
TEST_GREETING = '''assert GREETING.upper() == "HELLO"
'''
TEST_USES_WORDS = '''_kept = words
del words
try:
    counts("a")
except NameError:
    pass
else:
    raise AssertionError("counts should fail when words is gone")
finally:
    words = _kept
assert counts("a") == {"a": 1}
'''
SQUARE = '''def square(values):
    """Each value squared: a NumPy array of the values' shape."""
    ### BEGIN SOLUTION
    return np.asarray(values) ** 2
    ### END SOLUTION
'''
TEST_SQUARE = '''assert np.array_equal(square([1, -2]), [1, 4])
### BEGIN HIDDEN TESTS
assert square(np.zeros((2, 3))).shape == (2, 3)
### END HIDDEN TESTS
'''


def book(cells: list) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                         "language_info": {"name": "python"}}
    notebook.cells = cells
    return notebook


def part_a() -> nbformat.NotebookNode:
    return book([
        nbformat.v4.new_markdown_cell("# Part A\n\nRun each test cell after its task."),
        nbgrader_cell("code", SETUP, "setup"),
        nbgrader_cell("code", WORDS, "words_solution", solution=True, locked=False),
        nbgrader_cell("code", TEST_WORDS, "test_words", grade=True, points=3),
        nbgrader_cell("code", COUNTS, "counts_solution", solution=True, locked=False),
        nbgrader_cell("code", TEST_COUNTS, "test_counts", grade=True, points=3),
        nbgrader_cell("code", CHECKED, "checked_solution", solution=True, locked=False),
        nbgrader_cell("code", TEST_CHECKED, "test_checked", grade=True, points=2),
        nbgrader_cell("code", GREETING, "greeting_solution", solution=True, locked=False),
        nbgrader_cell("code", TEST_GREETING, "test_greeting", grade=True, points=1),
        nbgrader_cell("code", TEST_USES_WORDS, "test_uses_words", grade=True, points=1),
        nbgrader_cell("markdown", "Explain in one sentence why `counts` calls `words`.\n\nYOUR ANSWER HERE",
                      "explain", solution=True, grade=True, points=2, locked=False),
    ])


def part_b() -> nbformat.NotebookNode:
    return book([
        nbgrader_cell("code", "import numpy as np\n", "imports_b"),
        nbgrader_cell("code", SQUARE, "square_solution", solution=True, locked=False),
        nbgrader_cell("code", TEST_SQUARE, "test_square", grade=True, points=2),
    ])


def drill() -> nbformat.NotebookNode:
    return book([
        nbgrader_cell("code", "import numpy as np\n", "imports_drill"),
        nbgrader_cell("code", SQUARE.replace("square", "cube").replace("** 2", "** 3"), "cube_solution",
                      solution=True, locked=False),
        nbgrader_cell("code", "assert np.array_equal(cube([2]), [8])\n", "test_cube", grade=True, points=4),
    ])


def make_course(root: Path) -> Path:
    """A course with the assignments ``quiz`` (notebooks part_a and part_b) and ``drill``."""
    assignments = (("quiz", {"part_a": part_a(), "part_b": part_b()}), ("drill", {"drill": drill()}))
    for name, notebooks in assignments:
        folder = root / "source" / name
        folder.mkdir(parents=True)
        for stem, notebook in notebooks.items():
            nbformat.write(notebook, folder / f"{stem}.ipynb")
    shutil.copy2(KIT / "nbgrader_config.py", root / "nbgrader_config.py")
    return root


def with_answers(path: Path, out: Path, answers: dict[str, str]) -> Path:
    """The notebook at ``path`` with the source of the cells whose grade id is a key of ``answers``."""
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(notebook))
    return out
