"""``python -m autograder package gradescope``: the zip of one assignment, and what ``run_autograder``
makes of submissions.

The kit's two assignments are packaged (``mnist_mlp``, graded by its checks modules;
``mnist_minibatch``, by plain assert cells), and so are the assignments of a course of plain
nbgrader notebooks (``gradescope_kit.plain_course``): each zip holds its own assignment only,
no solution, and the hidden tests in its grading copies. A zip is unpacked into a scratch root
laid out like Gradescope's (``tests/gradescope_kit.py``); ``run_autograder`` must give the
score of ``python -m autograder``, and run the hidden tests of a plain assignment. Failures of
the grader and the limits are in ``test_gradescope.py``; the Classroom template in
``test_classroom.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import gradescope_kit as kit
import nbformat
import pytest
from corpus import points_of
from gradescope_kit import (
    REPOSITORY,
    SUBMISSIONS,
    is_grader_error,
    mistaken_notebook,
    notebook_text,
    plain,
    reference_notebook,
    run_gradescope,
    single_file_score,
)
from plain_course import with_answers

from autograder.assignment import read_assignment
from autograder.authoring.scaffold import scaffold
from autograder.lms import main
from solutions.data import OFFICIAL_SHA256

KIT_ASSIGNMENTS = ("mnist_mlp", "mnist_minibatch")
SHARED_SOLUTIONS = {f"solutions/{name}.py" for name in ("__init__", "__main__", "_download", "data", "plots")}
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
# words() split on single spaces: passes part_a's visible test, not its hidden one.
WORDS_ON_SPACES = {"words_solution": "def words(text):\n    return text.split(' ')\n"}


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("zips")
    return {name: kit.build_zip(folder, name) for name in KIT_ASSIGNMENTS}


@pytest.fixture(scope="module")
def zip_path(zips: dict[str, Path]) -> Path:
    return zips["mnist_mlp"]


@pytest.fixture(scope="module")
def gradescope_env() -> dict[str, str]:
    return kit.gradescope_env()


@pytest.fixture(scope="module")
def gradescope_root(zip_path: Path, gradescope_env: dict[str, str], tmp_path_factory) -> Path:
    return kit.gradescope_root(zip_path, gradescope_env, tmp_path_factory.mktemp("gradescope"))


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.plain_course(tmp_path_factory.mktemp("plain") / "course")


@pytest.fixture(scope="module")
def quiz_zip(course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return kit.build_zip(tmp_path_factory.mktemp("quiz-zip"), "quiz", course)


def members(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def cell_sources(text: str) -> list[str]:
    cells = json.loads(text)["cells"]
    return [c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells]


def readable_text(name: str, data: bytes) -> str:
    """A zip member as text; a notebook as its cells' sources (in the JSON, quotes are escaped)."""
    text = data.decode("utf-8", "replace")
    return "\n".join(cell_sources(text)) if name.endswith(".ipynb") else text


def released_text(course: Path, name: str) -> str:
    """Everything students get of assignment ``name``: its release folder, as text."""
    folder = course / "release" / name
    return "\n".join(readable_text(p.name, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file())


def split_lines(course: Path, name: str, markers: tuple[str, str]) -> tuple[set[str], str]:
    """The lines between ``markers`` in the source notebooks of assignment ``name``, and the text of
    every line outside them."""
    inside_lines, outside, inside = set(), [], False
    for source in sorted((course / "source" / name).glob("*.ipynb")):
        for cell in cell_sources(notebook_text(source)):
            for line in map(str.strip, cell.splitlines()):
                if line in markers:
                    inside = line == markers[0]
                elif inside and line:
                    inside_lines.add(line)
                elif not inside:
                    outside.append(line)
    return inside_lines, "\n".join(outside)


def secrets(course: Path, name: str) -> tuple[set[str], set[str]]:
    """The solution lines and the hidden-test lines of assignment ``name`` that nothing students get
    shows (its release folder). Solution lines the rest of the notebook repeats (a hidden test
    computing what it expects) are not counted, nor those under 12 characters (``break``, ``else:``),
    which are in any code."""
    released = released_text(course, name)
    hidden, _ = split_lines(course, name, HIDDEN_MARKERS)
    solutions, elsewhere = split_lines(course, name, SOLUTION_MARKERS)
    shown = f"{elsewhere}\n{released}"
    secret = {line for line in solutions if len(line) >= 12 and line not in shown}
    return secret, {line for line in hidden if line not in released}


def assert_no_solution_in(zip_path: Path, course: Path, name: str) -> None:
    """No solution marker anywhere in the zip; no solution line of the assignment's notebooks but in
    its reference (``solutions/NAME``); every hidden test in its grading copies, none in its release."""
    solutions, hidden = secrets(course, name)
    assert solutions and hidden  # the blocks were found
    leaks, graded = {}, ""
    for member, data in members(zip_path).items():
        text = readable_text(member, data)
        assert not [marker for marker in SOLUTION_MARKERS if marker in text], member
        if member.startswith(f"source/{name}/") and member.endswith(".ipynb"):
            graded += text
        found = sorted(line for line in solutions if line in text)
        if found and not member.startswith(f"solutions/{name}"):
            leaks[member] = found
        assert member.startswith("release/") <= (not [line for line in hidden if line in text]), member
    assert not leaks
    assert all(line in graded for line in hidden)  # the grading copies keep the hidden tests


# ----------------------------------------------------------------------------- the zips


def test_zip_layout(zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        requirements = archive.read("requirements.txt").decode().splitlines()
        settings = json.loads(archive.read("gradescope.json"))
    assert {"setup.sh", "run_autograder", "grade_gradescope.py", "requirements.txt",
            "source/mnist_mlp/mnist_mlp.ipynb", "source/mnist_mlp/mnist_checks/__init__.py",
            "release/mnist_mlp/mnist_mlp.ipynb", "release/mnist_mlp/mnist_checks/__init__.py",
            "solutions/mnist_mlp/checks/test_relu.py", "solutions/data.py", "autograder/cli.py"} <= names
    assert settings["assignment"] == "mnist_mlp" and settings["notebooks"] == ["mnist_mlp"]
    assert all(modes[name] & stat.S_IXUSR for name in ("setup.sh", "run_autograder"))
    assert not any(name.startswith(("tests/", "autograder/lms/", "docs/")) or "__pycache__" in name
                   for name in names)
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[^=\s]+", pin) for pin in pins)
    pinned = {pin.split("==")[0].lower() for pin in pins}
    assert {"numpy", "pytest", "requests", "tqdm", "nbformat"} <= pinned
    assert not pinned & {"jupyterlab", "nbgrader", "matplotlib", "notebook"}


@pytest.mark.parametrize("name", KIT_ASSIGNMENTS)
def test_a_zip_holds_its_own_assignment_only(name: str, zips: dict[str, Path], tmp_path: Path) -> None:
    files = members(zips[name])
    others = [other for other in KIT_ASSIGNMENTS if other != name]
    assert not [member for member in files if any(other in member for other in others)]
    course_files = {m for m in files if m.startswith(("source/", "release/"))}
    assert {m.split("/")[1] for m in course_files} == {name}
    own = {m for m in files if m.startswith("solutions/")} - SHARED_SOLUTIONS
    assert own and all(m.startswith((f"solutions/{name}/", f"solutions/{name}.py")) for m in own)
    for source in (REPOSITORY / "source" / name).glob("*.ipynb"):
        release = REPOSITORY / "release" / name / source.name
        assert files[f"release/{name}/{source.name}"] == release.read_bytes()
        copy = tmp_path / source.name
        copy.write_bytes(files[f"source/{name}/{source.name}"])
        assert read_assignment(copy).grading_key() == read_assignment(source).grading_key()
    for member in course_files:  # the files beside the notebooks are the release's
        if not member.endswith(".ipynb"):
            relative = member.split("/", 2)[2]
            assert files[member] == (REPOSITORY / "release" / name / relative).read_bytes(), member
    assert json.loads(files["gradescope.json"])["assignment"] == name


@pytest.mark.parametrize("name", KIT_ASSIGNMENTS)
def test_no_zip_holds_a_solution(name: str, zips: dict[str, Path]) -> None:
    assert_no_solution_in(zips[name], REPOSITORY, name)


def test_zip_is_reproducible(zip_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    assert main(["gradescope", "--assignment", "mnist_mlp", "--course", str(REPOSITORY),
                 "--out", str(again)]) == 0
    assert again.read_bytes() == zip_path.read_bytes()
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(again.stat().st_mode) == 0o666 & ~mask  # as any new file, not 0600


@pytest.mark.parametrize("name", KIT_ASSIGNMENTS)
def test_zip_holds_no_mnist_bytes(name: str, zips: dict[str, Path]) -> None:
    official = set(OFFICIAL_SHA256.values())
    for member, data in members(zips[name]).items():
        assert hashlib.sha256(data).hexdigest() not in official, member
        assert not data.startswith(b"\x1f\x8b"), f"{member} is gzip data"
        assert "ubyte" not in member


def test_a_plain_assignments_zip(quiz_zip: Path, course: Path, tmp_path: Path) -> None:
    """Two notebooks, no reference module: both grading copies, no other assignment, no solution."""
    files = members(quiz_zip)
    assert {"source/quiz/part_a.ipynb", "source/quiz/part_b.ipynb", "release/quiz/part_a.ipynb",
            "release/quiz/part_b.ipynb"} <= set(files)
    assert {m for m in files if m.startswith("solutions/")} == SHARED_SOLUTIONS
    assert not [m for m in files if "drill" in m or "scaling" in m or "mnist_mlp" in m]
    assert json.loads(files["gradescope.json"])["notebooks"] == ["part_a", "part_b"]
    assert_no_solution_in(quiz_zip, course, "quiz")


def test_the_courses_own_reference_goes_with_its_assignment(course: Path, tmp_path: Path) -> None:
    """``new`` puts the reference in the course's ``solutions/``: the zip takes it from there."""
    files = members(kit.build_zip(tmp_path, "scaling", course))
    own = {m for m in files if m.startswith("solutions/")} - SHARED_SOLUTIONS
    assert own == {"solutions/scaling/__init__.py"}
    assert files["solutions/scaling/__init__.py"] == (course / "solutions/scaling/__init__.py").read_bytes()
    assert not [m for m in files if "quiz" in m or "drill" in m]
    assert_no_solution_in(tmp_path / "scaling.zip", course, "scaling")


# ----------------------------------------------------------------------------- choosing and checking


def test_the_assignment_must_be_named_when_the_course_has_several(tmp_path: Path, capsys) -> None:
    out = ["--out", str(tmp_path / "a")]
    for target in (["gradescope"], ["classroom", "--grader-repo", "o/k"]):
        assert main([*target, "--course", str(REPOSITORY), *out]) == 4
        said = capsys.readouterr().err
        assert "has the assignments mnist_minibatch, mnist_mlp: say which with --assignment" in said
        assert main([*target, "--course", str(REPOSITORY), "--assignment", "nope", *out]) == 4
        assert "no assignment 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_the_release_is_checked_against_the_source(tmp_path: Path, capsys) -> None:
    """The course's only assignment is the default; a missing, unreleased or stale release is refused."""
    root = tmp_path / "course"
    scaffold(root, "solo")
    zip_ = ["gradescope", "--course", str(root), "--out", str(tmp_path / "solo.zip")]
    classroom = ["classroom", "--course", str(root), "--out", str(tmp_path / "repo"), "--grader-repo", "o/k"]
    assert main(zip_) == 1 and "solo.ipynb: no such notebook" in capsys.readouterr().err
    released = root / "release" / "solo" / "solo.ipynb"
    released.parent.mkdir(parents=True)
    shutil.copy2(root / "source" / "solo" / "solo.ipynb", released)  # the instructor notebook
    assert main(zip_) == 1 and main(classroom) == 1
    assert "contains '### BEGIN SOLUTION'" in capsys.readouterr().err
    kit.release(root, "solo")
    notebook = nbformat.read(released, as_version=4)
    notebook.cells[-1].metadata.nbgrader.points = 5
    nbformat.write(notebook, released)
    assert main(zip_) == 1 and "does not carry the grade ids and points" in capsys.readouterr().err
    assert not (tmp_path / "solo.zip").exists() and not (tmp_path / "repo").exists()
    kit.release(root, "solo")
    assert main(zip_) == 0
    assert json.loads(members(tmp_path / "solo.zip")["gradescope.json"])["assignment"] == "solo"


# ----------------------------------------------------------------------------- grading through the zip


@pytest.mark.parametrize("kind", sorted(SUBMISSIONS))
def test_run_autograder_gives_the_single_file_score(
    kind: str, gradescope_root: Path, gradescope_env: dict[str, str], tmp_path: Path
) -> None:
    notebook = tmp_path / "mnist_mlp.ipynb"
    notebook.write_text(SUBMISSIONS[kind](), encoding="utf-8")
    expected = single_file_score(notebook, tmp_path)
    files = {"mnist_mlp.ipynb": notebook.read_text()}
    results, stdout = run_gradescope(gradescope_root, gradescope_env, files)
    assert results["score"] == expected
    points = points_of("mnist_mlp")
    total = sum(points.values())
    assert expected == {"reference": total, "mistaken": total - points["test_relu2deriv"], "broken": 0}[kind]
    assert f"grader: {gradescope_root / 'source' / 'autograder'}" in stdout  # the unpacked copy graded
    submission = results["tests"][0]
    assert submission["status"] == ("failed" if kind == "broken" else "passed")


def test_results_hide_each_task_until_the_due_date(gradescope_root: Path, gradescope_env: dict) -> None:
    results, _ = run_gradescope(gradescope_root, gradescope_env, {"mnist_mlp.ipynb": mistaken_notebook()})
    first, *tasks = results["tests"]
    assert first["name"] == "Submission" and first["visibility"] == "visible" and "score" not in first
    points = points_of("mnist_mlp")
    total, mistaken = sum(points.values()), sum(points.values()) - points["test_relu2deriv"]
    assert f"Total: {mistaken:g} / {total:g}" in plain(first["output"])
    assert "after the due date" in plain(first["output"])
    assert [t["name"] for t in tasks] == [c.grade_id for c in read_assignment(kit.RELEASE).graded]
    assert {t["visibility"] for t in tasks} == {"after_due_date"}
    assert "test_relu2deriv" not in plain(first["output"])  # which task failed is not shown at once
    assert results["stdout_visibility"] == "hidden" and results["visibility"] == "visible"
    assert sum(t["score"] for t in tasks) == results["score"] == mistaken


def test_no_notebook_or_several_get_a_clear_zero(gradescope_root: Path, gradescope_env: dict) -> None:
    none, _ = run_gradescope(gradescope_root, gradescope_env, {"notes.txt": "hello"})
    assert none["score"] == 0 and "no notebook (.ipynb file)" in plain(none["tests"][0]["output"])
    several, _ = run_gradescope(
        gradescope_root, gradescope_env, {"a/mnist_mlp.ipynb": "{}", "b/copy.ipynb": "{}"}
    )
    assert several["score"] == 0
    assert 'holds 2 notebooks ("a/mnist_mlp.ipynb", "b/copy.ipynb")' in plain(several["output"])
    assert several["tests"][0]["status"] == "failed"
    assert sum(t["max_score"] for t in several["tests"][1:]) == sum(points_of("mnist_mlp").values())


def test_another_assignments_notebook_gets_a_clear_zero(gradescope_root: Path, gradescope_env: dict,
                                                        course: Path) -> None:
    """A notebook none of whose cells are the assignment's is not graded as it (nor a grader error)."""
    other = notebook_text(course / "source" / "quiz" / "part_b.ipynb")
    results, _ = run_gradescope(gradescope_root, gradescope_env, {"part_b.ipynb": other})
    assert not is_grader_error(results) and results["score"] == 0
    shown = plain(results["tests"][0]["output"])
    assert "part_b.ipynb carries 0 of its 3 grade ids from assignment mnist_mlp" in shown
    assert "Nothing was graded." in shown
    assert sum(t["max_score"] for t in results["tests"][1:]) == sum(points_of("mnist_mlp").values())


def test_checkpoint_copies_are_not_counted(gradescope_root: Path, gradescope_env: dict) -> None:
    files = {"mnist_mlp.ipynb": reference_notebook(), ".ipynb_checkpoints/mnist_mlp-checkpoint.ipynb": "{}"}
    results, _ = run_gradescope(gradescope_root, gradescope_env, files)
    assert results["score"] == sum(points_of("mnist_mlp").values())


def test_a_plain_assignment_is_graded_with_its_hidden_tests(
    quiz_zip: Path, course: Path, gradescope_env: dict, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each notebook of the submission is graded by its name, with the hidden tests of the grading
    copy: ``words`` split on single spaces passes the visible test of ``test_words``, not the hidden."""
    root = kit.gradescope_root(quiz_zip, gradescope_env, tmp_path_factory.mktemp("quiz-root"))
    sources = {name: course / "source" / "quiz" / name for name in ("part_a.ipynb", "part_b.ipynb")}
    solved, _ = run_gradescope(root, gradescope_env, {name: notebook_text(p) for name, p in sources.items()})
    ids = [c.grade_id for p in sources.values() for c in read_assignment(p).graded]
    assert [t["name"] for t in solved["tests"][1:]] == ids
    assert solved["score"] == solved["extra_data"]["max_score"] == 12
    assert "Graded part_a.ipynb, part_b.ipynb." in plain(solved["tests"][0]["output"])
    folder = tmp_path_factory.mktemp("quiz")
    mistaken = with_answers(sources["part_a.ipynb"], folder / "part_a.ipynb", WORDS_ON_SPACES)
    results, _ = run_gradescope(root, gradescope_env, {"work/part_a.ipynb": mistaken.read_text()})
    scores = {t["name"]: t["score"] for t in results["tests"][1:]}
    assert scores == {**{id_: t["score"] for id_, t in zip(ids, solved["tests"][1:], strict=True)},
                      "test_words": 0.0, "test_square": 0.0}
    words = next(t for t in results["tests"] if t["name"] == "test_words")
    assert "words('') should be an empty list" in plain(words["output"])  # a hidden test's message
    assert "no notebook named part_b.ipynb" in plain(results["tests"][0]["output"])
    assert results["score"] == 7
