"""A Dask worker's side (autograder/course/workers.py) and what the batch trusts of it
(``cluster.trusted``), without a cluster: a worker stands in as an object with a folder.

A worker whose host cannot hide the reference refuses, and so does one whose copy of the
assignment did not verify; bytes damaged on the way are not graded; a verdict from another
version of the grader or of the assignment is a grader error, never a grade.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("distributed")

from autograder.course import workers  # noqa: E402 - after the skip, for a kit without the extra
from autograder.course.bundle import Bundle  # noqa: E402
from autograder.course.cluster import trusted  # noqa: E402
from autograder.course.store import grader_version  # noqa: E402
from autograder.sandbox import Layers  # noqa: E402

REPOSITORY = Path(__file__).resolve().parents[2]
NO_HIDING = Layers(seccomp=True, missing={"namespaces": "not root", "landlock": "Linux 5.4"})


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return Bundle.of_course(REPOSITORY, "mnist_mlp", "mnist_mlp", with_mnist=False)


def fake_worker(folder: Path) -> SimpleNamespace:
    return SimpleNamespace(address="tcp://10.0.0.7:4000", local_directory=str(folder),
                           state=SimpleNamespace(nthreads=1), plugins={})


def graded_on(worker: SimpleNamespace, plugin: workers.GradingPlugin, content: bytes, sha256: str,
              monkeypatch) -> dict:
    worker.plugins[plugin.name] = plugin
    monkeypatch.setattr(workers, "get_worker", lambda: worker)
    return workers.grade_on_worker(plugin.name, "mnist_mlp.ipynb", content, sha256, {}, False)


def test_a_worker_that_cannot_hide_the_reference_refuses_every_submission(bundle, tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "detect", lambda: NO_HIDING)
    worker, plugin = fake_worker(tmp_path), workers.GradingPlugin(bundle, "x:y", allow_unisolated=False)
    plugin.setup(worker)
    assert plugin.servers is None and not list(tmp_path.iterdir())  # not even the assignment is written
    assert plugin.report["layers"] == ["seccomp", "rlimits"] and not plugin.report["hides_files"]
    verdict = graded_on(worker, plugin, b"{}", hashlib.sha256(b"{}").hexdigest(), monkeypatch)
    assert verdict["result"] is None and verdict["worker"] == plugin.report
    assert verdict["problem"].startswith("worker tcp://10.0.0.7:4000 on ")
    refusal = "refuses to grade: refusing to grade: on this host the student's code could read"
    assert refusal in verdict["problem"]
    run = trusted(verdict, hashlib.sha256(b"{}").hexdigest(), bundle.digest)
    assert run.result is None and run.problem == verdict["problem"]


def test_a_worker_whose_copy_of_the_assignment_is_damaged_grades_nothing(bundle, tmp_path, monkeypatch):
    files = dict(bundle.files, **{bundle.notebook: b"{}"})
    damaged = Bundle(bundle.assignment_id, bundle.notebook, files, bundle.digest)
    worker, plugin = fake_worker(tmp_path), workers.GradingPlugin(damaged, "x:y", allow_unisolated=True)
    plugin.setup(worker)
    verdict = graded_on(worker, plugin, b"{}", hashlib.sha256(b"{}").hexdigest(), monkeypatch)
    assert "did not read back as sent" in verdict["problem"] and plugin.servers is None


def test_damaged_bytes_and_unknown_assignments_are_not_graded(bundle, tmp_path, monkeypatch):
    worker, plugin = fake_worker(tmp_path), workers.GradingPlugin(bundle, "x:y", allow_unisolated=True)
    plugin.servers = object()  # set up, as far as the task can tell; it must not be reached
    verdict = graded_on(worker, plugin, b"{}", hashlib.sha256(b"other bytes").hexdigest(), monkeypatch)
    assert verdict["problem"] == "the notebook arrived damaged (its SHA-256 differs)"
    monkeypatch.setattr(workers, "get_worker", lambda: fake_worker(tmp_path))
    elsewhere = workers.grade_on_worker("autograder-other", "nb.ipynb", b"{}", "", {}, False)
    assert elsewhere["problem"] == "this worker has not got the assignment (autograder-other)"


def test_only_a_verdict_on_these_bytes_by_this_grader_and_assignment_is_trusted(bundle):
    sha256 = hashlib.sha256(b"{}").hexdigest()
    good = {"result": {"score": 7.0, "extra_data": {}}, "problem": "", "seconds": 1.5, "sha256": sha256,
            "bundle": bundle.digest, "grader": grader_version(), "worker": {"host": "node-3", "layers": []}}
    run = trusted(dict(good, result={"score": 7.0, "extra_data": {}}), sha256, bundle.digest)
    assert run.result == {"score": 7.0, "extra_data": {"worker": {"host": "node-3", "layers": []}}}
    for field, what in (("sha256", "notebook"), ("bundle", "assignment"), ("grader", "grader")):
        run = trusted(dict(good, **{field: "something else"}), sha256, bundle.digest)
        assert run.result is None and run.seconds == 1.5
        assert run.problem.startswith(f"node-3 graded another version of the {what} than this batch's")
