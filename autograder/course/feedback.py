"""Feedback pages for students: ``feedback/<student>/<assignment>/<notebook>.html``.

One self-contained HTML page per submission (figures embedded), built only from what the
grader reports to students: score per task, each check's name, whether it passed and, if
not, its message (written for students: expected, got, hint), notes about the notebook, and,
where the assignment's checks record them, the learning curve of the student's own training run
and the confusion matrix of the model it trained. The checks' code and inputs are never part of
a record, so never part of a page.

The page is named after the notebook and ``timestamp.txt`` / ``submission_secret.txt``
are copied beside it, so ``nbgrader release_feedback`` can hand it to the student: read
from the student's folder without following a link (``autograder.studentfiles``), so a
link there never brings anything from elsewhere into the student's feedback. Every text a
student controls is shown as one line (``autograder.text``); Jinja escapes it for HTML.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from autograder import studentfiles
from autograder.course.late import Lateness
from autograder.course.store import record_digest
from autograder.report import new_file_mode
from autograder.text import multiline, name, notes_for_students

TEMPLATES = Path(__file__).parent / "templates"
NBGRADER_FILES = ("timestamp.txt", "submission_secret.txt")
NBGRADER_FILE_BYTES = 64 * 1024  # each is one line
# Part of every page's digest: changed whenever ``render_feedback`` changes what a page shows
# (2: no isolation layers, names as one line; 3: the training section only where there is one), so
# that the next batch writes every page again.
PAGE_FORMAT = "3"


@cache
def environment() -> jinja2.Environment:
    """The Jinja environment of the kit's templates (HTML autoescaping on, controls escaped)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["points"] = lambda value: f"{float(value):g}"
    env.filters["thousands"] = lambda value: f"{int(value):,}"
    return env


def _shown(value: Any) -> Any:
    """Every value a template prints: a text with its controls and bidirectional characters
    escaped, its lines kept (``text.multiline``); Jinja then escapes it for HTML."""
    return multiline(value) if isinstance(value, str) else value


def write_html_atomically(text: str, path: Path) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(handle.name, new_file_mode())  # readable as any new file, not the temporary file's 0600
    os.replace(handle.name, path)


def write_feedback(
    record: dict[str, Any], folder: Path, notebook_id: str,
    submitted: tuple[Path, Sequence[str]] | None = None, lateness: Lateness | None = None,
) -> Path:
    """Write the feedback page of ``record`` into ``folder``; returns its path. ``submitted`` is
    the student's folder as ``Course.student_path`` gives it: its nbgrader files are copied."""
    page = folder / f"{notebook_id}.html"
    for leftover in folder.glob("*.tmp"):  # from a batch killed while writing this page
        leftover.unlink(missing_ok=True)
    write_html_atomically(render_feedback(record, lateness), page)
    if submitted is not None:
        copy_nbgrader_files(*submitted, folder)
    return page


def copy_nbgrader_files(base: Path, parts: Sequence[str], folder: Path) -> None:
    """Copy ``timestamp.txt`` and ``submission_secret.txt`` of the student's folder into
    ``folder``, each only if it is a regular file reached without following a link; a copy
    left from before of one that is not (any more) is removed."""
    try:
        submitted = studentfiles.open_folder(base, parts)
    except (studentfiles.Refused, OSError):
        submitted = None
    try:
        for file_name in NBGRADER_FILES:
            content = _read_small(submitted, file_name) if submitted is not None else None
            if content is None:
                (folder / file_name).unlink(missing_ok=True)
            else:
                _write_bytes_atomically(content, folder / file_name)
    finally:
        if submitted is not None:
            os.close(submitted)


def _read_small(folder: int, file_name: str) -> bytes | None:
    try:
        content = studentfiles.read_file(folder, [file_name], "file", NBGRADER_FILE_BYTES)
    except (studentfiles.Refused, OSError):
        return None
    return content if len(content) <= NBGRADER_FILE_BYTES else None


def _write_bytes_atomically(content: bytes, path: Path) -> None:
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(content)
    os.chmod(handle.name, new_file_mode())
    os.replace(handle.name, path)


def task(
    record: Path, folder: Path, notebook_id: str, submitted: tuple[Path, Sequence[str]] | None,
    lateness: Lateness | None,
) -> dict[str, Any]:
    """A request to ``serve``: write the page of the stored record at ``record``."""
    return {
        "record": str(record), "folder": str(folder), "notebook_id": notebook_id,
        "submitted": None if submitted is None else [str(submitted[0]), *submitted[1]],
        "lateness": None if lateness is None else {
            "timestamp": lateness.timestamp.isoformat(), "seconds_late": lateness.seconds_late,
            "penalty": lateness.penalty,
        },
    }


def write_task(request: dict[str, Any]) -> dict[str, Any]:
    """Write the page a ``task`` asks for (in a feedback process, ``servers.render_main``)."""
    late = request["lateness"]
    lateness = None if late is None else Lateness(
        datetime.fromisoformat(late["timestamp"]), late["seconds_late"], late["penalty"])
    submitted = request["submitted"]
    write_feedback(
        json.loads(Path(request["record"]).read_text()), Path(request["folder"]),
        request["notebook_id"], submitted and (Path(submitted[0]), submitted[1:]), lateness,
    )
    return {}


def page_digest(record: dict[str, Any], lateness: Lateness | None) -> str:
    """Identifies a page's content: the record, the lateness shown, and the template."""
    digest = hashlib.sha256(record_digest(record).encode())
    digest.update(PAGE_FORMAT.encode())
    digest.update(repr(lateness).encode())
    digest.update((TEMPLATES / "feedback.html.j2").read_bytes())
    return digest.hexdigest()[:32]


def feedback_is_current(page: Path, record: dict[str, Any], lateness: Lateness | None = None) -> bool:
    """Whether ``page`` exists and was written for this very ``record`` and ``lateness``."""
    try:
        with open(page, encoding="utf-8") as stream:
            head = stream.read(1024)
    except OSError:
        return False
    return f'content="{page_digest(record, lateness)}"' in head


def render_feedback(record: dict[str, Any], lateness: Lateness | None = None) -> str:
    """The feedback page of one graded (or unreadable) submission."""
    result = record["result"]
    notes = notes_for_students(result["output"])  # the sandbox's layers are the instructor's
    unreadable = record["status"] != "graded"
    context = {
        "digest": page_digest(record, lateness),
        "assignment": record["assignment"],
        "student": name(record["student"]),
        "graded_at": record["graded_at"],
        "score": result["score"],
        "max_score": sum(test["max_score"] for test in result["tests"]),
        "unreadable": unreadable,
        "reason": record.get("reason") or "\n".join(notes),
        "late": _late(lateness),
        "tasks": [] if unreadable else _tasks(result),
        "notes": notes,
        "curve": None if unreadable else _curve(result["extra_data"].get("artifacts", {})),
        "confusion": None if unreadable else _confusion(result["extra_data"].get("artifacts", {})),
    }
    return environment().get_template("feedback.html.j2").render(**context)


def _tasks(result: dict[str, Any]) -> list[dict[str, Any]]:
    checks = result["extra_data"]["checks"]
    tasks = []
    for test in result["tests"]:
        mine = [
            {"title": _title(c["name"]), "passed": c["passed"], "message": c["message"]}
            for c in checks if c["grade_id"] == test["name"]
        ]
        tasks.append({
            "grade_id": test["name"],
            "function": test["name"].removeprefix("test_"),
            "score": test["score"],
            "max_score": test["max_score"],
            "status": test["status"],
            "checks": mine,
            "failed": sum(not check["passed"] for check in mine),
        })
    return tasks


def _title(check_name: str) -> str:
    """``test_half_are_ones`` -> ``half are ones``."""
    return check_name.removeprefix("test_").replace("_", " ")


def _late(lateness: Lateness | None) -> dict[str, Any] | None:
    if lateness is None or lateness.seconds_late <= 0:
        return None
    return {
        "timestamp": lateness.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
        "delay": _duration(lateness.seconds_late),
        "penalty": lateness.penalty,
    }


def _duration(seconds: float) -> str:
    delta = timedelta(seconds=round(seconds))
    days, rest = delta.days, delta.seconds
    hours, minutes = rest // 3600, rest % 3600 // 60
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours or days else []
    parts.append(f"{minutes} min" if minutes or not parts else "")
    return " ".join(part for part in parts if part) or f"{round(seconds)} s"


def _curve(artifacts: dict[str, Any]) -> dict[str, Any] | None:
    from autograder.course.figures import data_uri, learning_curve_svg  # matplotlib: where pages are drawn

    history, images = artifacts.get("history"), artifacts.get("history_images")
    if not history or not images:
        return None
    try:
        svg = learning_curve_svg(history, int(images["training"]), int(images["test"]))
    except (ValueError, KeyError, TypeError):
        return None
    return {
        "src": data_uri(svg), "epochs": len(history["training_loss"]),
        "n_train": images["training"], "n_test": images["test"],
    }


def _confusion(artifacts: dict[str, Any]) -> dict[str, Any] | None:
    confusion = artifacts.get("confusion")
    if not confusion:
        return None
    counts = np.asarray(confusion, dtype=int)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        return None
    total, top = int(counts.sum()), max(int(counts.max()), 1)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None, kind="stable")[::-1][:3]
    pairs = [
        {"true": int(i), "predicted": int(j), "count": int(off[i, j])}
        for i, j in zip(*np.unravel_index(order, off.shape), strict=True) if off[i, j] > 0
    ]
    # A table rather than a picture: the counts stay readable and copyable, and it costs no plotting.
    rows = [
        [{"count": int(n), "shade": round(n / top, 3), "diagonal": i == j} for j, n in enumerate(row)]
        for i, row in enumerate(counts)
    ]
    return {
        "rows": rows, "total": total, "pairs": pairs,
        "accuracy": float(np.trace(counts) / total) if total else 0.0,
    }
