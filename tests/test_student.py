"""The student as the checks see it (autograder/student.py): stand-ins counted in the grading
process, which functions passed, the same calls in a sandbox and in nbgrader's kernel."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from autograder.sandbox import Cell, Limits, MissingFunction, Sandbox, StudentError
from autograder.student import Counter, GradedStudent, KernelStudent

NOTEBOOK = textwrap.dedent("""
    def scale(x, rate):
        return x * rate

    def step(x, rate):
        return scale(x, rate) + scale(x, 0.5)

    def broken(x):
        raise ValueError("no")
""")
CALLS = {"step": ("scale",)}


def reference_scale(x, rate):
    return x * rate * 10  # not the student's: the test sees which one answered


def test_the_counter_counts_calls_and_keeps_the_numbers_passed():
    counter = Counter(["f"])
    counted = counter.wrap(lambda *args: sum(args), "f")
    assert counted(1, 2.5) == 3.5 and counted(1, np.float64(2.5)) == 3.5 and counted(3, 0) == 3
    assert counter.calls == {"f": 3}
    assert counter.scalars == {"f:0": [1.0, 3.0], "f:1": [0.0, 2.5]}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox([Cell(1, NOTEBOOK)], Limits(call_seconds=20, submission_seconds=120)) as box:
        yield box


def students(sandbox):
    namespace: dict = {"np": np}
    exec(NOTEBOOK, namespace)
    passed = {"scale": False, "step": True}
    return (GradedStudent(sandbox, {"scale": reference_scale}, CALLS, passed=passed.get),
            KernelStudent(namespace, {"scale": reference_scale}, CALLS))


def test_stand_ins_answer_and_are_counted_the_same_in_a_sandbox_and_in_a_kernel(sandbox):
    for student in students(sandbox):
        result = student.call("step", [np.ones(2), 3.0])
        assert np.array_equal(result.values[0], [35.0, 35.0])  # 1*3*10 + 1*0.5*10
        assert result.calls == {"scale": 2} and result.scalars == {"scale:1": [0.5, 3.0]}
        own = student.call("step", [np.ones(2), 3.0], stand_ins=False)
        assert np.array_equal(own.values[0], [3.5, 3.5]) and own.calls == {}


def test_a_function_passed_only_when_those_it_calls_passed_too(sandbox):
    graded, kernel = students(sandbox)
    assert graded.passed("scale") is False and graded.passed("step") is False  # step calls scale
    assert kernel.passed("step") is None  # nbgrader's kernel does not know


def test_the_students_exception_and_a_missing_function(sandbox):
    for student in students(sandbox):
        with pytest.raises(student.Raised) as raised:
            student.call("broken", [1])
        assert raised.value.kind == "ValueError" and raised.value.message == "no"
        with pytest.raises(MissingFunction, match="nothing is not defined"):
            student.call("nothing", [])
    assert issubclass(GradedStudent.Raised, StudentError)
