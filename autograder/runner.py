"""Run an assignment's checks with pytest against one sandboxed submission; collect the outcomes.

The notebook is the test file: a pytest plugin collects, in notebook order, for each autograded
test cell either the assignment's pytest module of checks for it (``test_<grade id>.py`` in
``solutions/<assignment>/checks``) or, without one, the cell's own code (``testcells``). Checks
get two fixtures: ``student`` (``student.GradedStudent``) and ``rng`` (a generator seeded by the
check's name: the same inputs on every run).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autograder.assignments import Graded, importable
from autograder.context import name_places
from autograder.contract import names_defined
from autograder.namespace import NotebookNamespace
from autograder.sandbox import GraderError, MissingFunction, Sandbox, SandboxError, StudentError
from autograder.student import GradedStudent
from autograder.submission import place_labels
from autograder.testcells import TestCellFailure, run_statements, run_test_cell

EXPECTED_FAILURES = (AssertionError, StudentError, MissingFunction, SandboxError)
# pytest plugins the checks do not use. ``unraisableexception`` alone costs a grading a tenth
# of a second or more: it runs gc.collect() over the whole process at the end of the session.
UNUSED_PLUGINS = (
    "terminal",
    "cacheprovider",
    "unraisableexception",
    "threadexception",
    "doctest",
    "pastebin",
    "stepwise",
    "setuponly",
    "setupplan",
    "subtests",
    "unittest",
    "legacypath",
    "logging",
    "debugging",
    "python_path",
)
GRADE_ID = pytest.StashKey[str]()


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result: its grade id, name, whether it passed, and the message if not."""

    grade_id: str
    name: str
    passed: bool
    message: str
    seconds: float


def check_rng(grade_id: str, check_name: str, salt: str = "") -> np.random.Generator:
    """The generator a check gets, seeded by its names and ``salt`` (the submission's SHA-256 when
    the grader grades a file): the same file sees the same inputs on every run, and inputs or
    expected values that a submission leaks in its messages are of no use to any other file."""
    digest = hashlib.sha256(f"{salt}:{grade_id}::{check_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


class TestCellItem(pytest.Item):
    """A test cell graded by its own code (no checks module for its grade id)."""

    def __init__(self, *, cell: Any, plugin: GradingPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell, self.plugin = cell, plugin

    def runtest(self) -> None:
        run_test_cell(
            self.cell.source, self.plugin.notebook_namespace(self.cell.grade_id), self.cell.grade_id
        )

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name


class NotebookChecks(pytest.File):
    """The checks of one notebook, test cell by test cell, in notebook order."""

    plugin: GradingPlugin

    def collect(self) -> Any:
        for cell in self.plugin.graded.assignment.graded:
            module = self.plugin.graded.check_module(cell.grade_id)
            if module is not None:
                collector = pytest.Module.from_parent(self, path=module)
                collector.stash[GRADE_ID] = cell.grade_id
                yield collector
            else:
                item = TestCellItem.from_parent(self, name=cell.grade_id, cell=cell, plugin=self.plugin)
                item.stash[GRADE_ID] = cell.grade_id
                yield item


class GradingPlugin:
    """A pytest plugin giving the checks their ``student`` and ``rng``, recording outcomes."""

    def __init__(self, graded: Graded, sandbox: Sandbox, given: Given | None = None, salt: str = "") -> None:
        self.graded, self.sandbox, self.salt = graded, sandbox, salt
        self.outcomes: list[CheckOutcome] = []
        self.places = place_labels(sandbox.cells)
        self.grader_error: GraderError | None = None  # the host's fault: no grade at all
        self.broken_modules: list[str] = []  # check modules that could not be collected
        self.student_view = GradedStudent(
            sandbox, graded.references, graded.calls, graded.process, self.function_passed
        )
        self._namespace: NotebookNamespace | None = None
        self._given = given or Given()

    def function_passed(self, function: str) -> bool | None:
        grade_id = self.graded.assignment.grade_id_of(function)
        mine = [o for o in self.outcomes if o.grade_id == grade_id]
        return bool(mine) and all(o.passed for o in mine) if grade_id else None

    def unwritten(self, name: str) -> bool:
        """Whether the answer cell that defines ``name`` failed to run with NotImplementedError."""
        cell = self.graded.assignment.answer_cell_of(name)
        indices = [c.index for c in self.sandbox.cells if cell and c.grade_id == cell]
        return any("NotImplementedError" in self.sandbox.cell_errors.get(i, "") for i in indices)

    def notebook_namespace(self, grade_id: str) -> NotebookNamespace:
        """The namespace test cells run in, with the given cells above ``grade_id`` run in it."""
        assignment = self.graded.assignment
        if self._namespace is None:
            given = {n for c in assignment.context if c.kind == "run" for n in names_defined(c.source)}
            names = assignment.contract.names
            self._namespace = NotebookNamespace(self.sandbox, names, given, self.unwritten)
            dict.update(self._namespace, self._given.namespace)
        limit = assignment.order.index(grade_id) if grade_id in assignment.order else len(assignment.order)
        self._namespace.propagate = False
        for cell in assignment.context:
            if cell.grade_id not in self._given.ran and assignment.order.index(cell.grade_id) < limit:
                self._given.ran.add(cell.grade_id)
                run_statements(cell.source, self._namespace, f"<given cell {cell.grade_id}>")
        self._namespace.mark_synced()
        self._namespace.propagate = True
        return self._namespace

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.broken_modules.append(f"{Path(str(report.fspath)).name}: {str(report.longrepr)[-600:]}")

    def pytest_configure(self, config: pytest.Config) -> None:
        # The messages come from the exceptions (``pytest_runtest_makereport`` below). pytest's
        # long report of a failure parses the source of every frame, and only --junitxml reads
        # it: a plain traceback instead saves the blank release 0.5 s.
        config.option.tbstyle = "native"

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path == self.graded.notebook:
            collector = NotebookChecks.from_parent(parent, path=file_path)
            collector.plugin = self
            return collector
        return None

    @pytest.fixture
    def student(self) -> GradedStudent:
        return self.student_view

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> np.random.Generator:
        return check_rng(grade_id_of(request.node), request.node.name, self.salt)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
        report = (yield).get_result()
        if report.when == "call" or (report.when == "setup" and report.failed):
            message = ""
            if call.excinfo is not None and isinstance(call.excinfo.value, GraderError):
                self.grader_error = self.grader_error or call.excinfo.value
            if call.excinfo is not None:
                error = call.excinfo.value
                message = (
                    str(error)
                    if isinstance(error, (*EXPECTED_FAILURES, TestCellFailure))
                    else (f"the check could not use what came back ({type(error).__name__}: {error})")
                )
            message = name_places(message, self.places)
            self.outcomes.append(
                CheckOutcome(grade_id_of(item), item.name, report.passed, message, call.duration)
            )


def grade_id_of(item: pytest.Item) -> str:
    """The grade id an item checks: its own, or its module collector's."""
    node: Any = item
    while node is not None:
        if GRADE_ID in node.stash:
            return node.stash[GRADE_ID]
        node = node.parent
    return Path(str(item.path)).stem


@dataclass
class Given:
    """The grading process's own run of the given cells so far: the names they defined, and which
    cells have run (``grade.given_data`` runs those up to the last data cell before grading)."""

    namespace: dict[str, Any] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)


def run_checks(
    graded: Graded, sandbox: Sandbox, junitxml: str | None = None, given: Given | None = None, salt: str = ""
) -> list[CheckOutcome]:
    """Run every check of ``graded`` under pytest; the student processes are ``sandbox``."""
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    folder = graded.checks_dir or graded.folder
    args = [
        str(graded.notebook),
        "--rootdir",
        str(folder),
        "-c",
        os.devnull,
        "--import-mode=importlib",
        "--continue-on-collection-errors",
        "--noconftest",  # a course's own conftest.py files (its tests') are not the grader's
        *(arg for plugin in UNUSED_PLUGINS for arg in ("-p", f"no:{plugin}")),
        "--assert=plain",
        "-W",
        "ignore",
    ]
    args += [f"--junitxml={junitxml}"] if junitxml else ["-p", "no:junitxml"]
    plugin = GradingPlugin(graded, sandbox, given, salt)
    with importable(*graded.import_folders), np.errstate(all="ignore"):
        pytest.main(args, plugins=[plugin])
    if plugin.grader_error is not None:
        raise plugin.grader_error
    ran = {o.grade_id for o in plugin.outcomes}
    missing = [c.grade_id for c in graded.assignment.graded if c.grade_id not in ran]
    if missing or plugin.broken_modules:
        why = "; ".join(plugin.broken_modules) or f"no check ran for {', '.join(missing)}"
        raise AssignmentFault(
            f"the checks of assignment {graded.name} are broken ({why}); "
            f"run: python -m autograder validate {graded.name}"
        )
    return plugin.outcomes


class AssignmentFault(Exception):
    """The assignment's own definition is broken (a check module that does not import...): the
    grader's side, never the student's points."""
