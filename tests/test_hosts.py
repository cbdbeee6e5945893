"""The attack corpus on the three kinds of host this machine can stand in for.

- (a) root with every capability, as this machine;
- (b) a container's root, as Gradescope's ``run_autograder`` sees it: the grader started
  under ``capsh --drop=cap_sys_admin``, with a venv built from Debian's ``/usr/bin/python3``;
- (c) an unprivileged user without a home (``setpriv`` to ``nobody``), as on a GitHub-hosted
  runner or an instructor's laptop, with the same venv.

Every host grades from copies of the kit, that venv and MNIST staged in a folder of ``/tmp``
every user can read (``tests/staging.py``): the clone may be in a folder only its owner can
open, which ``nobody`` could not read and where host (b)'s student processes, run as a user of
their own, could not read NumPy.

On each host every attack scores what the corpus says (no more than its honest twin), the
isolation report names the layers the host allows, nothing of the run outlives it, and the
grading process stays under a memory bound. Host (a) grades the whole corpus in
test_grader.py. On hosts (b) and (c), which differ from (a) only in the layers around the
student's process, the default run takes the attacks that reach beyond that process (every
hostile entry with code, and tampering that names a file, a process or the system), and the
amplifying files; tampering that only fools the checks from inside the process, and a file
whose only attack is its metadata, score the same whatever the layers, and run there with
``pytest --exhaustive``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import BY_NAME, ENTRIES, GRADE_IDS, build
from corpus.grading import processes_with
from staging import folder_for_everyone, stage_kit, stage_mnist, stage_venv, system_python_usable

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

# What code needs to reach beyond its own process: a path, the os module, another process.
REACHING = ("open(", "os.", "@REPOSITORY@", "@SHARED@", "@RESULTS@", "subprocess", "socket", "signal",
            "import os", "forge()")


def reaches_the_host(entry) -> bool:
    """Whether an attack can act beyond the student's process (its outcome may then depend on
    the host's layers): every hostile entry with code, and tampering whose code reaches out.
    A file whose attack is its own structure (``raw``: odd metadata, a huge or deep notebook) is
    read by the grader before any student code runs, whatever the layers."""
    if entry.raw is not None:
        return False
    sources = [*entry.replace.values(), *entry.append]
    return entry.kind == "hostile" or any(word in source for source in sources for word in REACHING)


def attacks_on_other_hosts(config: pytest.Config) -> list[str]:
    """The attacks graded on hosts (b) and (c); the amplifying ones are graded there in any case,
    for the grading process's memory bound (``test_the_grading_process_stays_bounded``)."""
    exhaustive = config.getoption("exhaustive")
    return [e.name for e in ATTACKS if exhaustive or reaches_the_host(e) or e.name in AMPLIFYING]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "attack" in metafunc.fixturenames:
        metafunc.parametrize("attack", attacks_on_other_hosts(metafunc.config))


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not system_python_usable(),
                       reason="standing in for other hosts needs root and Debian's python3 (3.11 or newer)"),
    pytest.mark.timeout(1800),  # the first test waits for the whole attack corpus on two hosts
]


@dataclass(frozen=True)
class Stage:
    """What the hosts' runners read, in a folder every user can read: the clone itself may be
    in a folder only its owner can open (``tests/staging.py``)."""

    root: Path  # also holds the runs, in runs/
    kit: Path  # for PYTHONPATH: the kit's packages and notebooks, host_runner.py
    python: Path  # Debian's interpreter in a venv with what grading imports (hosts b and c)
    mnist: Path


@pytest.fixture(scope="module")
def stage() -> Stage:
    with folder_for_everyone("autograder-hosts-") as root:
        yield Stage(root, stage_kit(root), stage_venv(root), stage_mnist(root))


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


def prepare(host: str, name: str, root: Path, marker: str) -> dict:
    """Build the entry's notebook in ``root/host/name`` (open to every user); its job for
    ``host_runner.py``."""
    entry = BY_NAME[name]
    folder = root / host / name
    folder.mkdir(parents=True)
    results = folder / "results.json"
    submission = build(entry, folder / f"{name}.ipynb", {"RESULTS": str(results), "MARKER": marker})
    for path in (folder, folder.parent, root, submission):
        path.chmod(0o777)
    return {"folder": str(folder), "argv": [str(submission), "--results", str(results), *entry.options],
            "timeout": 900}


def grade_as(host: str, jobs: list[dict], python: Path, stage: Stage, root: Path) -> None:
    """Run ``jobs`` through ``host_runner.py`` as ``host`` (it and its grading processes
    with the host's privileges), with the staged kit and MNIST."""
    jobs_file = root / f"jobs-{host}.json"
    jobs_file.write_text(json.dumps(jobs))
    jobs_file.chmod(0o644)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(stage.kit), "MNIST_DATA_DIR": str(stage.mnist),
           "TMPDIR": str(root / "tmp"), "LANG": "C.UTF-8"}
    command = [*HOSTS[host], str(python), str(stage.kit / "tests" / "host_runner.py"), str(jobs_file)]
    process = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=1500)
    assert process.returncode == 0, process.stderr[-3000:]


def finished(job: dict) -> HostRun:
    folder = Path(job["folder"])
    results = folder / "results.json"
    written = json.loads(results.read_text()) if results.exists() else {}
    status = (folder / "status").read_text()
    return HostRun(written, int(status) if status != "None" else -1, (folder / "stderr.txt").read_text())


@pytest.fixture(scope="module")
def host_runs(request, stage: Stage) -> dict[tuple[str, str], HostRun]:
    root = stage.root / "runs"
    root.mkdir()
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    root.chmod(0o777)
    marker = f"host-marker-{uuid.uuid4().hex}"
    attacks = attacks_on_other_hosts(request.config)
    names = {host: [*TWINS, *attacks] for host in OTHER_HOSTS} | {"a": ["reference", *AMPLIFYING]}
    jobs = {host: {name: prepare(host, name, root, marker)
                   for name in sorted(dict.fromkeys(listed), key=lambda name: -BY_NAME[name].max_seconds)}
            for host, listed in names.items()}
    with ThreadPoolExecutor(len(jobs)) as pool:
        runners = [pool.submit(grade_as, host, list(listed.values()),
                               Path(sys.executable) if host == "a" else stage.python, stage, root)
                   for host, listed in jobs.items()]
        for runner in runners:
            runner.result()
    graded = {(host, name): finished(job) for host, listed in jobs.items() for name, job in listed.items()}
    graded[("", "marker")] = marker  # type: ignore[assignment]
    graded[("", "root")] = root  # type: ignore[assignment]
    return graded


@pytest.mark.parametrize("host", OTHER_HOSTS)
def test_attack_gains_nothing_on_host(host_runs, host, attack):
    entry, run = BY_NAME[attack], host_runs[(host, attack)]
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


def test_the_attack_corpus_covers_every_route(pytestconfig):
    kinds = set(attacks_on_other_hosts(pytestconfig))
    for needed in ("harvests_the_checkout", "harvests_git_history", "harvests_the_test_corpus",
                   "harvests_classmates", "kills_the_grader", "stops_the_grader", "kills_every_process",
                   "fork_loop", "forks_children_with_memory", "fills_dev_shm",
                   "carries_references_between_processes", "huge_error_message"):
        assert needed in kinds
    assert set(GRADE_IDS) and sys.platform == "linux"
    reaching = {e.name for e in ATTACKS if reaches_the_host(e)}
    assert {"writes_fake_results", "reads_shared_files", "execs_reference_file"} <= reaching
    assert {"patches_builtins", "steals_references_from_memory", "grade_id_is_a_dict_on_code"}.isdisjoint(
        reaching)
    assert set(AMPLIFYING) <= kinds
