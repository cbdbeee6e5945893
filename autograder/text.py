"""Text that a student controls, made safe for wherever it lands.

Everything that comes out of a student process (exception names and messages, load errors,
values shown in messages) and everything a student names (their folder, their notebook's
file name) is shown as **one quoted line**: ``quote`` bounds it, escapes every control,
line-separator and bidirectional-format character, and puts it in quotes, so that it can
never start a new line of a table, forge a "total" row, move the terminal's cursor or turn
text around. The escapers below then make that line safe for the medium it is written to:
``csv_cell`` for spreadsheets (no formula), ``markdown`` for Gradescope; HTML pages use
Jinja's autoescaping, after ``multiline`` (every value a template shows: messages keep their
lines, and no control or bidirectional character reaches a page).
"""

from __future__ import annotations

import re
import unicodedata

MAX_TEXT = 1000  # characters of one student text in a message

# Characters that end, rewrite or reorder a line somewhere: C0/C1 controls, DEL, the Unicode
# line and paragraph separators, and the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
# The same but the line feed, for media where a text may have lines (a Markdown entry, an HTML page).
_UNSAFE_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"
)
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Markdown's backslash escapes; HTML's three (& < >) become entities, which every Markdown keeps.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
ISOLATION_NOTE = "isolation:"  # how the sandbox's summary of its layers starts, among a result's notes


def one_line(text: object) -> str:
    """``text`` with every control, separator and bidirectional character escaped (``\\n``,
    ``\\x1b``, ``\\u202e``) and backslashes doubled: it prints as one line, as typed."""
    text = str(text)
    return _UNSAFE.sub(_escape_char, text.replace("\\", "\\\\")) if _needs_escape(text) else text


def multiline(text: object) -> str:
    """``text`` with its lines kept (``\\n``; ``\\r\\n`` becomes one) and every other control,
    separator and bidirectional character escaped as ``one_line`` escapes them (backslashes left as
    typed): for a message that may have lines, shown where each line stays a line."""
    return _UNSAFE_BUT_NEWLINE.sub(_escape_char, str(text).replace("\r\n", "\n"))


def _needs_escape(text: str) -> bool:
    return "\\" in text or _UNSAFE.search(text) is not None


def _escape_char(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def quote(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` as one bounded, quoted line: ``"..."``, at most ``limit`` characters of it kept
    (saying how many were cut), quotes inside escaped."""
    text = str(text)
    cut = len(text) - limit
    kept = one_line(text[:limit] if cut > 0 else text).replace('"', '\\"')
    return f'"{kept}"' + (f" (and {cut} more characters)" if cut > 0 else "")


def name(text: object, limit: int = 200) -> str:
    """A student-chosen name (folder, file, dictionary key) as one line: quoted only when it holds
    anything but letters, digits and ``._-`` (so ``alice`` stays ``alice``)."""
    text = str(text)
    if text and len(text) <= limit and re.fullmatch(r"[\w.\-]+", text) and text.isprintable():
        return text
    return quote(text, limit)


def csv_cell(text: object) -> str:
    """A CSV field a spreadsheet shows as text, on one line: controls escaped (``one_line``),
    and one that could start a formula (``= + - @``, tab, carriage return) gets a leading
    apostrophe, as OWASP recommends."""
    text = str(text)
    cell = one_line(text)
    return "'" + cell if text.startswith(CSV_FORMULA_START) or cell.startswith(CSV_FORMULA_START) else cell


def markdown(text: object) -> str:
    """``text`` as Markdown that shows it as typed: ``& < >`` as HTML entities, every other
    Markdown character backslash-escaped, each line kept as a line (two trailing spaces: a
    hard break), controls escaped (``multiline``). Composed (NFC) first, so that no character
    combines with an escape."""
    lines = multiline(unicodedata.normalize("NFC", str(text))).split("\n")
    if lines[-1] == "":  # a final line break ends the last line, as in str.splitlines
        lines.pop()
    return "  \n".join(_MARKDOWN_SPECIAL.sub(r"\\\1", _entities(line)) for line in lines)


def _entities(line: str) -> str:
    return "".join(_HTML_ENTITIES.get(char, char) for char in line)


# ----------------------------------------------------------------------------- notes of a result


def result_notes(output: str) -> list[str]:
    """The notes of a result's ``output`` (its lines after the first, "Score: ...")."""
    return output.splitlines()[1:]


def notes_for_students(output: str) -> list[str]:
    """The notes a student sees: all but the sandbox's summary of its layers, which is the
    instructor's (the class report counts them)."""
    return [note for note in result_notes(output) if not note.startswith(ISOLATION_NOTE)]


def isolation_note(notes: list[str]) -> str:
    """The sandbox's summary of its layers among ``notes``, without ``isolation:``; '' if none."""
    found = (note for note in notes if note.startswith(ISOLATION_NOTE))
    return next(found, "").removeprefix(ISOLATION_NOTE).strip()
