"""A class graded by ``batch`` with round 3's attackers among honest classmates, on host (a) (root,
every layer) and host (c) (an unprivileged user, as on a laptop, with a venv it owns); with
``--exhaustive`` also on (b) (a container's root with the kit's venv under ``/root``) and (B)
(the same with a venv of Debian's interpreter), as ``tests/test_hosts.py`` names them.

The attackers lower the limits and priorities of every process they can name (their classmates'
grading processes included: on (c) all of them run as one user), and change the metadata of a
classmate's submitted notebook. The honest classmates keep the scores they get alone, the
attackers score what the corpus says, the classmate's notebook keeps its metadata, and nothing of
the class outlives the batch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import BY_NAME, REPOSITORY, build, expected_score
from corpus.grading import processes_with
from staging import (
    batch_venv,
    folder_for_everyone,
    give_to,
    stage_kit,
    stage_mnist,
    stage_venv,
    system_python_usable,
)

ASSIGNMENT = "mnist_mlp"
NOBODY = 65534
HONEST = {"honest": "reference", "mistaken": "one_hot_int_dtype"}
ATTACKERS = {  # what could reach a classmate: the grading processes, the submitted files
    "reaches-everyone": "reaches_other_processes",
    "changes-a-classmate": "changes_files_outside",
}
STUDENTS = {**HONEST, **ATTACKERS}
VICTIM_STUDENT = "honest"  # the classmate whose notebook an attacker changes (it must not stick)
SETPRIV = [shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
           "--inh-caps=-all"]
CAPSH = [shutil.which("capsh") or "capsh", "--drop=cap_sys_admin", "--", "-c", 'exec "$@"', "container-root"]
PRIVILEGES = {"a": [], "b": CAPSH, "B": CAPSH, "c": SETPRIV}
HOSTS = ("a", "c")  # by default; --exhaustive: every host of PRIVILEGES

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not system_python_usable(),
                       reason="standing in for an unprivileged host needs root and Debian's python3"),
    pytest.mark.timeout(1200),
]


@dataclass(frozen=True)
class Batch:
    """One host's run of the batch on the class: the course, its marker, what the batch said."""

    course: Path
    marker: str
    process: subprocess.CompletedProcess
    victim_before: dict  # the classmate's notebook before the batch, and after
    victim_after: dict

    def record(self, student: str) -> dict:
        path = self.course / "reports" / ASSIGNMENT / "results" / f"{student}.json"
        return json.loads(path.read_text())["result"]


def notebook_of(course: Path, student: str) -> Path:
    return course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def file_state(path: Path) -> dict:
    """Mode, owner, links, size, modification and change times, extended attributes."""
    st = os.stat(path)
    return {"mode": st.st_mode, "owner": (st.st_uid, st.st_gid), "links": st.st_nlink, "size": st.st_size,
            "mtime": st.st_mtime_ns, "ctime": st.st_ctime_ns, "xattrs": sorted(os.listxattr(path))}


def class_course(top: Path, marker: str) -> Path:
    """A course (this one's ``source/`` and ``nbgrader_config.py``) with the class's submissions;
    the attacker's victim is a classmate's notebook."""
    course = top / "course"
    shutil.copytree(REPOSITORY / "source", course / "source",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "data", "__pycache__"))
    shutil.copy(REPOSITORY / "nbgrader_config.py", course / "nbgrader_config.py")
    victim = notebook_of(course, VICTIM_STUDENT)
    for student, name in STUDENTS.items():
        folder = notebook_of(course, student).parent
        folder.mkdir(parents=True)
        values = {"MARKER": marker, "VICTIM": str(victim), "RESULTS": str(course / "reports")}
        build(BY_NAME[name], folder / f"{ASSIGNMENT}.ipynb", values)
    return course


def environment(top: Path, kit: Path | None, mnist: Path, python: Path) -> dict[str, str]:
    """The batch's environment: Jupyter's and matplotlib's folders in ``top``, never a home; the
    venv's ``bin/`` first on ``PATH`` (nbgrader runs ``alembic``)."""
    folders = {name: top / name.lower() for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR",
                                                     "MPLCONFIGDIR", "TMPDIR")}
    for folder in folders.values():
        folder.mkdir()
    env = {"PATH": f"{python.parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
           "MNIST_DATA_DIR": str(mnist),
           **{name: str(folder) for name, folder in folders.items()}}
    return env | ({"PYTHONPATH": str(kit)} if kit else {})


def run_batch(host: str, course: Path, python: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [str(python), "-m", "autograder", "batch", ASSIGNMENT, "--jobs", "2", "-q",
               "--call-timeout", "20", "--timeout", "120"]
    return subprocess.run([*PRIVILEGES[host], *command], cwd=course, env=env,
                          capture_output=True, text=True, timeout=1100)


def graded_on(host: str, place: Path, kit: Path, mnist: Path) -> Batch:
    """The class graded on ``host`` in ``place``: on (c) everything there, the batch's venv
    included, belongs to the unprivileged user that runs it."""
    marker = f"class-marker-{uuid.uuid4().hex}"
    course = class_course(place, marker)
    staged = host in ("B", "c")  # a venv of Debian's interpreter (on (c) one that user owns)
    python = stage_venv(place, "batch-venv", built=batch_venv()) if staged else Path(sys.executable)
    env = environment(place, kit if staged else None, mnist, python)
    if host == "c":
        give_to(place, NOBODY)
    victim = notebook_of(course, VICTIM_STUDENT)
    before = file_state(victim)
    process = run_batch(host, course, python, env)
    return Batch(course, marker, process, before, file_state(victim))


def hosts(config: pytest.Config) -> tuple[str, ...]:
    return tuple(PRIVILEGES) if config.getoption("exhaustive") else HOSTS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "host" in metafunc.fixturenames:
        metafunc.parametrize("host", hosts(metafunc.config))


@pytest.fixture(scope="module")
def batches(pytestconfig) -> Iterator[dict[str, Batch]]:
    with folder_for_everyone("autograder-class-") as top:
        kit, mnist = stage_kit(top), stage_mnist(top)
        runs = {}
        for host in hosts(pytestconfig):
            (top / host).mkdir()
            runs[host] = graded_on(host, top / host, kit, mnist)
        yield runs


def expected_losses(name: str) -> set[str]:
    """What the entry must lose; for tampering, what its honest twin loses (it may gain nothing)."""
    entry = BY_NAME[name]
    return set(entry.loses if entry.loses is not None else BY_NAME[entry.no_better_than].loses)


def test_the_batch_grades_the_whole_class(batches, host):
    batch = batches[host]
    assert batch.process.returncode == 0, batch.process.stdout[-2000:] + batch.process.stderr[-3000:]
    graded = {path.stem for path in (batch.course / "reports" / ASSIGNMENT / "results").glob("*.json")}
    assert graded == set(STUDENTS)


def test_honest_classmates_keep_their_scores(batches, host):
    batch = batches[host]
    for student, name in HONEST.items():
        result = batch.record(student)
        failed = {t["name"] for t in result["tests"] if t["status"] != "passed"}
        assert failed == expected_losses(name), (student, result["output"])
    assert [batch.record(s)["score"] for s in HONEST] == [expected_score(BY_NAME[n]) for n in HONEST.values()]


def test_attackers_score_what_the_corpus_says(batches, host):
    batch = batches[host]
    for student, name in ATTACKERS.items():
        result = batch.record(student)
        failed = {t["name"] for t in result["tests"] if t["status"] != "passed"}
        assert failed == expected_losses(name), (student, result["output"])
        assert result["extra_data"]["grader_peak_bytes"] < 600 * 2**20
    for student, said in (("reaches-everyone", "reached"), ("changes-a-classmate", "changed")):
        assert f"{batch.marker} {said}: []" in batch.record(student)["output"], student


def test_a_classmates_notebook_keeps_its_metadata(batches, host):
    """The attacker named the file (chmod, utime, xattr, chown, link, rename, truncate, remove):
    its mode, owner, times, links and attributes are as the batch found them."""
    batch = batches[host]
    assert batch.victim_after == batch.victim_before
    assert batch.victim_before["owner"] == ((NOBODY, NOBODY) if host == "c" else (0, 0))


def test_nothing_of_the_class_outlives_the_batch(batches, host):
    marker = batches[host].marker
    assert processes_with(marker) == []
    assert not list(Path("/tmp").glob(f"*{marker}*")) and not list(Path("/dev/shm").glob(f"*{marker}*"))
