#!/usr/bin/env python3
"""Build a class of submissions for any assignment of the kit in an nbgrader course folder.

    python scripts/make_demo_class.py COURSE                          # every assignment's demo class
    python scripts/make_demo_class.py COURSE --assignment NAME --variants all --copies 2
    python scripts/make_demo_class.py --list [--assignment NAME]

Each student gets ``COURSE/submitted/<student>/<assignment>/<notebook>.ipynb`` and a
``timestamp.txt``, as ``nbgrader collect`` leaves them. A COURSE without ``nbgrader_config.py``
first becomes a copy of this checkout's course (``source/`` and ``nbgrader_config.py``). Grade a
class from COURSE with ``python -m autograder batch NAME``.

The variants come from the assignment itself: its solved source, the release with those answers
typed in, the blank release, and one student per mistake it declares in
``solutions/NAME/mistakes.py`` (named after the mistake). The rest are the same for every
assignment: a notebook that tampers with NumPy and the file system, a function that never
returns, a cell that ends the kernel, a late and a renamed submission, a file cut off in the
middle and an empty one. The student id is the variant's name, with ``-<k>`` appended when copied.
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
sys.path.insert(0, str(CHECKOUT))

from autograder.assignments import Graded, assignment_names, load  # noqa: E402
from autograder.authoring.validate import mistakes_of  # noqa: E402
from autograder.contract import contract_of  # noqa: E402

ON_TIME = "2025-01-15 12:00:00.000000 UTC"
LATE = "2025-01-22 18:30:00.000000 UTC"
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)

TAMPERING_CELL = '''# Make every comparison succeed, leave a file behind, and hand in a wrong {function}.
import builtins
import numpy as np
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

def {function}(*args, **kwargs):
    return args[0] if args else None
'''

LOOPING = '''def {function}(*args, **kwargs):
    """Never returns."""
    while True:
        pass
'''

EXIT_CELL = '''# Leave the kernel at the end of the notebook.
import os
os._exit(0)
'''


# ----------------------------------------------------------------------------- building notebooks


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def source_of(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def typed_in(source: dict, release: dict, replace: dict[str, str] | None = None) -> dict:
    """The release with every answer cell holding the source's solution (markers removed); an
    answer cell defining a function named in ``replace`` holds that text instead."""
    solutions = {
        nbgrader_meta(cell).get("grade_id"): MARKERS.sub("", source_of(cell))
        for cell in source["cells"] if nbgrader_meta(cell).get("solution")
    }
    left = dict(replace or {})
    notebook = copy.deepcopy(release)
    for cell in notebook["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id not in solutions:
            continue
        cell["source"] = solutions[grade_id]
        hit = [f for f in contract_of([cell["source"]]).functions if f in left]
        if hit:
            cell["source"] = left.pop(hit[0])
    if left:
        raise ValueError(f"no answer cell defines {', '.join(left)}")
    return notebook


def with_cell(notebook: dict, text: str) -> dict:
    """``notebook`` with a code cell the student added at the end."""
    notebook = copy.deepcopy(notebook)
    notebook["cells"].append(
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": text}
    )
    return notebook


Variant = Callable[[dict, dict], dict | bytes]


def variants_of(graded: Graded) -> dict[str, tuple[str, Variant]]:
    """Every variant of assignment ``graded``: name -> (description, source, release -> content)."""
    functions = graded.assignment.contract.functions
    first, last = functions[0], functions[-1]  # the last: called by no given cell the grader runs
    found: dict[str, tuple[str, Variant]] = {
        "reference": ("the instructor's notebook, solutions and all", lambda s, r: s),
        "typed": ("the release with the reference solutions typed in", lambda s, r: typed_in(s, r)),
        "blank": ("the release, untouched", lambda s, r: r),
    }
    for name, mistake in mistakes_of(graded).items():
        replace = dict(mistake.get("replace", {}))
        found[name] = (f"a known mistake, losing {', '.join(mistake.get('loses', []))}",
                       lambda s, r, replace=replace: typed_in(s, r, replace))
    found |= {
        "tampering": (f"patches NumPy and print, writes files, and a wrong {first}",
                      lambda s, r: with_cell(typed_in(s, r), TAMPERING_CELL.format(function=first))),
        "loops": (f"{last} never returns",
                  lambda s, r: typed_in(s, r, {last: LOOPING.format(function=last)})),
        "exits": ("a cell that ends the kernel with os._exit(0)",
                  lambda s, r: with_cell(typed_in(s, r), EXIT_CELL)),
        "late": ("correct, but handed in after the due date", lambda s, r: typed_in(s, r)),
        "renamed": ("correct, saved under another name", lambda s, r: typed_in(s, r)),
        "broken": ("a notebook file cut off in the middle (not valid JSON)",
                   lambda s, r: json.dumps(typed_in(s, r), indent=1).encode()[:5000]),
        "empty": ("an empty file", lambda s, r: b""),
    }
    return found


def demo_variants(graded: Graded) -> list[str]:
    """The demo class: solved, blank, the first two declared mistakes, one that loops, a broken file."""
    mistakes = list(mistakes_of(graded))[:2]
    return ["reference", "blank", *mistakes, "loops", "broken"]


# ----------------------------------------------------------------------------- the course folder


def ensure_course(course: Path, name: str) -> Graded:
    """Make ``course`` an nbgrader course holding assignment ``name``, copied from this checkout
    where it lacks it; the assignment as the course has it."""
    course.mkdir(parents=True, exist_ok=True)
    if not (course / "nbgrader_config.py").exists():
        shutil.copy2(CHECKOUT / "nbgrader_config.py", course / "nbgrader_config.py")
    if not (course / "source" / name).is_dir():
        shutil.copytree(CHECKOUT / "source" / name, course / "source" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "data", "__pycache__"))
    return load(course, name)


def release_notebook(course: Path, graded: Graded) -> Path:
    for root in (course, CHECKOUT):
        path = root / "release" / graded.name / graded.notebook.name
        if path.exists():
            return path
    raise FileNotFoundError(
        f"no release of {graded.name}: run 'nbgrader generate_assignment {graded.name}' first")


def build_class(course: Path, variants: list[str] | None = None, copies: int = 1,
                assignment: str = "mnist_mlp") -> dict[str, str]:
    """Write the class of ``assignment`` into ``course`` (its demo class when ``variants`` is
    None); returns student id -> variant."""
    graded = ensure_course(course, assignment)
    known = variants_of(graded)
    chosen = demo_variants(graded) if variants is None else variants
    unknown = [v for v in chosen if v not in known]
    if unknown:
        raise ValueError(f"{assignment} has no variants {', '.join(unknown)} (it has: {', '.join(known)})")
    source, release = read(graded.notebook), read(release_notebook(course, graded))
    students = {}
    for variant in chosen:
        content = known[variant][1](source, release)
        for k in range(1, copies + 1):
            student = variant if copies == 1 else f"{variant}-{k}"
            folder = course / "submitted" / student / assignment
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            renamed = f"{graded.notebook.stem} (1).ipynb"
            notebook = folder / (renamed if variant == "renamed" else graded.notebook.name)
            data = content if isinstance(content, bytes) else json.dumps(content, indent=1).encode()
            notebook.write_bytes(data)
            (folder / "timestamp.txt").write_text(LATE if variant == "late" else ON_TIME)
            students[student] = variant
    return students


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("course", type=Path, nargs="?", help="the nbgrader course folder")
    parser.add_argument("--assignment", action="append", metavar="NAME",
                        help="the assignment (repeat for more; default: every assignment of the kit)")
    parser.add_argument("--variants", nargs="+", metavar="NAME",
                        help="which submissions ('all' for every one; default: the demo class)")
    parser.add_argument("--copies", type=int, default=1, help="students per variant (default 1)")
    parser.add_argument("--list", action="store_true", help="list the variants and exit")
    args = parser.parse_args(argv)
    names = args.assignment or assignment_names(CHECKOUT)
    if args.list:
        for name in names:
            graded = load(CHECKOUT, name)
            print(f"{name} (demo: {' '.join(demo_variants(graded))}):")
            for variant, (description, _) in variants_of(graded).items():
                print(f"  {variant:36} {description}")
        return 0
    if args.course is None or args.copies < 1:
        parser.error("give a course folder" if args.course is None else "--copies must be at least 1")
    for name in names:
        chosen = None
        if args.variants == ["all"]:
            chosen = list(variants_of(load(CHECKOUT, name)))
        elif args.variants:
            chosen = args.variants
        try:
            students = build_class(args.course, chosen, args.copies, name)
        except (ValueError, FileNotFoundError) as error:
            parser.error(str(error))
        print(f"{name}: {len(students)} submissions in {args.course / 'submitted'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
