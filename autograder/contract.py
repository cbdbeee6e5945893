"""The student contract of an assignment, read from its solution cells: what they define, and
which of those functions each one calls.

A solution cell's top-level ``def`` and ``class`` statements define the functions students
write; its other top-level names (assignments, imports) are values. A function *calls* another
contract function when its body names it. Checks of a function that calls others run with the
grader's versions of those in their place (one mistake costs points once), and a function is
never checked in a student process where the grader's version of it stood in before
(``process_plan``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Contract:
    """``functions`` and ``values`` the solution cells define (in notebook order); ``calls``: the
    other contract functions each function names in its body."""

    functions: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    calls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.functions, *self.values)


def defined_names(source: str) -> tuple[list[str], list[str], dict[str, set[str]]]:
    """The functions (and classes) and values a cell's top level defines, and the names each
    function's body uses. A cell that does not parse defines nothing."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [], [], {}
    functions, values, uses = [], [], {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            functions.append(node.name)
            uses[node.name] = _free_names(node)
        else:
            values.extend(_targets(node))
    return functions, values, uses


def names_defined(source: str) -> set[str]:
    """Every name a cell's top level binds (functions, classes, values, imports)."""
    functions, values, _ = defined_names(source)
    return {*functions, *values}


def _free_names(node: ast.AST) -> set[str]:
    """The names a definition reads that it does not bind itself (its parameters, its locals)."""
    bound = {
        arg.arg
        for n in ast.walk(node)
        if isinstance(n, ast.arguments)
        for arg in (*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg)
        if arg is not None
    }
    bound |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    if isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*"]
    return []


def contract_of(solution_sources: Iterable[str]) -> Contract:
    """The contract the solution cells ``solution_sources`` (in notebook order) define."""
    functions: list[str] = []
    values: list[str] = []
    uses: dict[str, set[str]] = {}
    for source in solution_sources:
        cell_functions, cell_values, cell_uses = defined_names(source)
        functions += [f for f in cell_functions if f not in functions]
        values += [v for v in cell_values if v not in values and v not in cell_functions]
        uses.update(cell_uses)
    values = [v for v in values if v not in functions]
    calls = {f: tuple(g for g in functions if g != f and g in uses.get(f, ())) for f in functions}
    return Contract(tuple(functions), tuple(values), {f: c for f, c in calls.items() if c})


def process_plan(order: Iterable[str], calls: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """The student process each function (in the order its checks run) is checked in.

    A process may check ``f`` unless the grader's version of ``f`` already stood in there for
    a function ``f`` is called by: code that saw those answers must not be graded on them. With
    the checks in an order where each function comes before those that call it (as tasks come in
    a notebook), that is one process. (Inputs a function saw in its own checks, and what the
    grader's versions answer for them later in the same process, are of no use elsewhere: the
    checks' inputs are seeded by the submission's own digest.) Processes are named ``""`` (the
    first), ``"2"``, ``"3"``...
    """
    processes: list[tuple[str, set[str]]] = []  # (key, functions that stood in there)
    plan = {}
    for function in order:
        free = [p for p in processes if function not in p[1]]
        if not free:
            free = [(str(len(processes) + 1) if processes else "", set())]
            processes.append(free[0])
        key, stood_in = free[0]
        stood_in.update(calls.get(function, ()))
        plan[function] = key
    return plan
