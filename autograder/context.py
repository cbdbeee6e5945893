"""The given cells the student's cells run with in the sandbox, and the names of places.

A given cell whose metadata says ``"autograder": {"context": "run"}`` (imports, the
normalisation, the labels, the hyperparameters) runs in the student's process, in notebook
order, with its source taken from the assignment notebook, never from the submission. It
runs statement by statement, quietly: a statement that cannot run there (``import
matplotlib``, a call of an unfinished task) is skipped, as its names would be missing in
the student's notebook too; what it prints is dropped, and one that prints over a MiB (a
student's function caught in a print loop) is stopped and skipped. The cell marked
``"mnist"`` loads the data: in the sandbox (no files, no network) the grader defines its
arrays instead, the first 1,000 images and labels of each set (``x_train`` (1000, 784)
uint8, ``y_train`` (1000,) uint8, and the same for ``x_test``, ``y_test``). The expensive
given cells (the 20-epoch run, the plots) are not marked and do not run.
"""

from __future__ import annotations

import ast
import base64
import re
import zlib
from functools import cache

import numpy as np

from autograder.assignment import ContextCell

CONTEXT_IMAGES = 1000
MNIST_NAMES = {"x_train": "training_images", "y_train": "training_labels",
               "x_test": "test_images", "y_test": "test_labels"}
# What a given cell prints is dropped; a statement that prints over a MiB (a student's function
# caught in a print loop) is stopped there, not left to fill memory or the output limit.
RUNNER = '''def __given_cell(statements, filename):
    import contextlib

    class Quiet:
        written = 0

        def write(self, text):
            self.written += len(text)
            if self.written > 2**20:
                raise OverflowError("a given cell printed over 1 MiB")
            return len(text)

        def flush(self):
            pass

    for statement in statements:
        try:
            with contextlib.redirect_stdout(Quiet()):
                exec(compile(statement, filename, "exec"), globals())
        except Exception:
            pass
'''


def context_source(cell: ContextCell) -> str:
    """The source the sandbox runs for a given cell (see the module's docstring)."""
    if cell.kind == "mnist":
        return mnist_source()
    try:
        tree = ast.parse(cell.source)
    except SyntaxError:
        return "pass\n"
    statements = [ast.get_source_segment(cell.source, node) or "" for node in tree.body]
    return (RUNNER + f"__given_cell({statements!r}, {f'<given cell {cell.grade_id}>'!r})\n"
            "del __given_cell\n")


@cache
def mnist_source() -> str:
    """Source defining the first MNIST images and labels as the data cell would (or nothing)."""
    try:
        from solutions.data import load_mnist

        raw = load_mnist(train_count=CONTEXT_IMAGES, test_count=CONTEXT_IMAGES)
    except Exception:  # noqa: BLE001 - no data: the names stay undefined, as in a notebook without it
        return "pass\n"
    lines = ["import base64 as __b64, zlib as __zlib"]
    for name, key in MNIST_NAMES.items():
        array = np.ascontiguousarray(raw[key], dtype=np.uint8)
        packed = base64.b64encode(zlib.compress(array.tobytes(), 1)).decode()
        lines.append(f"{name} = np.frombuffer(__zlib.decompress(__b64.b64decode({packed!r})), "
                     f"dtype=np.uint8).reshape({array.shape!r}).copy()")
    lines.append("del __b64, __zlib")
    return "\n".join(lines) + "\n"


PLACE = re.compile(r"\bcell (\d+)\b")


def name_places(text: str, labels: dict[int, str]) -> str:
    """Replace "cell 25" (an index counting every cell) by the place as the student sees it."""
    return PLACE.sub(lambda m: labels.get(int(m.group(1)), m.group(0)), text)
