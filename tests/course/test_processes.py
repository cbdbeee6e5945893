"""Grading processes (autograder/course/processes.py) and the helper processes that start them
where ``multiprocessing`` cannot (autograder/course/servers.py): crashes, hangs and silent ends
reported, each process in its own session, statuses never mixed up, the forkserver's preload,
and a grading server grading from a daemonic process, as on a Dask worker.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grading_entries
import pytest
from corpus import points_of

from autograder.course import processes, servers
from autograder.sandbox import Limits

TOTAL = sum(points_of("mnist_mlp").values())  # every point, as the notebook gives them

REPOSITORY = Path(__file__).resolve().parents[2]
TESTS = REPOSITORY / "tests"
ASSIGNMENT = "mnist_mlp"
SOURCE = REPOSITORY / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def test_a_grader_that_crashes_or_hangs_is_reported_not_fatal(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    crash = processes.Processes(entry=grading_entries.crash)
    run = processes.run_grader(crash, notebook, tmp_path, notebook, Limits(), tmp_path)
    assert run.result is None and "status 3" in run.problem and "(boom)" in run.problem

    limits = Limits(submission_seconds=0.1)
    hang = processes.Processes(entry=grading_entries.hang)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(processes, "GRACE_SECONDS", 0.5)
        run = processes.run_grader(hang, notebook, tmp_path, notebook, limits, tmp_path)
    assert run.result is None and "stopped after 0.6 s" in run.problem  # the limit fired, not the 30 s sleep
    assert list(tmp_path.iterdir()) == [notebook]  # the process's scratch folder is gone


class EndsWithoutAWord:
    """Stands in for ``processes.Processes``: the first ``failures`` processes end with no
    result and nothing on standard error, before opening it (as one the forkserver could not
    start) or after (as one killed outright, status -9); then one grades."""

    stopping = False

    def __init__(self, failures: int, began: bool) -> None:
        self.failures, self.began, self.calls = failures, began, 0

    def run(self, argv, cwd, timeout, stderr_path, stdout_path=None, variables=None) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            if self.began:
                stderr_path.write_text("")
            return -9 if self.began else 1
        stderr_path.write_text("")
        Path(argv[argv.index("--results") + 1]).write_text('{"score": 7.0}')
        return 1


@pytest.mark.parametrize("began, reason", [(False, "status 1 without a result (it ended before it began)"),
                                           (True, "status -9 without a result (no message)")])
def test_a_grading_process_that_ended_without_a_word_is_started_once_more(tmp_path, began, reason):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    once = EndsWithoutAWord(failures=1, began=began)
    run = processes.run_grader(once, notebook, tmp_path, notebook, Limits(), tmp_path)
    assert run.result == {"score": 7.0} and once.calls == 2
    twice = EndsWithoutAWord(failures=2, began=began)
    run = processes.run_grader(twice, notebook, tmp_path, notebook, Limits(), tmp_path)
    assert run.result is None and twice.calls == 2
    assert run.problem == f"the grader exited with {reason}"


def test_a_grading_process_that_says_why_it_failed_is_not_started_again(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    crash = processes.Processes(entry=grading_entries.crash)
    calls = []
    real_run = crash.run
    crash.run = lambda *args, **kwargs: calls.append(1) or real_run(*args, **kwargs)
    run = processes.run_grader(crash, notebook, tmp_path, notebook, Limits(), tmp_path)
    assert run.result is None and "(boom)" in run.problem and len(calls) == 1


def test_a_grading_process_runs_in_its_own_session_in_the_course(tmp_path):
    """The forked grading process: a session of its own (so the batch can kill its group),
    the course as working directory, one BLAS thread, and the forkserver as a parent it dies with."""
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text("{}")
    run = processes.run_grader(processes.Processes(entry=grading_entries.describe), notebook, tmp_path,
                                notebook, Limits(), tmp_path)
    facts = json.loads(run.problem.split("(", 1)[1].rsplit(")", 1)[0])
    assert facts["session"] == facts["pid"] != os.getpid() and facts["cwd"] == str(tmp_path)
    assert facts["blas"] == "1" and facts["pdeathsig"] == signal.SIGKILL and facts["parent"] != os.getpid()


def test_grading_processes_run_side_by_side_each_get_their_own_exit_status(tmp_path):
    """Three threads and two ``Processes`` at once, as a batch with --jobs runs them: every
    status is the one its process ended with. (multiprocessing reads a status from a pipe; when
    two threads polled one process at once, the one that found the pipe emptied reported 255,
    a few times in a hundred.)"""
    pools = [processes.Processes(entry=grading_entries.exit_with) for _ in range(2)]

    def run(index: int) -> tuple[int, int | None]:
        status = 10 + index % 50
        return status, pools[index % 2].run([str(status)], tmp_path, 120, tmp_path / f"stderr-{index}")

    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(run, range(120)))
    assert [got for _, got in statuses] == [wanted for wanted, _ in statuses]


# Grades the notebook in argv[1] in a process that first imports what the forkserver imports,
# and prints, as its last line, the modules the grading imported besides, with their files.
AFTER_PRELOAD = """
import importlib, json, sys
from autograder.course import processes
for name in processes.GRADER_PRELOAD:
    importlib.import_module(name)
before = set(sys.modules)
from autograder.cli import main
main([sys.argv[1], "-q"])
print(json.dumps({name: getattr(module, "__file__", None) or "" for name, module in list(sys.modules.items())
                  if name not in before}))
"""


def test_what_a_grading_imports_the_forkserver_has_imported_already(mnist_env):
    """A grading process forked from the forkserver imports nothing of the kit or of the
    installed libraries again (``GRADER_PRELOAD``), but the check files pytest collects and
    pytest's own plugins: a batch pays for those imports once, not once per notebook."""
    env = dict(mnist_env, AUTOGRADER_WARM=f"{REPOSITORY}::{ASSIGNMENT}")
    process = subprocess.run([sys.executable, "-c", AFTER_PRELOAD, str(SOURCE)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    imported = json.loads(process.stdout.splitlines()[-1])
    installed = (str(REPOSITORY), *{sysconfig.get_paths()[key] for key in ("purelib", "platlib")})
    again = {name for name, file in imported.items() if file.startswith(installed)}
    checks = (str(REPOSITORY / "solutions" / ASSIGNMENT / "checks"),)
    collected = {name for name, file in imported.items() if file.startswith(checks)}
    assert collected  # the probe sees imports: pytest collects the check modules in every grading
    assert {name for name in again - collected if not name.startswith("_pytest.")} == set()


# ----------------------------------------------------------------------------- helper processes

ECHO = "import json, os, sys\nfor line in sys.stdin: print(json.dumps({'pid': os.getpid()}), flush=True)"


def test_a_pool_starts_no_more_helpers_than_its_limit():
    pool = servers.Pool(ECHO, limit=1)
    try:
        with ThreadPoolExecutor(4) as threads:
            replies = list(threads.map(lambda _: pool.ask({}), range(8)))
    finally:
        pool.close()
    assert len({reply["pid"] for reply in replies}) == 1


def test_a_helper_that_fails_is_never_asked_again():
    pool = servers.Pool("import sys\nsys.stdin.readline()\nprint('not json', flush=True)")
    try:
        first, second = pool.ask({}), pool.ask({})
    finally:
        pool.close()
    assert first["error"].startswith("the helper process failed") and "error" in second


def grade_in_a_daemon(folder: str, results: multiprocessing.Queue) -> None:
    """In a daemonic process, as a Dask worker is: try ``Processes`` (``multiprocessing`` refuses),
    then a grading server, whose stand-in grader reads the notebook."""
    notebook = Path(folder) / "nb.ipynb"
    notebook.write_text("a notebook")
    try:
        processes.Processes(entry=grading_entries.exit_with).run(["0"], Path(folder), 60, Path(folder) / "e")
        refused = ""
    except AssertionError as error:
        refused = str(error)
    pool = servers.GradingServers("grading_entries:stand_in_grade", "", {"PYTHONPATH": str(TESTS)})
    try:
        reply = pool.grade(notebook, Path(folder), SOURCE, Limits(), Path(folder), False)
    finally:
        pool.close()
    results.put({"refused": refused, "reply": reply, "daemon": multiprocessing.current_process().daemon})


def test_a_grading_server_grades_from_a_daemonic_process(tmp_path):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    daemon = context.Process(target=grade_in_a_daemon, args=(str(tmp_path), results), daemon=True)
    daemon.start()
    said = results.get(timeout=300)  # a guard against a hang, not a measure
    daemon.join()
    assert said["daemon"] and "daemonic processes are not allowed to have children" in said["refused"]
    assert said["reply"]["problem"] == "" and said["reply"]["result"]["score"] == TOTAL
    assert said["reply"]["result"]["extra_data"]["stand_in"]["path"] == str(tmp_path / "nb.ipynb")


def test_a_grading_server_dies_with_whoever_started_it(tmp_path):
    """The server of a killed starter goes (``PR_SET_PDEATHSIG``), and its forkserver with it."""
    starter = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1])\n"
         "from autograder.course import servers\n"
         "pool = servers.GradingServers('grading_entries:exit_with', '', {})\npool.warm(1)\n"
         "print(pool.pids()[0], flush=True)\ntime.sleep(600)", str(REPOSITORY)],
        stdout=subprocess.PIPE, text=True)
    server = int(starter.stdout.readline())
    assert Path(f"/proc/{server}").exists()
    os.kill(starter.pid, signal.SIGKILL)
    starter.wait()
    for _ in range(600):  # it goes at once; each round is a guard, not a measure
        if not Path(f"/proc/{server}").exists() or _state(server) == "Z":
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{server}").exists() or _state(server) == "Z"


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
