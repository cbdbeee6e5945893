"""The tree shows the design: the grader, the course floor and the LMS floor name no assignment,
and the kit's own modules import each other without a circle and never the assignments' code.

Every assignment of the kit is read from ``source/``: its name, its grade ids, the functions and
values its solution cells define. None of them may appear as a word in ``autograder/`` (code,
comments, docstrings, templates), so a new assignment never needs the grader edited, and an
assignment's change never reaches it.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

from autograder import assignments

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT / "autograder"
KIT_FILES = sorted(p for p in KIT.rglob("*") if p.is_file() and p.suffix in {".py", ".j2", ".html", ".md"})


# Plain words the kit uses in its own sense that an assignment also happens to use as a grade id.
ORDINARY_WORDS = frozenset({"imports", "settings", "split", "accuracy"})


def assignment_words() -> dict[str, str]:
    """Each word that belongs to one assignment -> the assignment it belongs to."""
    words: dict[str, str] = {}
    for name in assignments.assignment_names(ROOT):
        graded = assignments.load(ROOT, name)
        a = graded.assignment
        ids = {c.grade_id for c in a.graded} | set(a.solution_ids) | set(a.instructor_ids)
        ids |= {c.grade_id for c in a.context} | {m.grade_id for m in a.manual}
        for word in {name, *ids, *a.contract.names} - ORDINARY_WORDS:
            words[word] = name
    return words


def test_the_kit_reads_every_assignment_it_ships():
    assert len(assignments.assignment_names(ROOT)) >= 2


QUOTED = re.compile(r"``([^`]+)``|`([^`]+)`|'([^'\n]+)'|\"([^\"\n]+)\"|<code>(.*?)</code>")


def named_words(path: Path) -> list[tuple[int, str]]:
    """The words a file names as names, with their line numbers: in code every identifier and
    every string that is a single word; in prose (docstrings, comments, templates) what is
    quoted or in backticks, where a name is shown as a name. A plain English word in a sentence
    ("the loop may train briefly") is not a name."""
    text = path.read_text()
    if path.suffix != ".py":
        return [(number, word) for number, line in enumerate(text.splitlines(), 1)
                for match in QUOTED.finditer(line) for span in match.groups() if span
                for word in re.findall(r"\w+", span)]
    found: list[tuple[int, str]] = []
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        line = token.start[0]
        if token.type == tokenize.NAME and previous != ".":  # not another library's attribute
            found.append((line, token.string))
        elif token.type in (tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", -1)):
            body = token.string.strip("rbfuRBFU").strip("\"'#")
            if re.fullmatch(r"\w+", body):
                found.append((line, body))
            found += [(line + token.string[: match.start()].count("\n"), word)
                      for match in QUOTED.finditer(token.string) for span in match.groups() if span
                      for word in re.findall(r"\w+", span)]
        if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = token.string
    return found


@pytest.mark.parametrize("path", KIT_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_grader_names_no_assignment(path: Path):
    words = assignment_words()
    found = [f"line {number}: {word!r} (of {words[word]})"
             for number, word in named_words(path) if word in words]
    assert not found, f"{path.relative_to(ROOT)} names an assignment's own words: " + "; ".join(found)


def imports_of(path: Path) -> set[str]:
    """The modules a module of the kit imports (absolute names; relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parent.parts)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kit_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in KIT.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name}
            for name, path in modules.items()}


# The course's own modules, shared by its assignments: its data (files, their SHA-256, where they
# are cached) and the list of shared modules; the floors that ship a grader somewhere (a
# cluster's workers, a Gradescope image) read them.
COURSE_MODULES = ("solutions.data", "solutions.__main__")


def test_the_kit_imports_no_assignment_code():
    offenders = {
        module_name(p): sorted(
            m for m in imports_of(p)
            if m.split(".")[0] in {"solutions", "source", "tests"} and not m.startswith(COURSE_MODULES)
        )
        for p in KIT.rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of ``graph`` (module -> modules it imports), each as a path back to its
    start. A module importing its own package (how a package re-exports) is not a circle."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if node.startswith(target + "."):
                continue
            if state.get(target) == 1:
                found.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_the_kit_has_no_import_circle():
    found = circles(kit_graph())
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)


def test_a_planted_circle_and_name_are_found(tmp_path: Path):
    """The checks above can fail."""
    assert circles({"a.one": {"a.two"}, "a.two": {"a.three"}, "a.three": {"a.one"}}) == [
        ["a.one", "a.two", "a.three", "a.one"]
    ]
    assert circles({"a": set(), "a.one": {"a"}}) == []
    planted = tmp_path / "planted.py"
    some_name = sorted(assignment_words())[0]
    planted.write_text(f'"""Calls ``{some_name}``; may train."""\nx = {some_name}(1)  # not_{some_name}\n')
    assert [word for _, word in named_words(planted) if word == some_name] == [some_name, some_name]
