"""The contract read from solution cells (autograder/contract.py), and which process checks what."""

from __future__ import annotations

import pytest

from autograder.assignments import KIT, assignment_names, load
from autograder.contract import contract_of, names_defined, process_plan

STEP = '''def step(x, weights, dropout_mask):
    hidden = relu(x @ weights) * dropout_mask
    return hidden, relu2deriv(hidden)
'''


def test_functions_values_and_calls():
    contract = contract_of([
        "import numpy as np\ndef relu(x):\n    return np.maximum(x, 0)\n",
        "def relu2deriv(out):\n    return out > 0\n",
        "def dropout_mask(shape, rng):\n    return rng.integers(0, 2, shape)\n",
        STEP,
        "RATE = 0.1\nsize, (a, b) = 3, (4, 5)\nclass Model:\n    pass\n",
    ])
    assert contract.functions == ("relu", "relu2deriv", "dropout_mask", "step", "Model")
    assert contract.values == ("np", "RATE", "size", "a", "b")
    # step's parameter named dropout_mask is not a call of the function dropout_mask
    assert contract.calls == {"step": ("relu", "relu2deriv")}


def test_a_cell_that_does_not_parse_defines_nothing():
    assert contract_of(["def broken(:\n"]).names == ()
    assert names_defined("def f():\n    pass\nx = 1\nimport os.path\n") == {"f", "x", "os"}


CALLS = {"train_step": ("relu", "relu2deriv"), "evaluate": ("relu",),
         "train": ("dropout_mask", "train_step", "evaluate")}


def test_functions_checked_before_those_that_call_them_share_one_process():
    order = ["one_hot_encoding", "relu", "relu2deriv", "dropout_mask", "train_step", "evaluate", "train"]
    assert set(process_plan(order, CALLS).values()) == {""}


def test_a_function_is_never_checked_where_its_graders_version_stood_in():
    order = ["train", "train_step", "relu", "evaluate", "relu2deriv", "dropout_mask"]
    plan = process_plan(order, CALLS)
    for position, function in enumerate(order):
        earlier = [f for f in order[:position] if plan[f] == plan[function]]
        assert not any(function in CALLS.get(f, ()) for f in earlier), (function, plan)
    assert plan["train"] == "" and plan["train_step"] != plan["train"] and plan["evaluate"] != plan["train"]
    assert process_plan(["b", "a"], {"b": ("a",)}) == {"b": "", "a": "2"}


@pytest.mark.parametrize("name", assignment_names(KIT))
def test_each_assignments_reference_and_notebook_agree_on_the_contract(name):
    graded = load(KIT, name)
    contract = graded.assignment.contract
    assert contract.functions  # every assignment asks for functions
    assert [c.functions for c in graded.assignment.graded if c.functions]  # and tests them
    if graded.reference is not None:
        assert set(graded.references) == set(contract.functions)
        assert graded.calls == dict(contract.calls)  # the reference calls what the solutions call
