"""The student processes (autograder/sandbox/running.py and process.py): calls, limits and their
messages, restarts, clean-up, and what each process can reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest
from corpus.grading import processes_with

from autograder.sandbox import (
    Cell,
    Layers,
    Limits,
    MissingFunction,
    Sandbox,
    SandboxError,
    StudentError,
)
from autograder.sandbox.launch import remove_tree


def sandbox(*sources: str, layers: Layers | None = None, **limits) -> Sandbox:
    """A sandbox whose cells 1, 2, ... are ``sources``; small limits by default."""
    defaults = {"call_seconds": 5.0, "submission_seconds": 30.0}
    cells = [Cell(index, textwrap.dedent(source)) for index, source in enumerate(sources, start=1)]
    return Sandbox(cells, Limits(**{**defaults, **limits}), layers)


def test_call_returns_values_arguments_after_and_repeats():
    with sandbox("""
        def scale(x, k):
            x *= k
            return float(x.sum()), x.shape
    """) as student:
        result = student.call("scale", [np.arange(4.0)], {"k": 2}, repeat=2)
    assert result.values == [(12.0, (4,)), (12.0, (4,))]
    assert np.array_equal(result.args_after[0][0], [0, 2, 4, 6])
    assert result.calls == {}


def test_student_error_names_the_cell_and_line():
    with sandbox("x = 1", "def f():\n    return 1 / 0\n") as student, pytest.raises(StudentError) as error:
        student.call("f", [])
    assert str(error.value) == (
        'f raised ZeroDivisionError: "division by zero" (cell 2, line 2: "return 1 / 0")')


def test_missing_function_names_the_cells_that_failed():
    with sandbox("undefined_name", "def g(:\n    pass\n") as student:
        with pytest.raises(MissingFunction) as error:
            student.call("g", [])
    message = str(error.value)
    assert "g is not defined in the notebook" in message
    assert ('cell 1: NameError: "name \'undefined_name\' is not defined" '
            '(cell 1, line 1: "undefined_name")') in message
    assert 'cell 2: SyntaxError: "invalid syntax" (cell 2, line 1: "def g(:")' in message
    assert "cell 2: SyntaxError" in message


KILL = "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)"
JUNK = "import os, sys\n    os.write(int(sys.argv[2]), b'\\xff' * 64)\n    while True:\n        pass"


@pytest.mark.parametrize(
    "body, limits, message",
    [
        ("while True:\n        pass", {"call_seconds": 1}, "timed out after 1 s in f"),
        (
            "import time\n    time.sleep(30)",
            {"call_seconds": 10, "submission_seconds": 2},
            "submission time limit of 2 s used up in f",
        ),
        ("import os\n    os._exit(3)", {}, "exited with status 3 in f"),
        ("import os\n    os.abort()", {}, "crashed with signal SIGABRT in f"),
        ("import os, signal\n    os.kill(os.getpid(), signal.SIGRTMIN + 6)", {},
         "crashed with signal SIGRTMIN+6 in f"),  # a signal with no name in signal.Signals
        (KILL, {}, "killed (memory limit 2 GiB or an outside kill) in f"),
        (JUNK, {}, "broke the connection to the grader (header too large) in f"),
    ],
)
def test_a_call_that_ends_the_process_has_a_clear_message_and_is_not_repeated(body, limits, message):
    with sandbox(f"def f():\n    {body}\n", "def g():\n    return 1\n", **limits) as student:
        with pytest.raises(SandboxError) as error:
            student.call("f", [])
        assert str(error.value) == message
        with pytest.raises(SandboxError, match=r"\(earlier call; not called again\)$"):
            student.call("f", [])
        assert student._current is None  # answered without starting a process
        if "submission" not in message:
            assert student.call("g", []).values == [1]  # a new process for the other functions


def test_memory_limit():
    with sandbox("def f():\n    return bytearray(2**30)\n", memory_bytes=256 * 2**20) as student:
        with pytest.raises(SandboxError, match="^killed: memory limit 256 MiB exceeded in f$"):
            student.call("f", [])


def test_output_is_capped():
    with sandbox("def f():\n    print('x' * 100_000)\n", output_bytes=4096) as student:
        with pytest.raises((StudentError, SandboxError)):
            student.call("f", [])
        assert 0 < len(student.output) <= 4096


def test_output_limit_message():
    with sandbox("def f():\n    print('x' * 100_000)\n", output_bytes=4096) as student:
        with pytest.raises(SandboxError, match="killed: output limit 4 KiB exceeded in f"):
            student.call("f", [])


@pytest.mark.parametrize("ending, said", [
    ("os._exit(0)", "exited with status 0"),
    ("os.kill(os.getpid(), signal.SIGRTMIN + 6)", "crashed with signal SIGRTMIN+6"),
])
def test_a_cell_that_kills_the_process_is_skipped_and_the_rest_still_runs(ending, said):
    cells = ("def a():\n    return 1\n", f"import os, signal\n{ending}\n", "def b():\n    return a() + 1\n")
    with sandbox(*cells) as student:
        assert student.call("b", []).values == [2]
    assert student.cell_errors == {2: f"{said} while running cell 2"}


def test_the_process_is_restarted_after_a_crash():
    with sandbox("import os\ndef die():\n    os._exit(1)\n", "def ok():\n    return 5\n") as student:
        with pytest.raises(SandboxError):
            student.call("die", [])
        assert student.call("ok", []).values == [5]


def test_a_bound_function_of_the_graders_answers_during_that_call_only():
    """One mistake costs once: evaluate runs with the grader's relu (answered here, in this process),
    not the student's wrong one; the student's relu is back after the call."""
    seen = []

    def graders_relu(x):
        seen.append(x.copy())
        return np.maximum(x, 0)

    with sandbox("""
        kept = []
        def relu(x):
            return x * 0
        def evaluate(images, labels, weights_1, weights_2):
            kept.append(relu)
            return float(relu(images).sum()), 0
        def later(x):
            return kept[0](x)
    """) as student:
        result = student.call("evaluate", [np.array([-1.0, 2.0]), None, None, None],
                              bind={"relu": graders_relu})
        assert result.values == [(2.0, 0)] and len(seen) == 1 and np.array_equal(seen[0], [-1.0, 2.0])
        assert np.array_equal(student.call("relu", [np.array([-1.0, 2.0])]).values[0], [0.0, 0.0])
        with pytest.raises(StudentError, match="cannot be called now"):
            student.call("later", [np.array([1.0])])  # the kept stand-in is dead outside its call
    assert len(seen) == 1


def test_the_graders_function_changes_arguments_in_place_and_draws_from_the_students_generator():
    def step(weights, rng):
        weights += rng.random(weights.shape)
        return "done"

    with sandbox("""
        def train(weights, rng):
            first = step(weights, rng)
            return first, weights.copy(), rng.random()
    """) as student:
        result = student.call("train", [np.zeros(3), np.random.default_rng(5)], bind={"step": step})
    rng = np.random.default_rng(5)
    expected = rng.random(3)
    done, weights, next_draw = result.values[0]
    assert done == "done" and np.array_equal(weights, expected) and next_draw == rng.random()
    assert np.array_equal(result.args_after[0][0], expected)


def test_the_graders_function_refuses_slow_dtypes_and_more_data_than_the_call_was_given():
    """The grader's version runs in the grading process, beyond the sandbox's limits: arrays of a
    dtype without BLAS, or more elements than the request sent (and at least 2**20), are refused
    before it runs, as an error in the student's code."""
    seen = []

    def graders_relu(x):
        seen.append(x.shape)
        return np.maximum(x, 0)

    with sandbox("""
        import numpy as np
        def evaluate(images):
            said = []
            for x in (images.astype(np.float16), images.astype(np.longdouble), np.ones(2**21), images):
                try:
                    said.append(float(relu(x).sum()))
                except ValueError as error:
                    said.append(str(error))
            return said
    """) as student:
        result = student.call("evaluate", [np.arange(-3.0, 3.0)], bind={"relu": graders_relu})
    half, long, many, fine = result.values[0]
    assert "refused its arguments: arrays of dtype float16 (use float64)" in half
    assert "refused its arguments: arrays of dtype float128 (use float64)" in long
    assert f"arrays of {2**21:,} elements in all, more than the {2**20:,} this call was given" in many
    assert fine == 3.0 and seen == [(6,)]


def test_no_call_of_the_graders_function_starts_after_the_call_time_is_up():
    """One call of the grader's function that outlasts the call's time (its work on the student's
    arguments) is the last: the next is not started, and the call ends at its time limit."""
    seen = []

    def graders_step(x):
        seen.append(time.monotonic())
        time.sleep(1.5)
        return x

    with sandbox("""
        def train(x):
            for _ in range(5):
                x = step(x)
            return x
    """, call_seconds=1.0) as student:
        with pytest.raises(SandboxError, match="time"):
            student.call("train", [np.zeros(2)], bind={"step": graders_step})
    assert len(seen) == 1


def test_a_notebook_function_called_here_runs_under_this_process_numpy_error_handling():
    """As in one kernel: a test cell's ``np.errstate`` holds in the student's process during the call,
    and the warnings the call raised there are counted."""
    with sandbox("import numpy as np\ndef grow(x):\n    return np.exp(x)\n") as student:
        grow = student.get("grow")
        with np.errstate(over="raise"), pytest.raises(StudentError, match="FloatingPointError"):
            grow(np.array([1000.0]))
        with np.errstate(over="ignore"):
            assert np.isinf(grow(np.array([1000.0]))[0]) and grow.warned == 0
        with np.errstate(over="warn"):
            assert np.isinf(grow(np.array([1000.0]))[0]) and grow.warned == 1


def test_notebook_names_can_be_read_set_and_deleted_from_the_grader():
    with sandbox("""
        answer = {"k": [1, 2.5, "x"]}
        def double(x):
            return 2 * helper(x)
        def helper(x):
            return x
    """) as student:
        assert student.get("answer") == {"k": [1, 2.5, "x"]}
        double = student.get("double")
        assert double(4) == 8  # a function of the notebook, called from here
        helper = student.get("helper")
        student.set({"helper": lambda x: x + 1})
        assert double(4) == 10
        student.set({"helper": helper})
        assert double(4) == 8
        assert student.delete("helper") and not student.delete("helper")
        with pytest.raises(StudentError, match="NameError"):
            double(4)
        with pytest.raises(NameError):
            student.get("helper")


def test_cannot_import_the_kit_or_site_packages():
    with sandbox(
        "import solutions",
        "import autograder",
        """
        import sys
        def paths():
            return any("site-packages" in path or "/work/" in path for path in sys.path[1:])
        def numpy_works():
            return float(np.linalg.norm(np.ones(4)))
    """,
    ) as student:
        assert student.call("paths", []).values == [False]
        assert student.call("numpy_works", []).values == [2.0]
    assert "No module named 'solutions'" in student.cell_errors[1]
    assert "No module named 'autograder'" in student.cell_errors[2]


def test_forged_junk_reply_is_a_sandbox_error():
    forged = "import json, struct, os, sys\n" + textwrap.dedent("""
        def f():
            head = json.dumps({"results": [{"value": {"t": "array", "i": 9}, "args": []}], "arrays": []})
            os.write(int(sys.argv[2]), struct.pack(">Q", len(head)) + head.encode())
            while True:
                pass
    """)
    with sandbox(forged, call_seconds=2) as student, pytest.raises(SandboxError):
        student.call("f", [])


def test_without_layers_close_still_kills_the_process_group(tmp_path):
    marker = f"sandbox-close-{uuid.uuid4().hex}"
    spawn = textwrap.dedent(f"""
        import subprocess, sys
        def spawn():
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
            return 1
    """)
    with sandbox(spawn, layers=Layers()) as student:  # no layer: the subreaper is the last line
        assert student.call("spawn", []).values == [1]
        assert wait_for(lambda: processes_with(marker))  # the sleeper runs
    # The kill is sent by close(); the kernel ends the process a moment later.
    assert wait_for(lambda: not processes_with(marker))


DEEP_TREE = """
import os
here = os.getcwd()
for _ in range(3000):  # deeper than Python 3.11's shutil.rmtree can descend
    os.mkdir("d")
    os.chdir("d")
os.chdir(here)
def f():
    return 1
"""


def test_a_folder_tree_too_deep_for_rmtree_is_removed_and_nothing_it_links_to(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kept").write_text("kept")
    (tmp_path / "tree").mkdir()
    os.symlink(outside, tmp_path / "tree" / "link")
    folder = os.open(tmp_path / "tree", os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(3000):  # relative to the folder above: the whole path is beyond PATH_MAX
        os.mkdir("d", dir_fd=folder)
        below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
        os.close(folder)
        folder = below
    os.close(folder)
    try:
        remove_tree(tmp_path / "tree")
        assert not (tmp_path / "tree").exists() and (outside / "kept").read_text() == "kept"
    finally:  # else pytest's own clean-up of old temporary folders would meet the tree, and fail
        subprocess.run(["rm", "-rf", "--", tmp_path / "tree"], check=True)


def test_closing_a_sandbox_whose_student_made_a_deep_tree_removes_its_folder(every_layer):
    """Without namespaces the scratch folder is on disk (as on host b): its removal must not fail."""
    layers = every_layer.without("namespaces", "as on host b").without("own uid", "as on host b")
    with sandbox(DEEP_TREE, layers=layers) as student:
        assert student.call("f", []).values == [1]
        folder = student._own
        assert folder.is_dir()
    assert not folder.exists()


def wait_for(condition, seconds: float = 60) -> bool:
    """Whether ``condition()`` comes true; the bound guards against a hang, far above the moments
    waited for here, and measures nothing."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


GRADER_FAULT = """
import sys
from autograder.sandbox import child
def broken(self):
    raise OSError(22, "no such layer on this host")
child.Plan._setup = broken
from autograder.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_sandbox_that_cannot_be_set_up_is_the_graders_fault_not_the_students(tmp_path):
    """Exit status 3, the reason on stderr, no results file: never a 0 for the student."""
    from corpus import SOURCE

    results = tmp_path / "results.json"
    process = subprocess.run(
        [sys.executable, "-c", GRADER_FAULT, str(SOURCE), "--results", str(results)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 3, process.stderr
    assert "grader error, not the student's" in process.stderr
    assert "no such layer on this host" in process.stderr
    assert not results.exists()


def test_a_host_without_file_isolation_refuses_unless_allowed(tmp_path):
    from corpus import SOURCE

    env = dict(os.environ, AUTOGRADER_NO_ISOLATION="1")
    command = [sys.executable, "-m", "autograder", str(SOURCE), "--results", str(tmp_path / "r.json")]
    refused = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert (
        refused.returncode == 3
        and "refusing to grade" in refused.stderr
        and "--allow-unisolated" in refused.stderr
    )
    assert not (tmp_path / "r.json").exists()
    allowed = subprocess.run(
        [*command, "--allow-unisolated"], capture_output=True, text=True, env=env, timeout=600
    )
    assert allowed.returncode in (0, 1), allowed.stderr
    report = json.loads((tmp_path / "r.json").read_text())["extra_data"]["isolation"]
    assert report["layers"] == ["rlimits"] and report["hides_files"] is False


PRESTART = ("", "second", "third")
PRINTS_WHEN_RUN = "print('the cells ran')\ndef relu(x):\n    return x\ndef train():\n    return 7\n"


def prestarted(layers: Layers) -> Sandbox:
    return Sandbox([Cell(1, PRINTS_WHEN_RUN)], Limits(call_seconds=5.0, submission_seconds=30.0), layers,
                   prestart=PRESTART)


def test_started_processes_run_no_student_code_before_their_turn(every_layer):
    with prestarted(every_layer) as student:
        student.start()
        assert set(student._spares) == set(PRESTART)  # all launched at once, none greeted yet
        assert student.call("relu", [2.0]).values == [2.0]
        assert set(student._spares) == {"second", "third"}
        assert all(spare.process.poll() is None for spare in student._spares.values())
        assert student.output.count("the cells ran") == 1  # only the process whose turn it is
        assert student.call("train", [], process="third").values == [7]
        assert student.output.count("the cells ran") == 2
        waiting = student._spares["second"].process
    assert waiting.returncode is not None  # close ends the processes that never had a turn


def test_a_started_process_that_died_waiting_is_replaced(every_layer):
    with prestarted(every_layer) as student:
        student.start()
        student.call("relu", [1.0])
        spare = student._spares["third"].process
        os.killpg(spare.pid, 9)
        spare.wait()
        assert student.call("train", [], process="third").values == [7]


def test_without_namespaces_only_one_process_is_started_at_a_time(every_layer):
    # (without its own user too: that user could not reach this machine's interpreter outside a minimal root)
    layers = every_layer.without("namespaces", "a test").without("own uid", "a test")
    with prestarted(layers) as student:
        student.start()
        assert set(student._spares) == {""}
        assert student.call("relu", [3.0]).values == [3.0] and not student._spares
        assert student.call("train", [], process="third").values == [7]
        assert student.output.count("the cells ran") == 2
