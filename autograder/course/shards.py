"""Shards: a class split into N parts graded apart (a SLURM job array, a Kubernetes indexed Job,
a CI matrix), then merged where the gradebook is.

``batch ASSIGNMENT --shard I/N`` grades the students of shard I (0-based; a student belongs to
the shard the SHA-256 of their id names, the same on every machine) into
``reports/<assignment>/shards/I-of-N/results/``, and writes nothing else: no gradebook, no
feedback, no report. ``batch ASSIGNMENT --merge`` then takes, for every student without a
current record of their own, the newest current record any shard made, and writes the gradebook,
the feedback pages and the report from them, as a batch that graded everything would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.course.grading import unanswered
from autograder.course.store import GRADED, ResultStore
from autograder.course.submissions import Submission, in_shard, is_current_for

SHARDS = "shards"
SPEC = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N``; ``ValueError`` unless 0 <= I < N."""
        match = SPEC.fullmatch(text.strip())
        if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
            raise ValueError(f"--shard wants I/N with 0 <= I < N (0/4 ... 3/4), not {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, student: str) -> bool:
        return in_shard(student, self.index, self.count)

    def folder(self, reports: Path) -> Path:
        """``reports/<assignment>/shards/I-of-N``: its results, and its lock."""
        return reports / SHARDS / f"{self.index}-of-{self.count}"


def shard_stores(reports: Path) -> list[ResultStore]:
    """The results folders of every shard that ran, whatever its N."""
    return [ResultStore(folder) for folder in sorted((reports / SHARDS).glob("*-of-*/results"))]


def newest_current(
    stores: list[ResultStore], submission: Submission, fingerprint: str
) -> dict[str, Any] | None:
    """The newest record of ``submission`` among ``stores`` that grades it as it is now."""
    found = [record for store in stores
             if is_current_for(record := store.load(submission.student), submission, fingerprint)]
    return max(found, key=lambda record: record["graded_at"], default=None)


def merge(reports: Path, store: ResultStore, submissions: list[Submission], fingerprint: str,
          released: dict[str, str]) -> int:
    """Bring into ``store`` the shards' current records of the submissions ``store`` has no current
    record of, with their ``unanswered`` cells found from the gradebook's release text; how many."""
    stores = shard_stores(reports)
    merged = 0
    for submission in submissions:
        if is_current_for(store.load(submission.student), submission, fingerprint):
            continue
        record = newest_current(stores, submission, fingerprint)
        if record is None:
            continue
        if record["status"] == GRADED:
            record["unanswered"] = unanswered(record.get("answers", {}), released)
        store.save(record)
        merged += 1
    return merged
