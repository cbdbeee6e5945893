"""Reading a student's folder without following a link out of it (autograder/studentfiles.py)."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest

from autograder import studentfiles
from autograder.studentfiles import Refused


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """``submitted/bob/hw/`` with a notebook, and a secret outside it."""
    (tmp_path / "secret.ipynb").write_text("instructor's solutions")
    folder = tmp_path / "submitted" / "bob" / "hw"
    folder.mkdir(parents=True)
    (folder / "hw.ipynb").write_text("bob's notebook")
    return tmp_path


def submitted(course: Path) -> Path:
    return course / "submitted"


def test_a_real_folder_and_file_are_read(course):
    folder = studentfiles.open_folder(submitted(course), ["bob", "hw"])
    try:
        assert studentfiles.entries(folder) == [studentfiles.Entry("hw.ipynb", "file")]
        assert studentfiles.read_file(folder, ["hw.ipynb"], "notebook file", 100) == b"bob's notebook"
        content = studentfiles.copy_file(folder, ["hw.ipynb"], "notebook file")
    finally:
        os.close(folder)
    assert content.sha256 == hashlib.sha256(b"bob's notebook").hexdigest() and content.size == 14


def test_a_linked_notebook_is_refused_wherever_it_points(course):
    folder = course / "submitted" / "bob" / "hw"
    (folder / "hw.ipynb").unlink()
    (folder / "hw.ipynb").symlink_to(course / "secret.ipynb")
    (folder / "inside.ipynb").symlink_to("other.txt")  # a link that stays inside the folder
    (folder / "other.txt").write_text("{}")
    descriptor = studentfiles.open_folder(submitted(course), ["bob", "hw"])
    try:
        kinds = {entry.name: entry.kind for entry in studentfiles.entries(descriptor)}
        assert kinds == {"hw.ipynb": "symbolic link", "inside.ipynb": "symbolic link", "other.txt": "file"}
        for name in ("hw.ipynb", "inside.ipynb"):
            with pytest.raises(Refused) as refused:
                studentfiles.copy_file(descriptor, [name], "notebook file")
            assert str(refused.value) == f"{name} is a symbolic link; submit the notebook file itself"
    finally:
        os.close(descriptor)


@pytest.mark.parametrize("parts, message", [
    (["bob", "hw"], "bob is a symbolic link; submit the folder itself"),
    (["alice", "hw"], '"alice/hw" is a symbolic link; submit the folder itself'),
])
def test_a_linked_student_or_assignment_folder_is_refused(course, parts, message):
    (course / "submitted" / "elsewhere" / "hw").mkdir(parents=True)
    (submitted(course) / "bob").rename(course / "bob-real")
    (submitted(course) / "bob").symlink_to(course / "bob-real")
    (submitted(course) / "alice").mkdir()
    (submitted(course) / "alice" / "hw").symlink_to("../elsewhere/hw")
    with pytest.raises(Refused) as refused:
        studentfiles.open_folder(submitted(course), parts)
    assert str(refused.value) == message


def test_a_file_where_a_folder_should_be_is_refused(course):
    (submitted(course) / "carol").mkdir()
    (submitted(course) / "carol" / "hw").write_text("not a folder")
    with pytest.raises(Refused, match='"carol/hw" is a file; submit the folder itself'):
        studentfiles.open_folder(submitted(course), ["carol", "hw"])
    with pytest.raises(FileNotFoundError):
        studentfiles.open_folder(submitted(course), ["nobody", "hw"])


def test_a_pipe_is_refused_without_blocking(course):
    folder = submitted(course) / "bob" / "hw"
    (folder / "hw.ipynb").unlink()
    os.mkfifo(folder / "hw.ipynb")
    os.mkfifo(folder / "timestamp.txt")
    descriptor = studentfiles.open_folder(submitted(course), ["bob", "hw"])
    outcome: list[str] = []

    def read_them() -> None:
        for name in ("hw.ipynb", "timestamp.txt"):
            try:
                studentfiles.read_file(descriptor, [name], "file", 100)
            except Refused as refused:
                outcome.append(str(refused))

        (submitted(course) / "carol").mkdir()
        os.mkfifo(submitted(course) / "carol" / "hw")
        try:
            studentfiles.open_folder(submitted(course), ["carol", "hw"])
        except Refused as refused:
            outcome.append(str(refused))

    reader = threading.Thread(target=read_them, daemon=True)
    reader.start()
    reader.join(timeout=60)  # a guard, not a measure: a blocked open never returns
    os.close(descriptor)
    assert outcome == ["hw.ipynb is a named pipe; submit the file itself",
                       "timestamp.txt is a named pipe; submit the file itself",
                       '"carol/hw" is a named pipe; submit the folder itself']


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_a_device_is_refused_without_being_opened(course):
    folder = submitted(course) / "bob" / "hw"
    (folder / "hw.ipynb").unlink()
    os.mknod(folder / "hw.ipynb", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null
    descriptor = studentfiles.open_folder(submitted(course), ["bob", "hw"])
    try:
        with pytest.raises(Refused, match="hw.ipynb is a device; submit the notebook file itself"):
            studentfiles.copy_file(descriptor, ["hw.ipynb"], "notebook file")
    finally:
        os.close(descriptor)


def test_a_hard_link_is_a_file_and_is_read(course):
    folder = submitted(course) / "bob" / "hw"
    (folder / "hw.ipynb").unlink()
    os.link(course / "secret.ipynb", folder / "hw.ipynb")
    descriptor = studentfiles.open_folder(submitted(course), ["bob", "hw"])
    try:
        assert studentfiles.read_file(descriptor, ["hw.ipynb"], "file", 100) == b"instructor's solutions"
    finally:
        os.close(descriptor)


def test_an_open_folder_stays_the_one_opened_when_its_path_is_swapped_for_a_link(course):
    descriptor = studentfiles.open_folder(submitted(course), ["bob", "hw"])
    try:
        folder = submitted(course) / "bob" / "hw"
        folder.rename(course / "moved")
        folder.symlink_to(course)  # the path now leads to the course root and its secret
        (course / "hw.ipynb").symlink_to(course / "secret.ipynb")
        assert studentfiles.read_file(descriptor, ["hw.ipynb"], "file", 100) == b"bob's notebook"
    finally:
        os.close(descriptor)
    with pytest.raises(Refused):
        studentfiles.open_folder(submitted(course), ["bob", "hw"])


def test_copy_keeps_a_bounded_part_and_hashes_all(course, tmp_path):
    folder = submitted(course) / "bob" / "hw"
    data = os.urandom(3 * studentfiles.BLOCK + 17)
    (folder / "big.ipynb").write_bytes(data)
    descriptor = studentfiles.open_folder(submitted(course), ["bob", "hw"])
    try:
        content = studentfiles.copy_file(descriptor, ["big.ipynb"], "file", tmp_path / "copy", keep=1000)
        whole = studentfiles.copy_file(descriptor, ["big.ipynb"], "file", tmp_path / "whole")
    finally:
        os.close(descriptor)
    assert (tmp_path / "copy").read_bytes() == data[:1000]
    assert (tmp_path / "whole").read_bytes() == data
    assert content == whole and content.size == len(data)
    assert content.sha256 == hashlib.sha256(data).hexdigest()


def test_walk_enters_real_folders_only(course):
    top = submitted(course) / "bob" / "hw"
    (top / "sub").mkdir()
    (top / "sub" / "deep.ipynb").write_text("{}")
    (top / ".hidden").mkdir()
    (top / ".hidden" / "skip.ipynb").write_text("{}")
    (top / "linked").symlink_to(course)
    descriptor = studentfiles.open_folder(top, [])
    try:
        found = {path: entry.kind for path, entry in studentfiles.walk(descriptor, lambda n: n != ".hidden")}
    finally:
        os.close(descriptor)
    assert found == {("hw.ipynb",): "file", ("sub",): "folder", ("sub", "deep.ipynb"): "file",
                     (".hidden",): "folder", ("linked",): "symbolic link"}


def test_refusals_name_the_entry_as_one_line():
    assert studentfiles.refusal(["a\nb.ipynb"], "symbolic link", "notebook file") == (
        '"a\\nb.ipynb" is a symbolic link; submit the notebook file itself')
    assert studentfiles.label(["sub", "x.ipynb"]) == '"sub/x.ipynb"'
