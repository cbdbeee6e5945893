"""Files that are not (quite) notebooks: graded 0 with a reason, except an old but valid format."""

import random

import nbformat

from corpus import FULL, GRADE_IDS, SOURCE, Entry

EVERYTHING = frozenset(GRADE_IDS)


def truncated() -> bytes:
    data = SOURCE.read_bytes()
    return data[: len(data) // 2]


def version_3() -> bytes:
    notebook = nbformat.read(SOURCE, as_version=4)
    return nbformat.writes(nbformat.convert(notebook, 3), version=3).encode()


def garbage() -> bytes:
    return random.Random(20240229).randbytes(4096)


def broken(name: str, raw, *messages: str) -> Entry:
    return Entry(name, "broken", raw=raw, loses=EVERYTHING, messages=messages)


ENTRIES = [
    broken("empty_file", lambda: b"", "the file is empty"),
    broken("not_json", lambda: b"print('hello')\n", "not a notebook: the file is not valid JSON"),
    broken("json_not_a_notebook", lambda: b'{"name": "mnist", "cells_": []}',
           "JSON, but not a Jupyter notebook"),
    broken("truncated_notebook", truncated, "not a notebook", "it may be truncated"),
    broken("binary_garbage", garbage, "not a notebook"),
    Entry("nbformat_3", "broken", raw=version_3, loses=FULL),
]
