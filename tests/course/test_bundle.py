"""What a worker gets of the assignment (autograder/course/bundle.py): the assignment's files and
MNIST, written once, read back and verified by SHA-256 before anything is graded with them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from autograder.course.bundle import Bundle, BundleError, digest_of
from autograder.course.store import assignment_version
from solutions.data import OFFICIAL_SHA256

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return Bundle.of_course(REPOSITORY, "mnist_mlp", "mnist_mlp")


def test_it_holds_the_assignment_and_mnist_and_its_digest_covers_them(bundle):
    assert bundle.notebook == "source/mnist_mlp/mnist_mlp.ipynb" and bundle.has_mnist
    assert {f"mnist/{name}" for name in OFFICIAL_SHA256} <= set(bundle.files)
    assert any(name.startswith("solutions/mnist_mlp/checks/test_") for name in bundle.files)
    assert bundle.digest == digest_of(bundle.files)
    without = {name: content for name, content in bundle.files.items() if not name.startswith("mnist/")}
    assert digest_of(without) == assignment_version(REPOSITORY, "mnist_mlp")  # the records' key


def test_it_is_written_once_and_verified(bundle, tmp_path):
    root = bundle.materialise(tmp_path)
    for name, sha256 in OFFICIAL_SHA256.items():
        assert hashlib.sha256((root / "mnist" / name).read_bytes()).hexdigest() == sha256
    marker = root / "solutions" / "written-by-this-test"
    marker.write_text("x")
    assert bundle.materialise(tmp_path) == root and marker.exists()  # verified, kept: not written again
    (root / bundle.notebook).write_text("{}")  # damaged on disk: written again, whole
    assert bundle.materialise(tmp_path) == root and not marker.exists()
    assert bundle.verify(root) and [p.name for p in tmp_path.iterdir()] == [root.name]


def test_a_bundle_damaged_on_the_way_is_refused(bundle, tmp_path):
    files = dict(bundle.files)
    files[bundle.notebook] = files[bundle.notebook].replace(b"relu", b"RELU", 1)
    damaged = Bundle(bundle.assignment_id, bundle.notebook, files, bundle.digest)
    with pytest.raises(BundleError, match="did not read back as sent"):
        damaged.materialise(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left to grade with


def test_no_name_leaves_the_bundle(bundle, tmp_path):
    for name in ("../outside", "/etc/passwd"):
        escaping = Bundle("a", "a.ipynb", {name: b"x"}, digest_of({name: b"x"}))
        with pytest.raises(BundleError, match="not a path inside the bundle"):
            escaping.materialise(tmp_path / "workers")
    assert not (tmp_path / "outside").exists()
