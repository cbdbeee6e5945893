"""Run the checks with pytest against one sandboxed submission and collect the outcomes."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from autograder.context import name_places
from autograder.expect import CheckFailure, GradedStudent, StudentRaised
from autograder.notebook import check_rng
from autograder.sandbox import GraderError, MissingFunction, Sandbox, SandboxError, StudentError
from autograder.sandbox.workspace import PROCESS_ORDER, process_of
from autograder.submission import place_labels

CHECKS_DIR = Path(__file__).parent / "checks"
EXPECTED_FAILURES = (CheckFailure, StudentError, StudentRaised, MissingFunction, SandboxError)
# pytest plugins the checks do not use. ``unraisableexception`` alone costs a grading a tenth
# of a second or more: it runs gc.collect() over the whole process at the end of the session.
UNUSED_PLUGINS = ("terminal", "cacheprovider", "unraisableexception", "threadexception", "doctest",
                  "pastebin", "stepwise", "setuponly", "setupplan", "subtests", "unittest",
                  "legacypath", "logging", "debugging")


@dataclass(frozen=True)
class CheckOutcome:
    """One check's result: its grade id, name, whether it passed, and the message if not."""

    grade_id: str
    name: str
    passed: bool
    message: str
    seconds: float


class GradingPlugin:
    """A pytest plugin giving the checks their ``student`` and ``rng``, recording outcomes."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.student_view = GradedStudent(sandbox)
        self.places = place_labels(getattr(sandbox, "cells", []))
        self.outcomes: list[CheckOutcome] = []
        self.grader_error: GraderError | None = None  # the host's fault: no grade at all

    def pytest_configure(self, config: pytest.Config) -> None:
        # The messages come from the exceptions (``pytest_runtest_makereport`` below). pytest's
        # long report of a failure parses the source of every frame, and only --junitxml reads
        # it: a plain traceback instead saves the blank release 0.5 s.
        config.option.tbstyle = "native"

    @pytest.fixture
    def student(self) -> GradedStudent:
        return self.student_view

    @pytest.fixture
    def rng(self, request: pytest.FixtureRequest) -> np.random.Generator:
        return check_rng(grade_id_of(request.node), request.node.name)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Check the functions of one student process together, so each process starts once
        (pytest would take the files in alphabetical order, switching processes five times)."""
        items.sort(key=lambda item: PROCESS_ORDER.index(process_of(grade_id_of(item).removeprefix("test_"))))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):  # noqa: ANN201
        report = (yield).get_result()
        if report.when == "call" or (report.when == "setup" and report.failed):
            message = ""
            if call.excinfo is not None and isinstance(call.excinfo.value, GraderError):
                self.grader_error = self.grader_error or call.excinfo.value
            if call.excinfo is not None:
                error = call.excinfo.value
                message = str(error) if isinstance(error, EXPECTED_FAILURES) else (
                    f"the check could not use what came back ({type(error).__name__}: {error})"
                )
            message = name_places(message, self.places)
            self.outcomes.append(
                CheckOutcome(grade_id_of(item), item.name, report.passed, message, call.duration)
            )


def grade_id_of(item: pytest.Item) -> str:
    """Checks live in ``autograder/checks/<grade id>.py``."""
    return Path(str(item.path)).stem


def run_checks(sandbox: Sandbox, junitxml: str | None = None) -> list[CheckOutcome]:
    """Run every check under pytest; the student process is ``sandbox``."""
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    args = [
        str(CHECKS_DIR),
        "-c", str(CHECKS_DIR / "pytest.ini"),
        "--rootdir", str(CHECKS_DIR),
        *(arg for plugin in UNUSED_PLUGINS for arg in ("-p", f"no:{plugin}")),
        "--assert=plain",
        "-W", "ignore",
    ]
    args += [f"--junitxml={junitxml}"] if junitxml else ["-p", "no:junitxml"]
    plugin = GradingPlugin(sandbox)
    started = time.monotonic()
    with np.errstate(all="ignore"):
        pytest.main(args, plugins=[plugin])
    if plugin.grader_error is not None:
        raise plugin.grader_error
    if not plugin.outcomes:
        raise RuntimeError(f"no checks ran ({time.monotonic() - started:.1f} s)")
    return plugin.outcomes
