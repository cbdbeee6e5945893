"""``python -m autograder package``: the Gradescope zip, run as Gradescope would, and the Classroom template.

The Gradescope zip is unpacked into a scratch root laid out like Gradescope's (``source/``,
``submission/``, ``results/``); ``setup.sh`` runs without its installs (the project's
environment is first on ``PATH``) and with MNIST already in its cache folder, as no network
is needed then; ``run_autograder`` must give the score of ``python -m autograder``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
import yaml

from autograder.assignment import read_assignment
from autograder.package import ACTIONS, main
from solutions.data import OFFICIAL_SHA256

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = REPOSITORY / "release" / "mnist_mlp" / "mnist_mlp.ipynb"
MARKERS = {"### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"}
# Where the notebook's solution text may appear in the zip: the reference package, and the
# grader's own checks (also hidden from students), whose hints quote the expected code.
MAY_HOLD_SOLUTIONS = ("solutions/", "autograder/checks/")
FULL_SHA = re.compile(r"[0-9a-f]{40}")


# ----------------------------------------------------------------------------- helpers


def notebook_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def reference_notebook() -> str:
    """The source notebook: the reference solutions in the student's cells."""
    return notebook_text(SOURCE)


def mistaken_notebook() -> str:
    """The reference with the tutorial's ``>=`` in ``relu2deriv``: one task wrong."""
    text = notebook_text(SOURCE)
    wrong = text.replace("(output > 0).astype(np.float64)", "(output >= 0).astype(np.float64)")
    assert wrong != text, "the reference relu2deriv changed: update mistaken_notebook()"
    return wrong


def broken_notebook() -> str:
    """A truncated download: not valid JSON."""
    return notebook_text(SOURCE)[:5000]


SUBMISSIONS = {"reference": reference_notebook, "mistaken": mistaken_notebook, "broken": broken_notebook}


def hidden_lines(path: Path) -> set[str]:
    """The lines of the notebook's solution and hidden-test blocks that its release does not show."""
    lines, inside = set(), False
    for cell in json.loads(notebook_text(path))["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in map(str.strip, source.splitlines()):
            if line in MARKERS:
                inside = "BEGIN" in line
            elif inside and line:
                lines.add(line)
    return {line for line in lines if line not in readable_text(RELEASE.name, RELEASE.read_bytes())}


def readable_text(name: str, data: bytes) -> str:
    """A zip member as text; a notebook as its cells' sources (in the JSON, quotes are escaped)."""
    text = data.decode("utf-8", "replace")
    if name.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)
    return text


def single_file_score(notebook: Path, tmp_path: Path) -> float:
    results = tmp_path / "single.json"
    subprocess.run(
        [sys.executable, "-m", "autograder", str(notebook), "--results", str(results), "-q"],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=300, check=False,
    )
    return json.loads(results.read_text())["score"]


# ----------------------------------------------------------------------------- gradescope


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("zip") / "autograder.zip"
    assert main(["gradescope", "--out", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def gradescope_env() -> dict[str, str]:
    """The project's environment first on PATH; nothing of the checkout importable otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MNIST_DATA_DIR")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture(scope="module")
def gradescope_root(zip_path: Path, gradescope_env: dict[str, str], tmp_path_factory) -> Path:
    """A root laid out as Gradescope's, after ``setup.sh`` (installs skipped, MNIST pre-seeded)."""
    if not os.environ.get("MNIST_DATA_DIR"):
        pytest.skip("MNIST_DATA_DIR is not set")
    root = tmp_path_factory.mktemp("gradescope")
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):  # zipfile does not restore file modes
        (root / "source" / name).chmod(0o755)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    shutil.copytree(os.environ["MNIST_DATA_DIR"], root / "mnist", ignore=shutil.ignore_patterns("README*"))
    env = dict(gradescope_env, AUTOGRADER_ROOT=str(root), AUTOGRADER_SKIP_INSTALL="1")
    setup = subprocess.run([str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert setup.returncode == 0, setup.stderr
    assert "MNIST verified" in setup.stdout
    return root


def run_gradescope(root: Path, env: dict[str, str], files: dict[str, str]) -> tuple[dict, str]:
    """Put ``files`` in ``submission/``, run ``run_autograder``; its results.json and stdout."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    for name, text in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_text(text, encoding="utf-8")
    process = subprocess.run([str(root / "run_autograder")], env=dict(env, AUTOGRADER_ROOT=str(root)),
                             capture_output=True, text=True, timeout=600, check=False)
    assert process.returncode == 0, process.stdout + process.stderr
    return json.loads((root / "results" / "results.json").read_text()), process.stdout


def test_zip_layout(zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        requirements = archive.read("requirements.txt").decode().splitlines()
    assert {"setup.sh", "run_autograder", "requirements.txt", "release/mnist_mlp/mnist_mlp.ipynb",
            "solutions/network.py", "autograder/checks/pytest.ini"} <= names
    assert all(modes[name] & stat.S_IXUSR for name in ("setup.sh", "run_autograder"))
    assert not any(name.startswith(("source/", "tests/")) or "__pycache__" in name for name in names)
    pins = [line for line in requirements if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[^=\s]+", pin) for pin in pins)
    pinned = {pin.split("==")[0].lower() for pin in pins}
    assert {"numpy", "pytest", "requests", "tqdm", "nbformat"} <= pinned
    assert not pinned & {"jupyterlab", "nbgrader", "matplotlib", "notebook"}


def test_zip_is_reproducible(zip_path: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    assert main(["gradescope", "--out", str(again)]) == 0
    assert again.read_bytes() == zip_path.read_bytes()


def test_zip_holds_no_solution_text_outside_the_reference(zip_path: Path) -> None:
    secret = hidden_lines(SOURCE)
    assert len(secret) > 20  # the solution cells and hidden tests were found
    leaks = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            text = readable_text(name, archive.read(name))
            assert not [marker for marker in MARKERS if marker in text], name
            found = sorted(line for line in secret if line in text)
            if found and not name.startswith(MAY_HOLD_SOLUTIONS):
                leaks[name] = found
    assert not leaks
    assert "### BEGIN SOLUTION" not in notebook_text(RELEASE)


def test_zip_holds_no_mnist_bytes(zip_path: Path) -> None:
    official = set(OFFICIAL_SHA256.values())
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            assert hashlib.sha256(data).hexdigest() not in official, info.filename
            assert not data.startswith(b"\x1f\x8b"), f"{info.filename} is gzip data"
            assert "ubyte" not in info.filename


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
    assert expected == {"reference": 100, "mistaken": 90, "broken": 0}[kind]
    assert f"grader: {gradescope_root / 'source' / 'autograder'}" in stdout  # the unpacked copy graded
    submission = results["tests"][0]
    assert submission["status"] == ("failed" if kind == "broken" else "passed")


def test_results_hide_each_task_until_the_due_date(gradescope_root: Path, gradescope_env: dict) -> None:
    results, _ = run_gradescope(gradescope_root, gradescope_env, {"mnist_mlp.ipynb": mistaken_notebook()})
    first, *tasks = results["tests"]
    assert first["name"] == "Submission" and first["visibility"] == "visible" and "score" not in first
    assert "Total: 90 / 100" in first["output"] and "after the due date" in first["output"]
    assert [t["name"] for t in tasks] == [c.grade_id for c in read_assignment(RELEASE).graded]
    assert {t["visibility"] for t in tasks} == {"after_due_date"}
    assert "test_relu2deriv" not in first["output"]  # which task failed is not shown at once
    assert results["stdout_visibility"] == "hidden" and results["visibility"] == "visible"
    assert sum(t["score"] for t in tasks) == results["score"] == 90


def test_no_notebook_or_several_get_a_clear_zero(gradescope_root: Path, gradescope_env: dict) -> None:
    none, _ = run_gradescope(gradescope_root, gradescope_env, {"notes.txt": "hello"})
    assert none["score"] == 0 and "no notebook (.ipynb file)" in none["tests"][0]["output"]
    several, _ = run_gradescope(
        gradescope_root, gradescope_env, {"a/mnist_mlp.ipynb": "{}", "b/copy.ipynb": "{}"}
    )
    assert several["score"] == 0
    assert "holds 2 notebooks (a/mnist_mlp.ipynb, b/copy.ipynb)" in several["output"]
    assert several["tests"][0]["status"] == "failed"
    assert sum(t["max_score"] for t in several["tests"][1:]) == 100


def test_checkpoint_copies_are_not_counted(gradescope_root: Path, gradescope_env: dict) -> None:
    files = {"mnist_mlp.ipynb": reference_notebook(), ".ipynb_checkpoints/mnist_mlp-checkpoint.ipynb": "{}"}
    results, _ = run_gradescope(gradescope_root, gradescope_env, files)
    assert results["score"] == 100


def test_summary_follows_the_settings() -> None:
    spec = importlib.util.spec_from_file_location(
        "grade_gradescope", REPOSITORY / "autograder" / "templates" / "gradescope" / "grade_gradescope.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.GradeResult(tests=[{"score": 10.0, "max_score": 30.0}], notes=["cell 4 failed to run"])
    hidden = module.summary(result, "Graded a.ipynb.", {"visibility": "after_published", "show_score": False})
    assert hidden.splitlines() == [
        "Graded a.ipynb.", "cell 4 failed to run",
        "Your score and the messages of the checks behind them are shown once grades are published.",
    ]
    shown = module.summary(result, "Graded a.ipynb.", {"visibility": "visible", "show_score": True})
    assert shown.splitlines()[-1] == "Total: 10 / 30 points."


def test_package_refuses_the_source_notebook_as_release(tmp_path: Path) -> None:
    assert main(["gradescope", "--out", str(tmp_path / "a.zip"), "--release", str(SOURCE)]) == 1
    assert main(["classroom", "--out", str(tmp_path), "--release", str(SOURCE)]) == 1
    assert not (tmp_path / "a.zip").exists()


# ----------------------------------------------------------------------------- classroom


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("template")
    assert main(["classroom", "--out", str(out)]) == 0
    return out


def workflow(template: Path) -> dict:
    return yaml.safe_load((template / ".github" / "workflows" / "classroom.yml").read_text())


def steps_of(template: Path) -> list[dict]:
    return workflow(template)["jobs"]["run-autograding-tests"]["steps"]


def grader_steps(template: Path) -> list[dict]:
    return [step for step in steps_of(template) if "autograding-command-grader" in step.get("uses", "")]


def run_step(step: dict, folder: Path) -> subprocess.CompletedProcess:
    """Run a grader step's command as the action does (no shell), with this interpreter as ``python``."""
    command = shlex.split(step["with"]["command"])
    assert command[0] == "python"
    return subprocess.run([sys.executable, *command[1:]], cwd=folder, capture_output=True, text=True,
                          timeout=120, check=False)


def test_template_files(template: Path) -> None:
    assert (template / "mnist_mlp.ipynb").read_bytes() == RELEASE.read_bytes()
    pins = (template / ".github" / "classroom" / "requirements.txt").read_text().split()
    import numpy

    assert f"numpy=={numpy.__version__}" in pins


def test_workflow_parses_and_names_only_pinned_actions(template: Path) -> None:
    parsed = workflow(template)
    assert parsed["on"] == ["push", "workflow_dispatch", "repository_dispatch"]
    uses = [step["uses"] for step in steps_of(template) if "uses" in step]
    for use in uses:
        action, _, ref = use.partition("@")
        assert ref == ACTIONS[action][0]
        # classroom-resources publish only "v1" (see docs/classroom.md); the others: full SHAs
        assert FULL_SHA.fullmatch(ref) or action.startswith("classroom-resources/")
    assert {use.partition("@")[0] for use in uses} == set(ACTIONS)


def test_pins_override_to_full_shas(tmp_path: Path) -> None:
    pins = [f"{action}={'ab' * 20}" for action in ACTIONS if action.startswith("classroom-resources/")]
    args = ["classroom", "--out", str(tmp_path)] + [arg for pin in pins for arg in ("--pin", pin)]
    assert main(args) == 0
    uses = [step["uses"] for step in steps_of(tmp_path) if "uses" in step]
    assert all(FULL_SHA.fullmatch(use.partition("@")[2]) for use in uses)
    assert main(["classroom", "--out", str(tmp_path), "--pin", "actions/checkout=main"]) == 4


def test_workflow_scores_each_graded_cell(template: Path) -> None:
    graded = read_assignment(RELEASE).graded
    steps = grader_steps(template)
    points = [(step["id"], float(step["with"]["max-score"])) for step in steps]
    assert points == [(cell.grade_id, cell.points) for cell in graded]
    reporter = steps_of(template)[-1]
    assert reporter["with"]["runners"].split(",") == [c.grade_id for c in graded]
    assert reporter["env"] == {
        f"{c.grade_id.upper()}_RESULTS": f"${{{{ steps.{c.grade_id}.outputs.result }}}}" for c in graded
    }


def test_visible_checks_pass_on_the_reference(template: Path, tmp_path: Path) -> None:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    (tmp_path / "mnist_mlp.ipynb").write_text(reference_notebook(), encoding="utf-8")
    for step in grader_steps(template):
        process = run_step(step, tmp_path)
        assert (process.returncode, process.stderr) == (0, ""), step["id"]
        assert "visible checks passed" in process.stdout


def test_visible_checks_fail_on_the_blank_release(template: Path) -> None:
    for step in grader_steps(template):
        process = run_step(step, template)
        assert process.returncode == 1, step["id"]
        assert "NotImplementedError" in process.stderr and "Hint:" in process.stderr


def test_visible_checks_find_the_mistake_and_ignore_edited_test_cells(template: Path, tmp_path: Path) -> None:
    shutil.copytree(template, tmp_path, dirs_exist_ok=True)
    notebook = json.loads(mistaken_notebook())
    for cell in notebook["cells"]:  # emptying the test cells in the notebook changes nothing
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell["source"] = "pass"
    (tmp_path / "mnist_mlp.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    failed = {step["id"] for step in grader_steps(template) if run_step(step, tmp_path).returncode}
    assert failed == {"test_relu2deriv"}


def test_classroom_doc_snippets_parse() -> None:
    text = (REPOSITORY / "docs" / "classroom.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    snippets = [yaml.safe_load(textwrap.dedent(block)) for block in blocks]
    assert len(snippets) == 2
    hidden, per_task = snippets[0][0], snippets[1][0]
    assert "secrets.GRADER_TOKEN" in hidden["env"]["GRADER_TOKEN"] and 'rm -rf "$kit"' in hidden["run"]
    assert per_task["uses"].startswith("classroom-resources/autograding-command-grader@")
