"""A catalogue of submissions for the grader's tests, and how to build each one.

An ``Entry`` starts from the instructor's source notebook of its ``assignment`` (every answer
correct; ``SOURCES``, mnist_mlp's by default), is graded as that assignment, and
replaces some answer cells (``replace``: function name -> the source of its
``<function>_solution`` cell), appends code cells the student added (``append``), or
is a file of raw bytes (``raw``). Its expectation is one of:

- ``loses``: the grade ids that must score 0; every other grade id must score in full
  (an empty set means full marks);
- ``no_better_than``: for tampering, the name of the same submission without the
  tampering: the tampered one must not score more.

Sources may hold placeholders filled in when the file is built: ``@RESULTS@`` (the
absolute path the grader writes its results to), ``@MARKER@`` (a string unique to the
run, for finding processes and files the submission leaves behind), ``@REPOSITORY@``
(this checkout) and ``@SHARED@`` (the shared folder beside it); ``@VICTIM@`` (a file of the
grader's user outside every folder the sandbox allows), ``@BYSTANDER@`` (the pid of a process
of the grader's user) and ``@LEAKED@`` (the results of the run of the entry named by ``after``,
base64-encoded), which runs that provide none fill with a path that does not exist, 0 and ''.

``kind`` groups entries: correct, mistake, hostile, tampering, broken.
"""

from __future__ import annotations

import base64
import copy
import json
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = REPOSITORY / "release" / "mnist_mlp" / "mnist_mlp.ipynb"
GRADE_IDS = (
    "test_one_hot_encoding",
    "test_relu",
    "test_relu2deriv",
    "test_dropout_mask",
    "test_train_step",
    "test_evaluate",
    "test_train",
)
# Each assignment's base notebook (every answer correct) and grade ids; SOURCE and GRADE_IDS are mnist_mlp's.
SOURCES = {"mnist_mlp": SOURCE,
           "mnist_minibatch": REPOSITORY / "source" / "mnist_minibatch" / "mnist_minibatch.ipynb"}
ASSIGNMENT_GRADE_IDS = {
    "mnist_mlp": GRADE_IDS,
    "mnist_minibatch": ("test_init_params", "test_affine_forward", "test_affine_backward",
                        "test_softmax_cross_entropy", "test_loss_and_gradients", "test_minibatch_indices",
                        "test_sgd_step", "test_train"),
}
# Limits for the hostile entries, far from the honest work's own time (the longest honest call,
# train's accuracy run with the grader's versions of the functions it calls, each call answered
# from the grading process, takes about 2 s on an idle core): a loop hits them whatever the
# machine's load, and honest code never does, even on a machine many times busier than idle.
HOSTILE_CALL_SECONDS = 20
HOSTILE_LIMITS = ("--call-timeout", str(HOSTILE_CALL_SECONDS), "--timeout", "60")


@dataclass(frozen=True)
class Entry:
    """One submission of the corpus and what the grader must make of it."""

    name: str
    kind: str
    replace: Mapping[str, str] = field(default_factory=dict)
    append: tuple[str, ...] = ()
    raw: Callable[[], bytes] | None = None
    loses: frozenset[str] | None = None
    no_better_than: str | None = None
    messages: tuple[str, ...] = ()  # text the results must contain (outputs and notes)
    options: tuple[str, ...] = ()  # extra command-line options (limits)
    # Only a safety net for a grader that hangs (the run is stopped after many times this): never
    # asserted. Limits are tested by the limit firing and the results saying so, not by a stopwatch.
    max_seconds: float = 30.0
    known_hole: str = ""  # a known weakness of the grader this entry shows (see docs/grading.md)
    after: str | None = None  # a "next submission": graded after that entry, from its results (@LEAKED@)
    assignment: str = "mnist_mlp"  # whose base notebook it starts from, and what it is graded as

    def __post_init__(self) -> None:
        assert (self.loses is None) != (self.no_better_than is None), self.name
        assert self.loses is None or self.loses <= set(ASSIGNMENT_GRADE_IDS[self.assignment]), self.name

    @property
    def full(self) -> bool:
        return self.loses == frozenset()


def code(source: str) -> str:
    """Dedent a cell's source written as an indented triple-quoted string."""
    return textwrap.dedent(source).strip("\n") + "\n"


def loses(*functions: str) -> frozenset[str]:
    """The grade ids of the test cells of ``functions``."""
    return frozenset(f"test_{name}" for name in functions)


FULL = frozenset()


def points_of(assignment: str = "mnist_mlp") -> dict[str, float]:
    """The points of each graded cell of ``assignment``, in notebook order, as its notebook's
    metadata gives them (the tests never write points down: an instructor may change them)."""
    from autograder.assignment import read_assignment

    return {cell.grade_id: cell.points for cell in read_assignment(SOURCES[assignment]).graded}


def expected_score(entry: Entry) -> float:
    """What an entry with declared losses scores: every point but those of the grade ids it loses."""
    points = points_of(entry.assignment)
    return sum(points.values()) - sum(points[grade] for grade in entry.loses or ())


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def notebook_for(entry: Entry, base: dict) -> dict:
    """``base`` (a notebook as JSON) with the entry's cells replaced and added."""
    notebook = copy.deepcopy(base)
    wanted = {f"{name}_solution": source for name, source in entry.replace.items()}
    for cell in notebook["cells"]:
        if grade_id(cell) in wanted:
            cell["source"] = wanted.pop(grade_id(cell))
    assert not wanted, f"{entry.name}: no such answer cells {sorted(wanted)}"
    for source in entry.append:
        notebook["cells"].append(
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
        )
    return notebook


def fill(text: str, placeholders: Mapping[str, str]) -> str:
    for key, value in placeholders.items():
        text = text.replace(f"@{key}@", value)
    return text


ABSENT = {"VICTIM": "/nonexistent-autograder-victim/victim", "BYSTANDER": "0", "LEAKED": ""}


def leaked(results: dict) -> str:
    """``@LEAKED@`` for an entry graded after another: that run's results, base64-encoded."""
    return base64.b64encode(json.dumps(results).encode()).decode()


def build(entry: Entry, path: Path, placeholders: Mapping[str, str] = {}) -> Path:
    """Write the entry's submission to ``path``."""
    if entry.raw is not None:
        path.write_bytes(entry.raw())
        return path
    values = {"REPOSITORY": str(REPOSITORY), "SHARED": str(REPOSITORY.parent / "shared"), **ABSENT,
              **placeholders}
    notebook = notebook_for(entry, read_json(SOURCES[entry.assignment]))
    text = fill(json.dumps(notebook, indent=1), {k: json.dumps(v)[1:-1] for k, v in values.items()})
    path.write_text(text, encoding="utf-8")
    return path


def all_entries() -> list[Entry]:
    from corpus import broken, correct, hostile, minibatch, mistakes, round3, round4, students

    entries = [*correct.ENTRIES, *mistakes.ENTRIES, *students.ENTRIES, *hostile.ENTRIES, *round3.ENTRIES,
               *round4.ENTRIES, *broken.ENTRIES, *minibatch.ENTRIES]
    names = [entry.name for entry in entries]
    assert len(names) == len(set(names)), "entry names must be unique"
    for entry in entries:
        assert entry.no_better_than is None or entry.no_better_than in names, entry.name
        assert entry.after is None or entry.after in names[: names.index(entry.name)], entry.name
    return entries


ENTRIES: list[Entry] = []  # filled below, once the submodules (which import this one) exist
BY_NAME: dict[str, Entry] = {}


def _load() -> None:
    ENTRIES[:] = all_entries()
    BY_NAME.update({entry.name: entry for entry in ENTRIES})


_load()


def kind_of_answer(entry: Entry) -> tuple:
    """What an honest entry answers and how it should score: entries alike in this are graded alike."""
    return entry.assignment, entry.kind, frozenset(entry.replace), bool(entry.append), entry.loses


def named_in_tests() -> set[str]:
    """The entries the kit's tests name (a quoted name in a test file outside the corpus)."""
    tests = Path(__file__).resolve().parent.parent
    files = [path for path in tests.rglob("*.py") if "corpus" not in path.parts]
    text = "".join(path.read_text(encoding="utf-8") for path in files)
    return {name for name in BY_NAME if f'"{name}"' in text}


def sample(exhaustive: bool = False) -> list[Entry]:
    """The entries a default test run grades: every hostile, tampering and broken one; of the
    correct answers and honest mistakes, the first of each kind of answer (``kind_of_answer``:
    every function and every outcome), the entries the tests name, and those other entries are
    measured against or graded after. ``exhaustive``: every entry."""
    if exhaustive:
        return list(ENTRIES)
    chosen = {entry.name for entry in ENTRIES if entry.kind not in ("correct", "mistake")} | named_in_tests()
    firsts: dict[tuple, str] = {}
    for entry in ENTRIES:
        if entry.kind in ("correct", "mistake"):
            firsts.setdefault(kind_of_answer(entry), entry.name)
    chosen |= set(firsts.values())
    while True:  # what the chosen ones need, and what that needs
        needed = {n for name in chosen for n in (BY_NAME[name].no_better_than, BY_NAME[name].after) if n}
        if needed <= chosen:
            break
        chosen |= needed
    return [entry for entry in ENTRIES if entry.name in chosen]
