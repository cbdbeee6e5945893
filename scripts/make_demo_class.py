#!/usr/bin/env python3
"""Build a small class of submissions for the mnist_mlp assignment in an nbgrader course folder.

    python scripts/make_demo_class.py COURSE                 # the demo class (6 students)
    python scripts/make_demo_class.py COURSE --variants reference blank relu2deriv_ge
    python scripts/make_demo_class.py COURSE --variants all --copies 2
    python scripts/make_demo_class.py --list

Each student gets ``COURSE/submitted/<student>/mnist_mlp/mnist_mlp.ipynb`` and a
``timestamp.txt``, as ``nbgrader collect`` leaves them. A COURSE without
``nbgrader_config.py`` first becomes a copy of this checkout's course (``source/`` and
``nbgrader_config.py``). Grade the class from COURSE with
``python -m autograder batch mnist_mlp``.

Variants (the student id is the variant's name, with ``-<k>`` appended when copied):
reference solutions, the untouched release, typical mistakes, a tampering attempt, code
that loops or exits, and files that are not notebooks. Needs only the standard library.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "mnist_mlp"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
ON_TIME = "2025-01-15 12:00:00.000000 UTC"
LATE = "2025-01-22 18:30:00.000000 UTC"
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)

# ----------------------------------------------------------------------------- mistaken answers

RELU2DERIV_GE = '''def relu2deriv(output):
    """Slope of ReLU, from its output, as the tutorial writes it."""
    return (output >= 0).astype(float)
'''

TRAIN_STEP_NOT_IN_PLACE = '''def train_step(layer_0, label, weights_1, weights_2,
               learning_rate, dropout_mask):
    """One image: forward, loss, backward; but the updates make new arrays."""
    layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2
    layer_2 = layer_1 @ weights_2
    error = label - layer_2
    delta_1 = (weights_2 @ error) * relu2deriv(layer_1) * dropout_mask
    weights_1 = weights_1 + learning_rate * np.outer(layer_0, delta_1)
    weights_2 = weights_2 + learning_rate * np.outer(layer_1, error)
    return float(np.sum(error ** 2)), bool(np.argmax(layer_2) == np.argmax(label))
'''

EVALUATE_WITH_DROPOUT_SCALE = '''def evaluate(images, labels, weights_1, weights_2):
    """The whole set at once, copying the forward pass of train_step (with its factor 2)."""
    outputs = (relu(images @ weights_1) * 2) @ weights_2
    loss = float(np.sum((labels - outputs) ** 2))
    return loss, int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))
'''

DROPOUT_GLOBAL_RNG = '''def dropout_mask(shape, rng):
    """Half ones, but drawn from NumPy's global generator instead of rng."""
    return np.random.randint(0, 2, size=shape)
'''

DROPOUT_LOOPS = '''def dropout_mask(shape, rng):
    """Never returns."""
    while True:
        pass
'''

TAMPERING_CELL = '''# Make every comparison succeed, leave a file behind, and hand in a wrong relu.
import builtins
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
builtins.print = lambda *args, **kwargs: None
for target in ("../../gradebook.db", "/tmp/owned-by-student"):
    try:
        with open(target, "a") as handle:
            handle.write("owned")
    except OSError:
        pass

def relu(x):
    return x
'''

EXIT_CELL = '''# Leave the kernel at the end of the notebook.
import os
os._exit(0)
'''


# ----------------------------------------------------------------------------- building notebooks


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def typed_in(source: dict, release: dict, answers: dict[str, str] | None = None) -> dict:
    """The release with every answer cell holding the source's solution (markers removed),
    or the text in ``answers`` for the grade ids it names."""
    solutions = {
        grade_id(cell): MARKERS.sub("", source_of(cell)) for cell in source["cells"]
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    solutions.update(answers or {})
    notebook = copy.deepcopy(release)
    for cell in notebook["cells"]:
        if grade_id(cell) in solutions:
            cell["source"] = solutions[grade_id(cell)]
    return notebook


def with_cell(notebook: dict, text: str) -> dict:
    """``notebook`` with a code cell the student added at the end."""
    notebook = copy.deepcopy(notebook)
    notebook["cells"].append(
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": text}
    )
    return notebook


Variant = Callable[[dict, dict], dict | bytes]

VARIANTS: dict[str, tuple[str, Variant]] = {
    "reference": ("the instructor's notebook, solutions and all", lambda s, r: s),
    "typed": ("the release with the reference solutions typed in", lambda s, r: typed_in(s, r)),
    "blank": ("the release, untouched", lambda s, r: r),
    "relu2deriv_ge": ("relu2deriv as the tutorial writes it, output >= 0",
                      lambda s, r: typed_in(s, r, {"relu2deriv_solution": RELU2DERIV_GE})),
    "not_in_place": ("train_step rebinds the weights instead of updating them in place",
                     lambda s, r: typed_in(s, r, {"train_step_solution": TRAIN_STEP_NOT_IN_PLACE})),
    "evaluate_doubled": ("evaluate keeps the dropout factor 2",
                         lambda s, r: typed_in(s, r, {"evaluate_solution": EVALUATE_WITH_DROPOUT_SCALE})),
    "dropout_global_rng": ("dropout_mask ignores its generator",
                           lambda s, r: typed_in(s, r, {"dropout_mask_solution": DROPOUT_GLOBAL_RNG})),
    "tampering": ("patches NumPy and print, writes files, and a wrong relu",
                  lambda s, r: with_cell(typed_in(s, r), TAMPERING_CELL)),
    "loops": ("dropout_mask never returns",
              lambda s, r: typed_in(s, r, {"dropout_mask_solution": DROPOUT_LOOPS})),
    "exits": ("a cell that ends the kernel with os._exit(0)",
              lambda s, r: with_cell(typed_in(s, r), EXIT_CELL)),
    "late": ("correct, but handed in after the due date", lambda s, r: typed_in(s, r)),
    "renamed": ("correct, saved under another name", lambda s, r: typed_in(s, r)),
    "broken": ("a notebook file cut off in the middle (not valid JSON)",
               lambda s, r: json.dumps(typed_in(s, r), indent=1).encode()[:5000]),
    "empty": ("an empty file", lambda s, r: b""),
}
DEMO = ["reference", "blank", "relu2deriv_ge", "not_in_place", "dropout_global_rng", "broken"]


def ensure_course(course: Path) -> None:
    """Make ``course`` an nbgrader course for the assignment, copied from this checkout if needed."""
    course.mkdir(parents=True, exist_ok=True)
    if not (course / "nbgrader_config.py").exists():
        shutil.copy2(CHECKOUT / "nbgrader_config.py", course / "nbgrader_config.py")
    if not (course / "source" / ASSIGNMENT / NOTEBOOK).exists():
        shutil.copytree(CHECKOUT / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "data", "__pycache__"),
                        dirs_exist_ok=True)


def release_notebook(course: Path) -> Path:
    for root in (course, CHECKOUT):
        path = root / "release" / ASSIGNMENT / NOTEBOOK
        if path.exists():
            return path
    raise FileNotFoundError("no release notebook: run 'nbgrader generate_assignment mnist_mlp' first")


def write_submission(course: Path, student: str, variant: str, source: dict, release: dict) -> Path:
    """Write one student's submission of ``variant``; returns the notebook's path."""
    folder = course / "submitted" / student / ASSIGNMENT
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    content = VARIANTS[variant][1](source, release)
    path = folder / ("mnist_mlp (1).ipynb" if variant == "renamed" else NOTEBOOK)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content, indent=1).encode())
    (folder / "timestamp.txt").write_text(LATE if variant == "late" else ON_TIME)
    return path


def build_class(course: Path, variants: list[str], copies: int = 1) -> dict[str, str]:
    """Write the class into ``course``; returns student id -> variant."""
    ensure_course(course)
    source = read(course / "source" / ASSIGNMENT / NOTEBOOK)
    release = read(release_notebook(course))
    students = {}
    for variant in variants:
        for k in range(1, copies + 1):
            student = variant if copies == 1 else f"{variant}-{k}"
            write_submission(course, student, variant, source, release)
            students[student] = variant
    return students


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("course", type=Path, nargs="?", help="the nbgrader course folder")
    parser.add_argument("--variants", nargs="+", default=DEMO, metavar="NAME",
                        help=f"which submissions ('all' for every one; default: {' '.join(DEMO)})")
    parser.add_argument("--copies", type=int, default=1, help="students per variant (default 1)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (description, _) in VARIANTS.items():
            print(f"{name:20} {description}")
        return 0
    variants = list(VARIANTS) if args.variants == ["all"] else args.variants
    unknown = [name for name in variants if name not in VARIANTS]
    if args.course is None or unknown or args.copies < 1:
        parser.error(f"unknown variants: {', '.join(unknown)}" if unknown else "give a course folder")
    students = build_class(args.course, variants, args.copies)
    print(f"{len(students)} submissions in {args.course / 'submitted'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
