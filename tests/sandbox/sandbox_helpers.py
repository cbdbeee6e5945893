"""Helpers for the sandbox's tests: sandboxes with chosen layers, and probe cells."""

from __future__ import annotations

import os
import textwrap

from autograder.sandbox import Cell, Layers, Limits, Sandbox, detect

ALL_LAYERS = detect()
ROOT = os.geteuid() == 0


def make_sandbox(*sources: str, layers: Layers | None = None, **limits: float) -> Sandbox:
    """A sandbox whose cells 1, 2, ... are ``sources``; small limits by default."""
    defaults = {"call_seconds": 20.0, "submission_seconds": 120.0}
    cells = [Cell(index, textwrap.dedent(source)) for index, source in enumerate(sources, start=1)]
    return Sandbox(cells, Limits(**{**defaults, **limits}), layers)


def probe(name: str, body: str) -> str:
    """A cell defining ``name()``: runs ``body`` (indented code); returns 0, or the errno it failed with."""
    return (
        f"def {name}():\n    try:\n{textwrap.indent(textwrap.dedent(body), '        ')}\n"
        "        return 0\n    except OSError as error:\n        return error.errno or -1\n"
    )
