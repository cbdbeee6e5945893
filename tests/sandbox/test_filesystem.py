"""The allow-list (autograder/sandbox/filesystem.py): what the student process may read."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from autograder.sandbox import filesystem

REPOSITORY = Path(__file__).resolve().parents[2]


def test_the_kit_and_site_packages_are_not_on_the_list():
    allowed = filesystem.allow_list()
    for path in allowed.readable:
        kit = tuple(str(REPOSITORY / name) for name in ("solutions", "tests", "autograder"))
        assert not path.startswith(kit)
        assert "/.git" not in path
        assert os.path.basename(path) not in ("site-packages", "dist-packages")
    numpy_dir = str(Path(np.__file__).resolve().parent)
    site_packages = os.path.dirname(numpy_dir)
    assert [p for p in allowed.readable if p.startswith(site_packages)] == [
        p for p in (numpy_dir, os.path.join(site_packages, "numpy.libs")) if os.path.exists(p)
    ]


def test_the_interpreter_and_its_loader_are_on_the_list():
    allowed = filesystem.allow_list()
    assert allowed.interpreter == os.path.realpath(sys.executable) in allowed.readable
    loader = filesystem._program_interpreter(allowed.interpreter)
    assert loader is None or os.path.dirname(os.path.realpath(loader)) in allowed.readable


def test_symlink_chain_follows_every_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "file").write_text("x")
    (tmp_path / "first").symlink_to("real")
    (tmp_path / "second").symlink_to(tmp_path / "first")
    chain = filesystem.symlink_chain(str(tmp_path / "second" / "file"))
    assert chain == {str(tmp_path / "second"): str(tmp_path / "first"), str(tmp_path / "first"): "real"}


def test_readable_by_others_needs_every_folder_above_searchable(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    inside = closed / "file"
    inside.write_text("x")
    inside.chmod(0o644)
    tmp_path.chmod(0o755)
    assert not filesystem.readable_by_others(str(inside))
    closed.chmod(0o755)
    assert filesystem.readable_by_others(str(inside)) == all(
        p.stat().st_mode & 0o001 for p in tmp_path.parents)
