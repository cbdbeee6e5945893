"""Student text made safe for where it lands (autograder/text.py): one quoted line, CSV, Markdown."""

from __future__ import annotations

import csv
import io

import pytest

from autograder import text


@pytest.mark.parametrize("hostile, shown", [
    ("line\nforged total: 100", "line\\nforged total: 100"),
    ("red \x1b[31mALERT\x1b[0m", "red \\x1b[31mALERT\\x1b[0m"),
    ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
    ("back\\slash", "back\\\\slash"),
    ("tab\there\r", "tab\\there\\r"),
    ("\x85next line", "\\x85next line"),
])
def test_one_line_escapes_every_control_and_reordering_character(hostile, shown):
    assert text.one_line(hostile) == shown
    assert len(text.one_line(hostile).splitlines()) == 1


def test_quote_bounds_and_quotes():
    assert text.quote('say "hi"\n') == '"say \\"hi\\"\\n"'
    quoted = text.quote("x" * 1500, limit=1000)
    assert quoted == '"' + "x" * 1000 + '" (and 500 more characters)'


@pytest.mark.parametrize("student, shown", [
    ("alice", "alice"),
    ("bob-2.b_c", "bob-2.b_c"),
    ("", '""'),
    ("a b", '"a b"'),
    ('=HYPERLINK("http://x","y")', '"=HYPERLINK(\\"http://x\\",\\"y\\")"'),
    ("evil\n\x1b[2J", '"evil\\n\\x1b[2J"'),
    ("sub/mnist_mlp.ipynb", '"sub/mnist_mlp.ipynb"'),
])
def test_name_is_quoted_only_when_needed(student, shown):
    assert text.name(student) == shown


@pytest.mark.parametrize("cell, shown", [
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("+1", "'+1"),
    ("-1+2", "'-1+2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\\t=1"),
    ("\r=1", "'\\r=1"),
    ("alice", "alice"),
    ("a=b", "a=b"),
    ("two\nlines", "two\\nlines"),
])
def test_csv_cell_is_never_a_formula_and_one_line(cell, shown):
    assert text.csv_cell(cell) == shown


def test_csv_cells_read_back_as_written():
    buffer = io.StringIO()
    cells = [text.csv_cell(value) for value in ('=HYPERLINK("http://x","y")', "x,\ny", "alice")]
    csv.writer(buffer).writerow(cells)
    assert len(buffer.getvalue().splitlines()) == 1
    (row,) = csv.reader(io.StringIO(buffer.getvalue()))
    assert row == cells and not any(cell.startswith(text.CSV_FORMULA_START) for cell in row)


def test_markdown_shows_markup_as_typed_and_keeps_lines():
    assert text.markdown("a < b & c\n# not a heading") == "a &lt; b &amp; c  \n\\# not a heading"
    assert text.markdown("x_1 * y_2") == "x\\_1 \\* y\\_2"
    assert text.markdown("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert\\(1\\)&gt;"
    assert text.markdown("[link](http://x) **b** `c` ~d~ |e| !f") == (
        "\\[link\\]\\(http://x\\) \\*\\*b\\*\\* \\`c\\` \\~d\\~ \\|e\\| \\!f")
    assert text.markdown("") == "" and text.markdown("one\n") == "one"


def test_markdown_composes_before_escaping():
    # "<" followed by a combining long solidus is one character, "≮", once composed: nothing to
    # escape, and no escape that a following combining character could change.
    assert text.markdown("<\u0338") == "\u226e"
    assert text.markdown("e\u0301") == "\u00e9"


def test_notes_for_students_leave_out_the_sandbox_layers():
    output = "Score: 90 / 100\ncell 3 failed to run: x\nisolation: namespaces, own uid, seccomp\nprinted"
    assert text.result_notes(output) == ["cell 3 failed to run: x", "isolation: namespaces, own uid, seccomp",
                                         "printed"]
    assert text.notes_for_students(output) == ["cell 3 failed to run: x", "printed"]
    assert text.isolation_note(text.result_notes(output)) == "namespaces, own uid, seccomp"
    assert text.isolation_note(["not a notebook"]) == ""


def test_multiline_keeps_lines_and_escapes_the_rest():
    assert text.multiline("expected 1\r\ngot \x1b[2J2\u202e\\n") == "expected 1\ngot \\x1b[2J2\\u202e\\n"
    assert text.multiline("a\u2028b\tc\rd") == "a\\u2028b\\tc\\rd"


def test_markdown_escapes_controls_and_keeps_only_real_lines():
    # shown as typed escapes: a backslash in Markdown is written as two
    assert text.markdown("red \x1b[31m\u202eevil\nnext") == "red \\\\x1b\\[31m\\\\u202eevil  \nnext"
    assert text.markdown("a\u2028b") == "a\\\\u2028b"  # not a line break a renderer could take for one
