"""User ids of their own (autograder/sandbox/uids.py)."""

from __future__ import annotations

import os

import pytest

from autograder.sandbox import uids

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root holds user ids for sandboxes")


def test_held_ids_differ_and_come_back_when_released():
    first, second = uids.acquire(), uids.acquire()
    assert first is not None and second is not None
    try:
        assert first.uid != second.uid
        assert uids.base_uid() <= min(first.uid, second.uid) < uids.base_uid() + uids.SLOTS
        taken = first.uid
        first.release()
        again = uids.acquire()
        assert again is not None and again.uid == taken
        again.release()
    finally:
        first.release()
        second.release()


def test_the_lock_folder_is_the_graders_alone():
    uids.acquire().release()
    folder = uids.lock_folder()
    assert folder.stat().st_uid == 0 and folder.stat().st_mode & 0o077 == 0
