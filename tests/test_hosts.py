"""The attack corpus on the three kinds of host this machine can stand in for.

- (a) root with every capability, as this machine;
- (b) a container's root, as Gradescope's ``run_autograder`` sees it: the grader started
  under ``capsh --drop=cap_sys_admin``, with a venv built from Debian's ``/usr/bin/python3``;
- (c) an unprivileged user without a home (``setpriv`` to ``nobody``), as on a GitHub-hosted
  runner or an instructor's laptop, with the same venv.

On each host every attack scores what the corpus says (no more than its honest twin), the
isolation report names the layers the host allows, nothing of the run outlives it, and the
grading process stays under a memory bound.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import BY_NAME, ENTRIES, GRADE_IDS, REPOSITORY, build
from corpus.grading import processes_with

SYSTEM_PYTHON = Path("/usr/bin/python3")
HOST_VENV = REPOSITORY / "build" / "host-venv"
GRADING_NEEDS = ("numpy", "pytest", "requests", "tqdm")
NOBODY = 65534
GRADER_MEMORY_BOUND = 600 * 2**20  # the grading process's own peak (honest runs peak near 150 MB)
HOSTS = {
    "a": [],
    "b": [shutil.which("capsh") or "capsh", "--drop=cap_sys_admin", "--", "-c", 'exec "$@"',
          "host-b"],
    "c": [shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
          "--inh-caps=-all"],
}
EXPECTED_LAYERS = {
    "a": ["namespaces", "own uid", "landlock", "seccomp", "cgroup", "rlimits"],
    "b": ["own uid", "landlock", "seccomp", "cgroup", "rlimits"],
    "c": ["landlock", "seccomp", "rlimits"],
}
ATTACKS = [e for e in ENTRIES if e.kind in ("hostile", "tampering")]
OTHER_HOSTS = ("b", "c")  # host (a) grades the whole corpus in test_grader.py; here only its bounds
AMPLIFYING = ("forges_a_huge_reply", "huge_notebook", "deeply_nested_notebook", "huge_error_message")
MAX_RESULTS_BYTES = 2**20
TWINS = sorted({e.no_better_than for e in ATTACKS if e.no_better_than} | {"reference"})

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not SYSTEM_PYTHON.exists(),
                       reason="standing in for other hosts needs root and Debian's python3"),
    pytest.mark.timeout(1800),  # the first test waits for the whole attack corpus on two hosts
]


@pytest.fixture(scope="module")
def host_python() -> Path:
    """Debian's interpreter in a venv with what grading imports; built once, kept in build/."""
    HOST_VENV.parent.mkdir(exist_ok=True)
    with open(HOST_VENV.parent / ".host-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = HOST_VENV / "bin" / "python"
        probe = [str(python), "-c", "import " + ", ".join(GRADING_NEEDS)]
        if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
            shutil.rmtree(HOST_VENV, ignore_errors=True)
            subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(HOST_VENV)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", *GRADING_NEEDS], check=True)
    for folder in (REPOSITORY / "build", HOST_VENV):
        folder.chmod(0o755)
    return python


@pytest.fixture(scope="module")
def shared_root() -> Path:
    """A folder every user can reach (pytest's own temporary folders are closed to other users)."""
    root = Path(tempfile.mkdtemp(prefix="autograder-hosts-", dir="/tmp"))
    root.chmod(0o777)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mnist_for_everyone(shared_root: Path) -> Path:
    """A copy of MNIST that an unprivileged user can read."""
    from solutions.data import default_cache_dir

    source = Path(os.environ.get("MNIST_DATA_DIR") or default_cache_dir())
    folder = shared_root / "mnist"
    folder.mkdir(mode=0o755)
    for path in source.glob("*.gz"):
        shutil.copy(path, folder / path.name)
        (folder / path.name).chmod(0o644)
    assert len(list(folder.glob("*.gz"))) == 4, f"MNIST is not in {source}"
    return folder


@dataclass(frozen=True)
class HostRun:
    results: dict
    returncode: int
    stderr: str

    @property
    def grader_peak(self) -> int:
        """The grading process's own peak memory, as it reports it (its children not counted)."""
        return int(self.results.get("extra_data", {}).get("grader_peak_bytes", 0))

    @property
    def failed(self) -> frozenset[str]:
        return frozenset(t["name"] for t in self.results.get("tests", []) if t["status"] != "passed")


def grade_on(host: str, name: str, python: Path, root: Path, marker: str, mnist: Path) -> HostRun:
    entry = BY_NAME[name]
    folder = root / host / name
    folder.mkdir(parents=True)
    results = folder / "results.json"
    submission = build(entry, folder / f"{name}.ipynb", {"RESULTS": str(results), "MARKER": marker})
    for path in (folder, folder.parent, root, submission):
        path.chmod(0o777)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPOSITORY), "MNIST_DATA_DIR": str(mnist),
           "TMPDIR": str(root / "tmp"), "LANG": "C.UTF-8"}
    command = [*HOSTS[host], str(python), "-m", "autograder", str(submission), "--results", str(results),
               *entry.options]
    process = subprocess.run(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True, timeout=900)
    written = json.loads(results.read_text()) if results.exists() else {}
    return HostRun(written, process.returncode, process.stderr)


@pytest.fixture(scope="module")
def host_runs(host_python, mnist_for_everyone, shared_root) -> dict[tuple[str, str], HostRun]:
    root = shared_root / "runs"
    root.mkdir()
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    root.chmod(0o777)
    marker = f"host-marker-{uuid.uuid4().hex}"
    jobs = [(host, name) for host in OTHER_HOSTS for name in [*TWINS, *(e.name for e in ATTACKS)]]
    jobs += [("a", name) for name in ("reference", *AMPLIFYING)]
    jobs.sort(key=lambda job: -BY_NAME[job[1]].max_seconds)
    with ThreadPoolExecutor(3) as pool:
        def run(job: tuple[str, str]) -> HostRun:
            python = Path(sys.executable) if job[0] == "a" else host_python
            return grade_on(*job, python, root, marker, mnist_for_everyone)

        runs = pool.map(run, jobs)
        graded = dict(zip(jobs, runs, strict=True))
    graded[("", "marker")] = marker  # type: ignore[assignment]
    graded[("", "root")] = root  # type: ignore[assignment]
    return graded


@pytest.mark.parametrize("host", OTHER_HOSTS)
@pytest.mark.parametrize("name", [e.name for e in ATTACKS])
def test_attack_gains_nothing_on_host(host_runs, host, name):
    entry, run = BY_NAME[name], host_runs[(host, name)]
    assert run.results, f"no results (exit {run.returncode}): {run.stderr[-2000:]}"
    if entry.loses is not None:
        assert run.failed == entry.loses, json.dumps(run.results["tests"], indent=1)[:4000]
    else:
        twin = host_runs[(host, entry.no_better_than)]
        assert run.results["score"] <= twin.results["score"]
        assert twin.failed <= run.failed
    assert 0 < run.grader_peak < GRADER_MEMORY_BOUND


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("name", AMPLIFYING)
def test_the_grading_process_stays_bounded(host_runs, host, name):
    """Forged replies, huge or deep notebooks and huge messages: graded, with bounded memory and output."""
    run = host_runs[(host, name)]
    assert run.results and run.failed == BY_NAME[name].loses
    assert 0 < run.grader_peak < GRADER_MEMORY_BOUND
    assert len(json.dumps(run.results)) < MAX_RESULTS_BYTES


@pytest.mark.parametrize("host", OTHER_HOSTS)
def test_honest_twins_keep_their_scores_on_host(host_runs, host):
    for name in TWINS:
        run = host_runs[(host, name)]
        assert run.failed == BY_NAME[name].loses, (name, run.stderr[-1000:])


@pytest.mark.parametrize("host", HOSTS)
def test_isolation_report_names_the_hosts_layers(host_runs, host):
    isolation = host_runs[(host, "reference")].results["extra_data"]["isolation"]
    assert [layer.split(" (")[0] for layer in isolation["layers"]] == EXPECTED_LAYERS[host]
    assert isolation["hides_files"] is True
    assert ("namespaces" in isolation["missing"]) == (host != "a")


def test_nothing_outlives_the_runs_on_any_host(host_runs):
    marker, root = host_runs[("", "marker")], host_runs[("", "root")]
    assert processes_with(marker) == []
    folders = (Path("/tmp"), Path("/dev/shm"), root / "tmp")
    leftovers = [path for folder in folders for path in folder.glob(f"*{marker}*")]
    assert leftovers == []
    assert not list((root / "tmp").glob("autograder-*"))  # every sandbox folder removed
    assert leftover_groups() == []


def leftover_groups() -> list[Path]:
    """Control groups of sandboxes whose grading process is gone (their names carry its pid)."""
    found = []
    for folder in Path("/sys/fs/cgroup").rglob("autograder-*-*"):
        parts = folder.name.split("-")
        if folder.is_dir() and parts[0] == "autograder" and parts[1].isdigit():
            if not Path(f"/proc/{parts[1]}").exists():
                found.append(folder)
    return found


def test_the_attack_corpus_covers_every_route():
    kinds = {e.name for e in ATTACKS}
    for needed in ("harvests_the_checkout", "harvests_git_history", "harvests_the_test_corpus",
                   "harvests_classmates", "kills_the_grader", "stops_the_grader", "kills_every_process",
                   "fork_loop", "forks_children_with_memory", "fills_dev_shm",
                   "carries_references_between_processes", "huge_error_message"):
        assert needed in kinds
    assert set(GRADE_IDS) and sys.platform == "linux"
