"""Late submissions, as nbgrader decides them: the due date (plus a student's extension), the
submission's ``timestamp.txt`` and the late-submission plugin configured for nbgrader."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class LatePolicy:
    """The assignment's due date, students' extensions and the configured late-submission plugin."""

    duedate: datetime | None
    plugin: Any
    extensions: dict[str, timedelta] = field(default_factory=dict)

    def seconds_late(self, student: str, timestamp: datetime | None) -> float:
        """As ``SubmittedAssignment.total_seconds_late``: 0 without a timestamp or a due date."""
        if timestamp is None or self.duedate is None:
            return 0.0
        due = self.duedate + self.extensions.get(student, timedelta(0))
        return max(0.0, (timestamp - due).total_seconds())

    def penalty(self, student: str, score: float, seconds_late: float) -> float | None:
        """As ``AssignLatePenalties``: the plugin's penalty, kept between 0 and the score."""
        if seconds_late <= 0:
            return None
        penalty = self.plugin.late_submission_penalty(student, score, seconds_late)
        if penalty is None:
            return None
        return min(max(float(penalty), 0.0), score)


def parse_timestamp(text: str) -> datetime | None:
    """A submission's ``timestamp.txt`` as nbgrader reads it (UTC, naive); None if it is empty.

    Raises ``ValueError`` for a timestamp nbgrader cannot parse.
    """
    from nbgrader.utils import parse_utc

    text = text.strip()
    if not text:
        return None
    try:
        return parse_utc(text)
    except (ValueError, OverflowError, TypeError):
        raise ValueError("not a timestamp nbgrader can read") from None



@dataclass(frozen=True)
class Lateness:
    """How late a submission came in, and the penalty the course's plugin gives it."""

    timestamp: datetime
    seconds_late: float
    penalty: float | None


def lateness(policy: LatePolicy, student: str, timestamp: datetime | None, score: float) -> Lateness | None:
    """The lateness of a submission scored ``score`` (None without a timestamp)."""
    if timestamp is None:
        return None
    seconds = policy.seconds_late(student, timestamp)
    return Lateness(timestamp, seconds, policy.penalty(student, score, seconds))
