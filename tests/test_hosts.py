"""The attack corpus on the four kinds of host this machine can stand in for.

- (a) root with every capability, as this machine;
- (b) a container's root (``capsh --drop=cap_sys_admin``) grading with the kit's own ``.venv``,
  whose interpreter sits under ``/root`` (mode 0700): no user of its own can run it without a
  minimal root, so student code runs as uid 0 without capabilities, owner of every file of root's;
- (B) the same container's root with a venv of Debian's ``/usr/bin/python3`` that every user can
  read, as Gradescope's ``run_autograder`` sees it: student code runs as a user of its own;
- (c) an unprivileged user without a home (``setpriv`` to ``nobody``), as on a laptop or a GitHub
  runner, with a venv that user owns: student code runs as that user, owner of NumPy's files.

Every host grades from copies of the kit and MNIST staged in a folder of ``/tmp`` every user can
read (``tests/staging.py``). Beside the runs, each host has a bystander (a ``sleep`` of the
grader's user) and a victim (a 0600 file of the grader's user outside every allowed folder):
after the runs, the bystander, pid 1, the victim, NumPy's ``__init__.py`` and the interpreter of
each host must be as they were (limits, nice value, CPU set, scheduling, I/O class; mode, owner,
times, links, extended attributes).

On each host every attack scores what the corpus says (no more than its honest twin), the
isolation report names the layers the host allows, nothing of the run outlives it, and the
grading process stays under a memory bound. Host (a) grades the whole corpus in
test_grader.py; here it grades what only this file looks at (files and processes outside the
grader) and the amplifying files, and looks at the printed table and leaked material of that
corpus's runs. By default host (c), which has the fewest layers, takes the attacks that reach
beyond the student's process (every hostile entry with code, and tampering that names a file, a
process or the system); host (B) those that an own user or a control group could change
(processes, memory, output). The attacks of round 3 on metadata, stores, other processes, the
grader's memory and the wire's thread run on every host, and round 4's folder tree too deep for
recursion (on disk where there are no namespaces): on (b), whose layers are (c)'s but
whose student code is root, those are its default; the amplifying files (caps of the grading
process, whatever the host) on (a) and (c).
``pytest --exhaustive`` grades every attack on every other host.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import BY_NAME, ENTRIES, GRADE_IDS, REPOSITORY, SOURCE, build, leaked, round3, round4
from corpus.grading import Graded, graded_once, processes_with, shared_place
from staging import (
    folder_for_everyone,
    give_to,
    numpy_init,
    stage_kit,
    stage_mnist,
    stage_venv,
    system_python_usable,
)

from autograder.sandbox.uids import DEFAULT_BASE

NOBODY = 65534
GRADER_MEMORY_BOUND = 600 * 2**20  # the grading process's own peak (honest runs peak near 150 MB)
CAPSH = [shutil.which("capsh") or "capsh", "--drop=cap_sys_admin", "--", "-c", 'exec "$@"', "container-root"]
PRIVILEGES = {
    "a": [],
    "b": CAPSH,
    "B": CAPSH,
    "c": [shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
          "--inh-caps=-all"],
}
HOSTS = tuple(PRIVILEGES)
# Gradings at a time on each host, all hosts at once: six, as many as two cores serve without a
# hostile entry's honest checks nearing the corpus's 10 s call limit. (a) and (b) grade fewer.
AT_A_TIME = {"a": 1, "b": 1, "B": 2, "c": 2}
GRADER_UID = {"a": 0, "b": 0, "B": 0, "c": NOBODY}
EXPECTED_LAYERS = {
    "a": ["namespaces", "own uid", "landlock", "seccomp", "cgroup", "rlimits"],
    "b": ["landlock", "seccomp", "rlimits"],
    "B": ["own uid", "landlock", "seccomp", "cgroup", "rlimits"],
    "c": ["landlock", "seccomp", "rlimits"],
}
ATTACKS = [e for e in ENTRIES if e.kind in ("hostile", "tampering") and e.assignment == "mnist_mlp"]
OTHER_HOSTS = ("b", "B", "c")
AMPLIFYING = ("forges_a_huge_reply", "huge_notebook", "deeply_nested_notebook", "huge_error_message")
# Round 3's attacks on what outlives the sandbox and what is around it, the wire's thread (the
# grader watches for it through /proc, read differently on each host) and the grader's own
# memory (a budget on its functions' calls): on every host.
EVERYWHERE = (*round3.REACHING_OUT, "forges_replies_from_a_thread", "exhausts_the_grader_through_calls",
              "leaves_a_deep_folder_tree")  # its folder is on disk where there are no namespaces
# Rounds 3 and 4 say themselves which of their attacks each host grades (EVERYWHERE), not SAMPLED.
LATER_ROUNDS = frozenset(entry.name for entry in (*round3.ENTRIES, *round4.ENTRIES))
# Texts and leaks are the same on every host: this file looks at host (a)'s runs of them, which
# test_grader.py grades with the whole corpus (shared with it, graded once in a session).
FROM_THE_CORPUS = ("forges_rows_in_texts", "relu2deriv_greater_or_equal", "leaks_memory_in_messages")
MAX_RESULTS_BYTES = 2**20

# What code needs to reach beyond its own process: a path, the os module, another process.
REACHING = ("open(", "os.", "@REPOSITORY@", "@SHARED@", "@RESULTS@", "subprocess", "socket", "signal",
            "import os", "forge()")
# What code needs to reach another process (host (b)'s student code is root, as most processes are).
OTHER_PROCESS = ("os.kill", "fork", "signal", "socket", "subprocess")
LIMITS = ("--memory", "--output-limit")  # options of the attacks on the limits a cgroup and rlimits hold


def reaches_the_host(entry) -> bool:
    """Whether an attack can act beyond the student's process (its outcome may then depend on
    the host's layers): every hostile entry with code, and tampering whose code reaches out.
    A file whose attack is its own structure (``raw``: odd metadata, a huge or deep notebook) is
    read by the grader before any student code runs, whatever the layers."""
    if entry.raw is not None:
        return False
    sources = [*entry.replace.values(), *entry.append]
    return entry.kind == "hostile" or any(word in source for source in sources for word in REACHING)


def reaches_another_process(entry) -> bool:
    """Whether an attack's code names another process (a signal, a fork, a socket)."""
    sources = [*entry.replace.values(), *entry.append]
    return any(word in source for source in sources for word in OTHER_PROCESS)


def names_what_is_around(entry) -> bool:
    """Whether an attack's code names something beyond its process (a path, the os module, a
    signal, a socket): what only the host's layers stop. Code that only loops, exits or
    imports is stopped by the limits and the seccomp filter alike on every host (``--exhaustive``
    grades it on (c) too)."""
    sources = [*entry.replace.values(), *entry.append]
    return any(word in source for source in sources for word in REACHING)


def meets_a_limit(entry) -> bool:
    """Whether an attack fills memory or output (a limit an own user or a control group adds to)."""
    return any(option in entry.options for option in LIMITS)


def meets_a_limit_or_a_process(entry) -> bool:
    """Whether an attack's outcome depends on what an own user and a control group add: it names
    another process, or fills memory or output."""
    return reaches_another_process(entry) or any(option in entry.options for option in LIMITS)


# Which attacks, beyond round 3's and the amplifying ones, each host grades by default: (c) has the
# fewest layers (Landlock and seccomp alone, student code of the grader's own user), so every
# attack that reaches beyond the process; (B) those an own user or a control group could change.
# (b) has (c)'s layers, its student code root instead of the grader's user: what that changes is
# what round 3 attacks (root's files and processes), the rest is (c)'s with --exhaustive.
SAMPLED = {"b": lambda entry: False, "B": meets_a_limit_or_a_process,
           "c": lambda e: reaches_the_host(e) and (names_what_is_around(e) or meets_a_limit(e))}


def attacks_on(host: str, config: pytest.Config) -> list[str]:
    """The attacks graded on ``host`` (see the module's docstring and ``SAMPLED``)."""
    exhaustive = config.getoption("exhaustive")
    # The grading process's caps do not depend on the host's layers: by default on (a) and on
    # (c), the host with the fewest layers.
    chosen = {*EVERYWHERE, *(AMPLIFYING if exhaustive or host in ("a", "c") else ())}
    if host == "a":
        return [e.name for e in ATTACKS if e.name in chosen]
    sampled = SAMPLED[host]
    return [e.name for e in ATTACKS
            if exhaustive or e.name in chosen or (sampled(e) and e.name not in LATER_ROUNDS)]


def twins_of(names: list[str]) -> list[str]:
    """The honest twins the attacks ``names`` are measured against, and the reference."""
    return sorted({BY_NAME[n].no_better_than for n in names if BY_NAME[n].no_better_than} | {"reference"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "attack" in metafunc.fixturenames:
        pairs = [(host, name) for host in HOSTS for name in attacks_on(host, metafunc.config)]
        metafunc.parametrize(("host", "attack"), pairs, ids=[f"{h}-{n}" for h, n in pairs])
    if "amplified" in metafunc.fixturenames:
        pairs = [(host, name) for host in HOSTS for name in attacks_on(host, metafunc.config)
                 if name in AMPLIFYING]
        metafunc.parametrize("amplified", pairs, ids=[f"{h}-{n}" for h, n in pairs])


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not system_python_usable(),
                       reason="standing in for other hosts needs root and Debian's python3 (3.11 or newer)"),
    pytest.mark.timeout(1800),  # the first test waits for the whole attack corpus on four hosts
]


@dataclass(frozen=True)
class Stage:
    """What the hosts' runners read, in a folder every user can read: the clone itself may be
    in a folder only its owner can open (``tests/staging.py``)."""

    root: Path  # also holds the runs, in runs/, and the victims, in victims/
    kit: Path  # for PYTHONPATH: the kit's packages and notebooks, host_runner.py
    python: dict[str, Path]  # each host's interpreter
    mnist: Path


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    with folder_for_everyone("autograder-hosts-") as root:
        debian = stage_venv(root)
        owned = stage_venv(root, "venv-nobody", owner=NOBODY)
        kit_venv = Path(sys.executable)  # the kit's own .venv: its interpreter under /root
        pythons = {"a": kit_venv, "b": kit_venv, "B": debian, "c": owned}
        yield Stage(root, stage_kit(root), pythons, stage_mnist(root))


@dataclass(frozen=True)
class HostRun:
    results: dict
    returncode: int
    stdout: str
    stderr: str

    @property
    def grader_peak(self) -> int:
        """The grading process's own peak memory, as it reports it (its children not counted)."""
        return int(self.results.get("extra_data", {}).get("grader_peak_bytes", 0))

    @property
    def failed(self) -> frozenset[str]:
        return frozenset(t["name"] for t in self.results.get("tests", []) if t["status"] != "passed")


@dataclass(frozen=True)
class Runs:
    """Every host's runs, and what was seen around them before and after."""

    graded: dict[tuple[str, str], HostRun]
    marker: str
    root: Path
    before: dict[str, dict]
    after: dict[str, dict]
    groups: list[Path]  # the control groups the runners ran in (empty without cgroup v1)

    def get(self, host: str, name: str) -> HostRun:
        return self.graded[(host, name)]


# ----------------------------------------------------------------------------- around the runs


def victim_of(root: Path, host: str) -> Path:
    """A file of ``host``'s grader user, mode 0600, outside every folder a sandbox allows."""
    folder = root / "victims" / host
    folder.mkdir(parents=True)
    victim = folder / "victim"
    victim.write_text("a file of the grader's user\n")
    victim.chmod(0o600)
    folder.chmod(0o755)
    give_to(folder, GRADER_UID[host])
    return victim


def file_state(path: Path) -> dict:
    """What an attack on a file's metadata could change: mode, owner, links, size, times (not
    the access time, which reading sets), extended attributes."""
    st = os.stat(path, follow_symlinks=False)
    try:
        attributes = {name: os.getxattr(path, name, follow_symlinks=False)
                      for name in os.listxattr(path, follow_symlinks=False)}
    except OSError:
        attributes = None
    return {"mode": oct(st.st_mode), "owner": (st.st_uid, st.st_gid), "links": st.st_nlink,
            "size": st.st_size, "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns, "xattrs": attributes}


def watched_files(stage: Stage, host: str, victim: Path) -> list[Path]:
    python = stage.python[host]
    return [numpy_init(python), Path(os.path.realpath(python)), victim, victim.parent]


IOPRIO_GET = {"x86_64": 252, "aarch64": 31}.get(os.uname().machine, -1)
_libc = ctypes.CDLL(None, use_errno=True)


def process_state(pid: int) -> dict:
    """What an attack on another process could change: its limits, nice value, CPU set,
    scheduling policy and I/O class, and whether it runs (not stopped, not dead)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return {"state": fields[0], "nice": int(fields[16]), "limits": Path(f"/proc/{pid}/limits").read_text(),
            "affinity": sorted(os.sched_getaffinity(pid)), "policy": os.sched_getscheduler(pid),
            "ioprio": _libc.syscall(IOPRIO_GET, 1, pid)}


def start_bystander(host: str) -> subprocess.Popen:
    """A ``sleep`` of ``host``'s grader user, with a nice value and core-file limit of its own."""
    uid = GRADER_UID[host]

    def become() -> None:
        os.nice(4)
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (4096, 4096))
        if uid:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    bystander = subprocess.Popen(["sleep", "3600"], preexec_fn=become, stdin=subprocess.DEVNULL)
    for _ in range(1000):  # until it sleeps: started, its user set, sleep executed
        executed = Path(f"/proc/{bystander.pid}/comm").read_text() == "sleep\n"
        if executed and process_state(bystander.pid)["state"] == "S":
            break
        time.sleep(0.01)
    return bystander


def observe(stage: Stage, bystanders: dict[str, subprocess.Popen], victims: dict[str, Path]) -> dict:
    """Each host's bystander and watched files, and pid 1 (under the key ``"1"``)."""
    seen = {host: {"bystander": process_state(bystanders[host].pid),
                   "files": {str(p): file_state(p) for p in watched_files(stage, host, victims[host])}}
            for host in HOSTS}
    pid_1 = process_state(1)
    seen["1"] = {key: value for key, value in pid_1.items() if key != "state"}  # init's own coming and going
    return seen


# ----------------------------------------------------------------------------- the runs


def prepare(host: str, name: str, root: Path, values: dict[str, str]) -> dict:
    """Build the entry's notebook in ``root/host/name`` (open to every user); its job for
    ``host_runner.py``."""
    entry = BY_NAME[name]
    folder = root / host / name
    folder.mkdir(parents=True)
    results = folder / "results.json"
    submission = build(entry, folder / f"{name}.ipynb", {**values, "RESULTS": str(results)})
    for path in (folder, folder.parent, root, submission):
        path.chmod(0o777)
    argv = [str(submission), "--results", str(results), "--assignment", entry.assignment, *entry.options]
    return {"folder": str(folder), "argv": argv, "timeout": 900}


def grade_as(host: str, jobs: list[dict], stage: Stage, root: Path, groups: list[Path]) -> None:
    """Run ``jobs`` through ``host_runner.py`` as ``host`` (it and its grading processes
    with the host's privileges and interpreter), with the staged kit and MNIST, inside the
    control groups ``groups`` (so that the sandboxes' groups are made below them)."""
    if not jobs:
        return
    jobs_file = root / f"jobs-{host}-{uuid.uuid4().hex}.json"
    jobs_file.write_text(json.dumps(jobs))
    jobs_file.chmod(0o644)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(stage.kit), "MNIST_DATA_DIR": str(stage.mnist),
           "TMPDIR": str(root / "tmp"), "LANG": "C.UTF-8"}
    command = [*PRIVILEGES[host], str(stage.python[host]), str(stage.kit / "tests" / "host_runner.py"),
               str(jobs_file), str(AT_A_TIME[host])]
    process = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=1500,
                             preexec_fn=lambda: join_groups(groups))
    assert process.returncode == 0, process.stderr[-3000:]


def finished(job: dict) -> HostRun:
    folder = Path(job["folder"])
    results = folder / "results.json"
    written = json.loads(results.read_text()) if results.exists() else {}
    status = (folder / "status").read_text()
    return HostRun(written, int(status) if status != "None" else -1, (folder / "stdout.txt").read_text(),
                   (folder / "stderr.txt").read_text())


def grade_everywhere(jobs: dict[str, list[dict]], stage: Stage, root: Path, groups: list[Path]) -> None:
    """Every host's jobs, the hosts at the same time."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        runners = [pool.submit(grade_as, host, listed, stage, root, groups) for host, listed in jobs.items()]
        for runner in runners:
            runner.result()


def run_folder(stage: Stage) -> Path:
    root = stage.root / "runs"
    root.mkdir()
    (root / "tmp").mkdir(mode=0o1777)
    (root / "tmp").chmod(0o1777)
    root.chmod(0o777)
    return root


def graded_in_turn(names: dict[str, list[str]], values: dict[str, dict[str, str]], stage: Stage,
                   root: Path, groups: list[Path]) -> dict[tuple[str, str], HostRun]:
    """Every host's entries, the hosts at the same time; an entry graded ``after`` another (a next
    submission) in a second round, built from that one's results on the same host."""
    graded: dict[tuple[str, str], HostRun] = {}
    for later in (False, True):
        jobs = {host: {} for host in HOSTS}
        for host in HOSTS:
            for name in (n for n in names[host] if bool(BY_NAME[n].after) == later):
                earlier = BY_NAME[name].after
                extra = {"LEAKED": leaked(graded[(host, earlier)].results)} if earlier else {}
                jobs[host][name] = prepare(host, name, root, {**values[host], **extra})
        grade_everywhere({host: list(listed.values()) for host, listed in jobs.items()}, stage, root, groups)
        graded |= {(host, n): finished(job) for host, listed in jobs.items() for n, job in listed.items()}
    return graded


@pytest.fixture(scope="module")
def host_runs(request, stage: Stage) -> Iterator[Runs]:
    root = run_folder(stage)
    marker = f"host-marker-{uuid.uuid4().hex}"
    listed = {host: attacks_on(host, request.config) for host in HOSTS}
    names = {host: sorted({*twins_of(attacks), *attacks}, key=lambda n: -BY_NAME[n].max_seconds)
             for host, attacks in listed.items()}
    victims = {host: victim_of(stage.root, host) for host in HOSTS}
    bystanders = {host: start_bystander(host) for host in HOSTS}
    groups = runner_groups(marker)
    try:
        before = observe(stage, bystanders, victims)
        values = {host: {"MARKER": marker, "VICTIM": str(victims[host]),
                         "BYSTANDER": str(bystanders[host].pid)} for host in HOSTS}
        graded = graded_in_turn(names, values, stage, root, groups)
        after = observe(stage, bystanders, victims)
    finally:
        for bystander in bystanders.values():
            bystander.kill()
            bystander.wait()
    yield Runs(graded, marker, root, before, after, groups)
    for group in groups:
        with contextlib.suppress(OSError):
            group.rmdir()


# ----------------------------------------------------------------------------- scores and bounds


def test_attack_gains_nothing_on_host(host_runs, host, attack):
    entry, run = BY_NAME[attack], host_runs.get(host, attack)
    assert run.results, f"no results (exit {run.returncode}): {run.stderr[-2000:]}"
    if entry.loses is not None:
        assert run.failed == entry.loses, json.dumps(run.results["tests"], indent=1)[:4000]
    else:
        twin = host_runs.get(host, entry.no_better_than)
        assert run.results["score"] <= twin.results["score"]
        assert twin.failed <= run.failed
    assert 0 < run.grader_peak < GRADER_MEMORY_BOUND


def test_the_grading_process_stays_bounded(host_runs, amplified):
    """Forged replies, huge or deep notebooks and huge messages: graded, with bounded memory and output."""
    host, name = amplified
    run = host_runs.get(host, name)
    assert run.results and run.failed == BY_NAME[name].loses
    assert 0 < run.grader_peak < GRADER_MEMORY_BOUND
    assert len(json.dumps(run.results)) < MAX_RESULTS_BYTES


@pytest.mark.parametrize("host", HOSTS)
def test_honest_twins_keep_their_scores_on_host(host_runs, host, pytestconfig):
    for name in twins_of(attacks_on(host, pytestconfig)):
        run = host_runs.get(host, name)
        assert run.failed == BY_NAME[name].loses, (name, run.stderr[-1000:])


@pytest.mark.parametrize("host", HOSTS)
def test_isolation_report_names_the_hosts_layers(host_runs, host):
    isolation = host_runs.get(host, "reference").results["extra_data"]["isolation"]
    assert [layer.split(" (")[0] for layer in isolation["layers"]] == EXPECTED_LAYERS[host]
    assert isolation["hides_files"] is True
    assert ("namespaces" in isolation["missing"]) == (host != "a")


# ----------------------------------------------------------------------------- what is around the runs


@pytest.mark.parametrize("host", HOSTS)
def test_files_outside_the_sandbox_keep_their_metadata(host_runs, host):
    """NumPy's files, the interpreter and a 0600 file of the grader's user (and its folder) keep
    their mode, owner, links, times and extended attributes, whatever the attacks tried."""
    before, after = host_runs.before[host]["files"], host_runs.after[host]["files"]
    assert after == before
    victim = next(path for path in before if path.endswith("/victim"))
    assert before[victim]["mode"] == oct(0o100600) and before[victim]["owner"] == (GRADER_UID[host],) * 2


@pytest.mark.parametrize("host", HOSTS)
def test_a_bystander_of_the_graders_user_is_untouched(host_runs, host):
    """Its limits, nice value, CPU set, scheduling and I/O class as they were, and still running."""
    before, after = host_runs.before[host]["bystander"], host_runs.after[host]["bystander"]
    assert after == before
    assert after["state"] == "S" and after["nice"] == 4 and "4096" in after["limits"]


def test_pid_1_is_untouched(host_runs):
    assert host_runs.after["1"] == host_runs.before["1"]


@pytest.mark.parametrize("host", HOSTS)
def test_the_attacks_on_what_is_around_ran_and_none_stuck(host_runs, host):
    """The control for the three tests above: on each host each attack ran to its end and said
    so (a last cell that fails: a note, which costs nothing) with the list of what it changed,
    as the user the host gives student code (its own, root on (b), the grader's on (c))."""
    for name, said in (("stores_in_file_metadata", "stuck"), ("reaches_other_processes", "reached"),
                       ("changes_files_outside", "changed")):
        run = host_runs.get(host, name)
        assert f"{host_runs.marker} {said}: []" in run.results.get("output", ""), (name, run.stderr[-1000:])
        assert run.failed == frozenset()
    output = host_runs.get(host, "reaches_other_processes").results["output"]
    uid = int(re.search(r"reached: \[\] as uid (\d+)", output).group(1))
    if host in ("a", "B"):
        assert uid >= DEFAULT_BASE
    else:
        assert uid == {"b": 0, "c": NOBODY}[host]


def test_nothing_outlives_the_runs_on_any_host(host_runs):
    marker, root = host_runs.marker, host_runs.root
    assert processes_with(marker) == []
    folders = (Path("/tmp"), Path("/dev/shm"), root / "tmp")
    leftovers = [path for folder in folders for path in folder.glob(f"*{marker}*")]
    assert leftovers == []
    assert not list((root / "tmp").glob("autograder-*"))  # every sandbox folder removed
    assert all(leftover_groups(group) == [] for group in host_runs.groups)
    assert host_runs.groups or leftover_groups(Path("/sys/fs/cgroup")) == []


def runner_groups(marker: str) -> list[Path]:
    """A control group of this test's own in each cgroup v1 hierarchy the sandbox uses (memory,
    pids), for the host runners: the sandboxes' groups are made below their grading process's,
    so whatever they leave is found there and not confused with another test's. Empty where
    cgroup v1 is not mounted (then the whole tree is searched)."""
    made = []
    for controller in ("memory", "pids"):
        folder = Path("/sys/fs/cgroup") / controller / f"hosts-{marker}"
        with contextlib.suppress(OSError):
            folder.mkdir()
            made.append(folder)
    return made


def join_groups(groups: list[Path]) -> None:
    """Move this process into ``groups`` (run in the runner's child before it takes the host's
    privileges)."""
    for group in groups:
        (group / "cgroup.procs").write_text(str(os.getpid()))


def leftover_groups(under: Path) -> list[Path]:
    """Control groups of sandboxes below ``under`` whose grading process is gone (their names
    carry its pid)."""
    found = []
    for folder in under.rglob("autograder-*-*"):
        parts = folder.name.split("-")
        if folder.is_dir() and parts[0] == "autograder" and parts[1].isdigit():
            if not Path(f"/proc/{parts[1]}").exists():
                found.append(folder)
    return found


# ----------------------------------------------------------------------------- texts and leaks (host a)


@dataclass(frozen=True)
class CorpusRuns:
    """Host (a)'s runs of ``FROM_THE_CORPUS`` and the marker their sources used."""

    runs: dict[str, Graded]
    marker: str


@pytest.fixture(scope="module")
def corpus_runs() -> CorpusRuns:
    """Taken from test_grader.py's corpus where it is graded in the same session (pytest-xdist),
    else graded here."""
    root, marker = shared_place()
    (root / "tmp").mkdir(exist_ok=True)
    env = {"TMPDIR": str(root / "tmp")}
    return CorpusRuns({name: graded_once(BY_NAME[name], root, marker, env, wait=True)
                       for name in FROM_THE_CORPUS}, marker)

# Characters that end, rewrite or turn a line around (a line feed aside: messages have lines).
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
GRADER_LINES = ("FAIL ", "your cell", "cell ", "Task ", "given cell", "the submission printed")


def strings_in(value) -> Iterator[str]:
    """Every string of a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def inside_quotes(line: str, start: int) -> bool:
    """Whether position ``start`` of ``line`` lies between two unescaped double quotes."""
    inside, escaped = False, False
    for char in line[:start]:
        if char == '"' and not escaped:
            inside = not inside
        escaped = char == "\\" and not escaped
    return inside


def test_student_texts_stay_one_quoted_line(corpus_runs):
    """A class name, messages, an exit code, a SyntaxError and printed output full of newlines, a
    forged table, ANSI escapes and bidi overrides: the table has its own rows only, the results
    no raw control character, and every student text sits inside quotes on a grader's line."""
    run, twin = corpus_runs.runs["forges_rows_in_texts"], corpus_runs.runs["relu2deriv_greater_or_equal"]
    marker = corpus_runs.marker
    assert run.results["score"] == twin.results["score"] and run.failed == twin.failed
    rows = [line.split()[0] for line in run.stdout.splitlines() if re.match(r"(test_\w+|total) +\d", line)]
    assert rows == [*GRADE_IDS, "total"]
    assert f"total {twin.results['score']:g}/100" in " ".join(run.stdout.split())
    assert not UNSAFE.search(run.stdout)
    shown = [line for line in run.stdout.splitlines() if marker in line]
    assert shown and all(line.strip().startswith(GRADER_LINES) for line in shown), shown
    said = list(strings_in(run.results))
    assert not any(UNSAFE.search(text) for text in said)
    lines = [line for text in said for line in text.splitlines() if marker in line]
    assert len(lines) >= 5  # the three calls' failures, the two load errors: each where it was said
    for line in lines:
        assert not line.lstrip().startswith((marker, "total", "test_", "PASS", "Score")), line
        assert all(inside_quotes(line, found.start()) for found in re.finditer(re.escape(marker), line)), line


def decoded_leaks(text: str) -> list[bytes]:
    """The payloads the leaking entry put into its messages, decompressed as far as each goes."""
    found = []
    for payload in re.findall(r"LEAK[\w-]*:([A-Za-z0-9+/=]+)", text):
        try:
            raw = base64.b64decode(payload + "=" * (-len(payload) % 4))
            found.append(zlib.decompressobj().decompress(raw))
        except (ValueError, zlib.error):
            continue
    return found


def hidden_lines() -> list[str]:
    """Lines of the reference and of the hidden checks that nothing the student process is given
    holds (the source notebook, the visible checks, the worker): any of them in a student's
    message came from the grader."""
    solutions = REPOSITORY / "solutions" / "mnist_mlp"
    cells = ["".join(cell["source"]) for cell in json.loads(SOURCE.read_text())["cells"]]
    shipped = [*(REPOSITORY / "source" / "mnist_mlp" / "mnist_checks").glob("*.py"),
               REPOSITORY / "autograder" / "worker.py", REPOSITORY / "autograder" / "wire.py"]
    given = "\n".join([*cells, *(path.read_text() for path in shipped)])
    lines = {line.strip() for path in [solutions / "__init__.py", *(solutions / "checks").glob("*.py")]
             for line in path.read_text().splitlines()}
    return sorted(line for line in lines if len(line) >= 30 and line not in given)


def test_leaked_messages_hold_nothing_hidden(corpus_runs):
    """The process's memory searched (gc, the grader's stand-ins' closures, frames, the worker),
    packed into every message it can send: nothing of the reference or the hidden checks comes out,
    though the channel works (its canary arrives). (A next submission built from what came out
    gains nothing: ``uses_leaked_material``, graded by test_grader.py.)"""
    run = corpus_runs.runs["leaks_memory_in_messages"]
    text = json.dumps(run.results) + run.stdout
    payloads = decoded_leaks(text)
    canary = f"canary-{corpus_runs.marker[::-1]}".encode()
    assert any(canary in payload for payload in payloads), f"{len(payloads)} payloads, none with the canary"
    hidden = hidden_lines()
    assert len(hidden) > 50
    for line in hidden:
        assert line not in text, line
        assert not any(line.encode() in payload for payload in payloads), line
    for fragment in (b"solutions/mnist_mlp", b"checks/test_", b"def reference_run"):
        assert not any(fragment in payload for payload in payloads), fragment


def test_the_attack_corpus_covers_every_route(pytestconfig):
    kinds = {host: set(attacks_on(host, pytestconfig)) for host in HOSTS}
    for needed in ("harvests_the_checkout", "harvests_git_history", "harvests_the_test_corpus",
                   "harvests_classmates", "fills_dev_shm", "carries_references_between_processes",
                   "huge_error_message"):
        assert needed in kinds["c"]
    for needed in ("kills_the_grader", "stops_the_grader", "kills_every_process", "signals_every_pid",
                   "fork_loop", "forks_children_with_memory"):
        assert needed in kinds["B"] and needed in kinds["c"]
    assert {"evaluate_allocates_10_gib", "train_memory_creep", "one_hot_print_flood"} <= kinds["B"]
    for host in HOSTS:
        assert set(EVERYWHERE) <= kinds[host]
        assert set(round3.REACHING_OUT) <= kinds[host]
    assert set(AMPLIFYING) <= kinds["a"] & kinds["c"]
    if pytestconfig.getoption("exhaustive"):
        assert all(set(AMPLIFYING) <= kinds[host] for host in HOSTS)
    assert set(GRADE_IDS) and sys.platform == "linux"
    reaching = {e.name for e in ATTACKS if reaches_the_host(e)}
    assert {"writes_fake_results", "reads_shared_files", "execs_reference_file"} <= reaching
    assert {"patches_builtins", "steals_references_from_memory", "grade_id_is_a_dict_on_code"}.isdisjoint(
        reaching)
