"""``python -m autograder package classroom``: the workflow, run as GitHub's runner would run it.

The two Classroom actions are the real released code (``../shared/actions``, tag v1), run
with ``node dist/main.js`` as the runner does: inputs as ``INPUT_<NAME>`` variables, outputs
through the file named by ``GITHUB_OUTPUT``, under Node 20 (installed here) and Node 24
(npm's ``node@24`` package, installed into a cache folder by the fixture below; the test
fails, with npm's reason, when it cannot be installed). The workflow's grading step runs its
``run:`` script with bash as the runner does, with a course in place of the cloned private kit
(this checkout, or a course of plain assignments; no network here) and a stand-in for ``sudo``
when the tests already run as root. A notebook of the student's repository that is a link (to
the kit's source notebook, beside it on the runner) is graded 0, never followed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import gradescope_kit
import pytest
import yaml
from corpus import points_of
from plain_course import with_answers

from autograder.assignment import read_assignment
from autograder.lms import main
from autograder.lms.classroom import ACTIONS

TOTAL = sum(points_of("mnist_mlp").values())  # every point, as the notebook gives them

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE = REPOSITORY / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
RELEASE = REPOSITORY / "release" / "mnist_mlp" / "mnist_mlp.ipynb"
ACTIONS_DIR = REPOSITORY.parent / "shared" / "actions"
COMMAND_GRADER = ACTIONS_DIR / "autograding-command-grader" / "dist" / "main.js"
REPORTER = ACTIONS_DIR / "autograding-grading-reporter" / "dist" / "main.js"
RUNNERS_PATTERN = re.compile(r"^([a-zA-Z0-9]+,)*[a-zA-Z0-9]+$")  # what the reporter accepts
NODE_CACHE = Path(os.environ.get("KIT_TOOLS_CACHE", Path.home() / ".cache" / "mnist-mlp-kit-tools"))
JOB = "run-autograding-tests"
RUNNER_TEMP = "${{ runner.temp }}"
WORKFLOW_FILES = {".github/workflows/classroom.yml", ".github/classroom/task_status.py",
                  ".github/classroom/requirements.txt"}
WORDS_ON_SPACES = {"words_solution": "def words(text):\n    return text.split(' ')\n"}


# ----------------------------------------------------------------------------- node and the actions


def node_version(node: str) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()


def npm_node(major: int) -> str:
    """Node ``major`` from npm's ``node@<major>`` package, installed once into a cache folder."""
    folder = NODE_CACHE / f"node{major}"
    node = folder / "node_modules" / ".bin" / "node"
    if not (node.exists() and node_version(str(node)).startswith(f"v{major}.")):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        # npm runs the package's install script (which fetches the binary) only when allowed.
        (folder / "package.json").write_text('{"private": true, "allowScripts": {"node": true}}\n')
        npm = shutil.which("npm")
        assert npm, f"npm is needed to install Node {major} for these tests (apt-get install npm)"
        process = subprocess.run([npm, "install", "--no-audit", "--no-fund", f"node@{major}"], cwd=folder,
                                 capture_output=True, text=True, timeout=600)
        why = f"{process.stdout}\n{process.stderr}"
        assert process.returncode == 0, f"npm could not install node@{major}:\n{why}"
    version = node_version(str(node))
    assert version.startswith(f"v{major}."), f"{node} is {version!r}, not Node {major}"
    return str(node)


@pytest.fixture(scope="module")
def nodes() -> dict[str, str]:
    """Node 20 (the one on PATH when it is 20, else npm's) and Node 24 (npm's ``node@24``)."""
    system = shutil.which("node")
    node20 = system if system and node_version(system).startswith("v20.") else npm_node(20)
    return {"node20": node20, "node24": npm_node(24)}


def outputs(path: Path) -> dict[str, str]:
    """The step outputs an action wrote to its ``GITHUB_OUTPUT`` file (``name<<DELIMITER`` blocks)."""
    blocks = re.findall(r"^(\S+)<<(\S+)\n(.*?)\n\2$", path.read_text(), re.S | re.M)
    return {name: value for name, _delimiter, value in blocks}


def command_grader(node: str, inputs: dict[str, str], cwd: Path, path: str) -> dict:
    """Run the command-grader action; its decoded ``result`` output."""
    handle, name = tempfile.mkstemp(dir=cwd.parent, prefix="github-output-")
    os.close(handle)
    output = Path(name)
    env = {"PATH": path, "HOME": str(cwd.parent), "GITHUB_OUTPUT": str(output)}
    env.update({f"INPUT_{name.replace(' ', '_').upper()}": str(value) for name, value in inputs.items()})
    process = subprocess.run([node, str(COMMAND_GRADER)], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=900)
    assert process.returncode == 0, process.stdout + process.stderr
    return json.loads(base64.b64decode(outputs(output)["result"]))


def reporter(node: str, runners: str, results: dict[str, dict], cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd.parent), "INPUT_RUNNERS": runners, "INPUT_TOKEN": "t"}
    for step_id, result in results.items():
        env[f"{step_id.upper()}_RESULTS"] = base64.b64encode(json.dumps(result).encode()).decode()
    return subprocess.run([node, str(REPORTER)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def reported_points(process: subprocess.CompletedProcess) -> tuple[float, float]:
    match = re.search(r"::notice title=Autograding report::(\{.*\})", process.stdout)
    assert match, process.stdout + process.stderr
    report = json.loads(match.group(1))
    return report["totalPoints"], report["maxPoints"]


# ----------------------------------------------------------------------------- the workflow


def make_template(out: Path, assignment: str, course: Path = REPOSITORY) -> Path:
    args = ["classroom", "--assignment", assignment, "--course", str(course), "--out", str(out)]
    assert main([*args, "--grader-repo", "course-org/mnist-kit"]) == 0
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_template(tmp_path_factory.mktemp("template"), "mnist_mlp")


def workflow(template: Path) -> dict:
    return yaml.safe_load((template / ".github" / "workflows" / "classroom.yml").read_text())


def steps_of(template: Path) -> list[dict]:
    return workflow(template)["jobs"][JOB]["steps"]


def task_steps(template: Path) -> list[dict]:
    return [step for step in steps_of(template) if "autograding-command-grader" in step.get("uses", "")]


def grade_step(template: Path) -> dict:
    (step,) = [step for step in steps_of(template) if "-m autograder" in step.get("run", "")]
    return step


def sudo_stand_in(folder: Path) -> Path:
    """A ``sudo`` for a test that already runs as root: runs the command as it is (keeping the
    environment, as ``sudo -E`` does). Without root, the real sudo is used."""
    folder.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        script = folder / "sudo"
        script.write_text('#!/bin/sh\n[ "$1" = -E ] && shift\nexec "$@"\n')
        script.chmod(0o755)
    return folder


def grade(template: Path, files: dict[str, str | Path | None], root: Path, kit: Path = REPOSITORY,
          ) -> tuple[subprocess.CompletedProcess, Path, str]:
    """Run the workflow's grading step on a workspace of ``template`` with ``files`` (a text, a path
    the file is a symbolic link to, or None: removed), ``kit`` in place of the cloned kit: the
    step's process, the runner's temporary folder and the ``PATH`` it had."""
    workspace, temp = root / "workspace", root / "runner-temp"
    shutil.copytree(template, workspace)
    for name, content in files.items():
        (workspace / name).unlink(missing_ok=True)
        if isinstance(content, Path):
            (workspace / name).symlink_to(content)
        elif content is not None:
            (workspace / name).write_text(content, encoding="utf-8")
    temp.mkdir()
    (temp / "kit").symlink_to(kit)  # in place of the clone of the private kit
    (temp / "mnist").symlink_to(os.environ["MNIST_DATA_DIR"])
    path = os.pathsep.join([str(sudo_stand_in(root / "bin")), str(Path(sys.executable).parent),
                            os.environ["PATH"]])
    step = grade_step(template)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MNIST_DATA_DIR")}
    env.update(PATH=path, RUNNER_TEMP=str(temp), GITHUB_WORKSPACE=str(workspace))
    script = root / "grade.sh"
    script.write_text(step["run"])
    graded = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                            cwd=step["working-directory"].replace(RUNNER_TEMP, str(temp)), env=env,
                            capture_output=True, text=True, timeout=900)
    return graded, temp, path


def run_workflow(template: Path, files: dict[str, str | Path | None], nodes: dict[str, str], root: Path,
                 kit: Path = REPOSITORY) -> dict[str, dict]:
    """Run the workflow's grading step once (``grade``) and its task steps and reporter under each
    Node: ``{node: {"points": (total, max), "results": {step id: result}, "reporter": process}}``."""
    graded, temp, path = grade(template, files, root, kit)
    runs = {}
    for name, node in nodes.items():
        results = {}
        for task in task_steps(template):
            inputs = {key: str(value).replace(RUNNER_TEMP, str(temp)) for key, value in task["with"].items()}
            results[task["id"]] = command_grader(node, inputs, root / "workspace", path)
        report = reporter(node, steps_of(template)[-1]["with"]["runners"], results, root / "workspace")
        runs[name] = {"points": reported_points(report), "results": results, "reporter": report,
                      "graded": graded}
    return runs


def task_statuses(template: Path, temp: Path) -> dict[str, subprocess.CompletedProcess]:
    """Each task step's command run as it is (without the action), by grade id."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    found = {}
    for task in task_steps(template):
        command = task["with"]["command"].replace(RUNNER_TEMP, str(temp))
        found[task["name"]] = subprocess.run(command, shell=True, cwd=template, env=env, capture_output=True,
                                             text=True, timeout=60)
    return found


@pytest.fixture(scope="module")
def reference_runs(template, nodes, tmp_path_factory) -> dict[str, dict]:
    files = {"mnist_mlp.ipynb": SOURCE.read_text(encoding="utf-8")}
    return run_workflow(template, files, nodes, tmp_path_factory.mktemp("ref"))


def test_reference_scores_every_point_under_node_20_and_24(reference_runs) -> None:
    for name, run in reference_runs.items():
        assert run["graded"].returncode == 0, run["graded"].stdout + run["graded"].stderr
        assert run["points"] == (TOTAL,) * 2, name
        assert {r["status"] for r in run["results"].values()} == {"pass"}, name


def test_one_mistake_loses_that_task_only(template, nodes, tmp_path) -> None:
    text = SOURCE.read_text(encoding="utf-8")
    wrong = text.replace("(output > 0).astype(np.float64)", "(output >= 0).astype(np.float64)")
    assert wrong != text
    for name, run in run_workflow(template, {"mnist_mlp.ipynb": wrong}, nodes, tmp_path).items():
        failed = {step for step, result in run["results"].items() if result["status"] != "pass"}
        assert failed == {"testrelu2deriv"}, name
        assert run["points"] == (TOTAL - points_of("mnist_mlp")["test_relu2deriv"], TOTAL), name


def blank_that_exits() -> str:
    notebook = json.loads(RELEASE.read_text(encoding="utf-8"))
    notebook["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                              "source": "import os\nos._exit(0)\n"})
    return json.dumps(notebook)


def test_a_blank_notebook_that_exits_scores_nothing(template, nodes, tmp_path) -> None:
    """Run in the process that decided the points, ``os._exit(0)`` passed every task (100/100)."""
    for name, run in run_workflow(template, {"mnist_mlp.ipynb": blank_that_exits()}, nodes, tmp_path).items():
        assert run["points"] == (0, TOTAL), name
        assert {r["status"] for r in run["results"].values()} == {"fail"}, name


def test_without_results_every_task_fails_and_the_reporter_still_reports(template, nodes, tmp_path) -> None:
    runs = run_workflow(template, {"mnist_mlp.ipynb": "not a notebook at all"}, nodes, tmp_path)
    for name, run in runs.items():
        assert run["points"] == (0, TOTAL), name
    (tmp_path / "runner-temp" / "results" / "mnist_mlp.json").unlink()  # again, with the results gone
    for grade_id, process in task_statuses(template, tmp_path / "runner-temp").items():
        assert process.returncode == 2 and "no grade" in process.stdout, grade_id


# ----------------------------------------------------------------------------- what the student controls


def other_notebook() -> str:
    """A notebook of another course, none of whose cells are mnist_mlp's."""
    notebook = json.loads(RELEASE.read_text(encoding="utf-8"))
    for number, cell in enumerate(notebook["cells"]):
        if "nbgrader" in cell.get("metadata", {}):
            cell["metadata"]["nbgrader"]["grade_id"] = f"elsewhere_{number}"
    return json.dumps(notebook)


LINKED = "mnist_mlp.ipynb is a symbolic link; submit the notebook file itself"


@pytest.mark.parametrize(("kind", "reason"), [
    pytest.param("source", LINKED, id="link-to-the-kits-source"),
    pytest.param("folder", LINKED, id="link-to-a-folder"),
    pytest.param("missing", "mnist_mlp.ipynb is not in the repository", id="missing"),
    pytest.param("other", "grade ids from assignment mnist_mlp (mnist_mlp.ipynb): "
                 "it is not a notebook of that assignment", id="another-course"),
])
def test_what_is_not_the_students_notebook_scores_0_with_the_reason(kind, reason, template, tmp_path) -> None:
    """A link in the student's repository is never followed: to the kit's source notebook, on the
    runner beside it, it would score every point."""
    kit_source = tmp_path / "runner-temp" / "kit" / "source" / "mnist_mlp" / "mnist_mlp.ipynb"
    notebook = {"source": kit_source, "folder": kit_source.parent, "missing": None, "other": other_notebook()}
    files = {"mnist_mlp.ipynb": notebook[kind]}
    graded, temp, _ = grade(template, files, tmp_path)
    assert graded.returncode == 0, graded.stdout + graded.stderr  # the student's 0, not a grader error
    assert "grader exit status 1" in graded.stdout and reason in graded.stdout
    results = json.loads((temp / "results" / "mnist_mlp.json").read_text())
    assert results["score"] == 0 and all(reason in test["output"] for test in results["tests"])
    statuses = task_statuses(template, temp)
    assert {process.returncode for process in statuses.values()} == {1}


# ----------------------------------------------------------------------------- the workflow's shape


def test_step_ids_are_what_the_reporter_accepts(template: Path) -> None:
    graded = read_assignment(RELEASE).graded
    ids = [step["id"] for step in task_steps(template)]
    assert ids == [cell.grade_id.replace("_", "") for cell in graded]
    assert all(re.fullmatch(r"[A-Za-z0-9]+", id_) for id_ in ids)
    runners = steps_of(template)[-1]["with"]["runners"]
    assert RUNNERS_PATTERN.match(runners) and runners.split(",") == ids
    assert steps_of(template)[-1]["env"] == {
        f"{id_.upper()}_RESULTS": f"${{{{ steps.{id_}.outputs.result }}}}" for id_ in ids
    }
    points = [float(step["with"]["max-score"]) for step in task_steps(template)]
    assert points == [cell.points for cell in graded]


def test_reporter_errors_are_its_own_with_these_ids(template, nodes, tmp_path) -> None:
    """With ``_`` in an id, any error becomes "must be a comma-separated list"; ours show the real one."""
    ours = reporter(nodes["node24"], "testrelu", {}, tmp_path)  # no TESTRELU_RESULTS
    assert ours.returncode == 1 and "comma-separated" not in ours.stdout + ours.stderr
    underscored = reporter(nodes["node24"], "test_relu", {}, tmp_path)
    assert "must be a comma-separated list" in underscored.stdout + underscored.stderr


def test_the_job_outlasts_its_steps_and_the_reporter_always_runs(template: Path) -> None:
    job = workflow(template)["jobs"][JOB]
    steps = job["steps"]
    assert all("timeout-minutes" in step for step in steps)
    assert sum(step["timeout-minutes"] for step in steps) < job["timeout-minutes"]
    for task in task_steps(template):
        assert float(task["with"]["timeout"]) < task["timeout-minutes"] and task["if"] == "always()"
    assert steps[-1]["name"] == "Autograding Reporter" and steps[-1]["if"] == "always()"


def repository_files(template: Path) -> set[str]:
    return {p.relative_to(template).as_posix() for p in template.rglob("*") if p.is_file()}


def test_grading_runs_the_sandboxed_grader_as_root_outside_the_repository(template: Path) -> None:
    run = grade_step(template)["run"]
    assert ('sudo -E env MNIST_DATA_DIR="$RUNNER_TEMP/mnist" "$(command -v python)" \\\n'
            "  -m autograder.lms.grade_classroom --assignment mnist_mlp") in run
    assert '--workspace "$GITHUB_WORKSPACE" --results "$RUNNER_TEMP/results"' in run
    assert run.count("mnist_mlp.ipynb") == 1
    for task in task_steps(template):  # the task steps only read a status
        assert task["with"]["command"] == (f"python .github/classroom/task_status.py {RUNNER_TEMP}/results/"
                                           f"mnist_mlp.json {task['name']}")
    release = REPOSITORY / "release" / "mnist_mlp"
    given = {name for name in repository_files(release) if "__pycache__" not in name}
    assert "mnist_checks/__init__.py" in given  # the visible checks, which the notebook imports
    files = repository_files(template)
    assert files == given | WORKFLOW_FILES
    assert all((template / name).read_bytes() == (release / name).read_bytes() for name in given)
    assert not any(name.startswith(("solutions", "autograder", "source")) for name in files)


def test_a_template_holds_its_own_assignment_only(tmp_path: Path) -> None:
    template = make_template(tmp_path, "mnist_minibatch")
    assert repository_files(template) == {"mnist_minibatch.ipynb"} | WORKFLOW_FILES
    assert "--assignment mnist_minibatch" in grade_step(template)["run"]
    graded = read_assignment(REPOSITORY / "release" / "mnist_minibatch" / "mnist_minibatch.ipynb").graded
    tasks = task_steps(template)
    assert [task["id"] for task in tasks] == [cell.grade_id.replace("_", "") for cell in graded]
    assert all("/results/mnist_minibatch.json " in task["with"]["command"] for task in tasks)
    assert [float(task["with"]["max-score"]) for task in tasks] == [cell.points for cell in graded]
    assert not [name for name in repository_files(template) if "mnist_mlp" in (template / name).read_text()]


def test_an_assignment_of_two_notebooks_is_graded_notebook_by_notebook(nodes, tmp_path: Path) -> None:
    """A course of plain assert cells as the private kit: each notebook graded into its own results,
    with its hidden tests (``words`` split on single spaces passes the visible test, not the hidden)."""
    course = gradescope_kit.plain_course(tmp_path / "course")
    template = make_template(tmp_path / "template", "quiz", course)
    notebooks = ("part_a.ipynb", "part_b.ipynb")
    assert {name for name in repository_files(template) if name.endswith(".ipynb")} == set(notebooks)
    for task in task_steps(template):
        notebook = "part_b" if task["name"] == "test_square" else "part_a"
        assert f"/results/{notebook}.json " in task["with"]["command"]
    source = course / "source" / "quiz"
    mistaken = with_answers(source / "part_a.ipynb", tmp_path / "mistaken.ipynb", WORDS_ON_SPACES)
    files = {"part_a.ipynb": mistaken.read_text(), "part_b.ipynb": (source / "part_b.ipynb").read_text()}
    node24 = {"node24": nodes["node24"]}  # both Node versions run the actions in the tests above
    for name, run in run_workflow(template, files, node24, tmp_path / "run", kit=course).items():
        assert run["graded"].returncode == 0, run["graded"].stdout + run["graded"].stderr
        failed = {step for step, result in run["results"].items() if result["status"] != "pass"}
        assert failed == {"testwords"}, name
        assert run["points"] == (9, 12), name


def test_actions_are_pinned_to_releases_on_node_24(template: Path) -> None:
    uses = [step["uses"] for step in steps_of(template) if "uses" in step]
    assert {use.partition("@")[0] for use in uses} == set(ACTIONS)
    for use in uses:
        action, _, ref = use.partition("@")
        assert ref == ACTIONS[action][0]
    # checkout v5 and setup-python v6 are the first releases whose action.yml says node24
    assert ACTIONS["actions/checkout"][1] == "v5.0.0" and ACTIONS["actions/setup-python"][1] == "v6.0.0"


def test_pins_override_to_full_shas(tmp_path: Path) -> None:
    pins = [f"{action}={'ab' * 20}" for action in ACTIONS if action.startswith("classroom-resources/")]
    args = ["classroom", "--assignment", "mnist_mlp", "--course", str(REPOSITORY), "--out", str(tmp_path),
            "--grader-repo", "o/k"]
    assert main(args + [arg for pin in pins for arg in ("--pin", pin)]) == 0
    uses = [step["uses"] for step in steps_of(tmp_path) if "uses" in step]
    assert all(re.fullmatch(r"[0-9a-f]{40}", use.partition("@")[2]) for use in uses)
    assert main([*args, "--pin", "actions/checkout=main"]) == 4
    assert main([*args[:-1], "not a repository"]) == 4


# ----------------------------------------------------------------------------- what the command grader does


def test_what_the_command_grader_does(nodes, tmp_path) -> None:
    """What docs/classroom.md says of the action: stderr does not fail a step, the command runs
    through /bin/sh, and on a timeout only the shell is killed (its children keep running)."""
    path = os.environ["PATH"]
    for name, node in nodes.items():
        folder = tmp_path / name
        (folder / "work").mkdir(parents=True)
        work = folder / "work"

        def grade(command: str, timeout: str = "1", work: Path = work, node: str = node) -> dict:
            inputs = {"test-name": "t", "command": command, "timeout": timeout, "max-score": "5"}
            return command_grader(node, inputs, work, path)

        assert grade("echo oops >&2")["status"] == "pass", name
        assert grade("exit 1")["status"] == "fail", name
        assert grade('echo "$0" > shell.txt')["status"] == "pass"
        assert (work / "shell.txt").read_text().strip() == "/bin/sh", name
        # (the child's output goes elsewhere: it would hold this test's pipes open for 300 s)
        result = grade("sleep 300 > /dev/null 2>&1 & echo $! > child.pid; wait", timeout="0.1")
        assert (result["status"], result["tests"][0]["message"]) == ("error", "Command timed out"), name
        child = int((work / "child.pid").read_text())
        try:
            os.kill(child, 0)  # still running: the action killed only the shell
        finally:
            os.kill(child, signal.SIGKILL)
