"""The report (autograder/report.py): results files readable as any new file, every text capped."""

from __future__ import annotations

import json
import os
import stat

from autograder.report import MAX_MESSAGE, MAX_NOTES, GradeResult, clip, new_file_mode, notes_of, table
from autograder.report import write_json_atomically as write


def test_results_are_written_with_the_mode_of_a_new_file(tmp_path):
    previous = os.umask(0o027)
    try:
        write({"score": 1}, tmp_path / "results.json")
        assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == 0o640 == new_file_mode()
    finally:
        os.umask(previous)
    write({"score": 2}, tmp_path / "results.json")
    assert json.loads((tmp_path / "results.json").read_text()) == {"score": 2}
    assert stat.S_IMODE((tmp_path / "results.json").stat().st_mode) == 0o666 & ~previous
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left


def test_messages_and_notes_are_capped():
    assert len(clip("x" * 10 * MAX_MESSAGE)) < MAX_MESSAGE + 50
    result = GradeResult(notes=["n" * 10 * MAX_MESSAGE] * (MAX_NOTES + 5))
    notes = notes_of(result.notes)
    assert len(notes) == MAX_NOTES + 1 and notes[-1] == "... and 5 more notes"
    assert all(len(note) < MAX_MESSAGE + 50 for note in notes)
    assert len(table(result)) < (MAX_NOTES + 1) * (MAX_MESSAGE + 60)
