"""The limits on one submission's student processes, and how they read in messages."""

from __future__ import annotations

from dataclasses import dataclass

GiB = 2**30
MiB = 2**20


@dataclass(frozen=True)
class Limits:
    """Limits on one submission's process; every one can be overridden on the command line."""

    call_seconds: float = 30.0
    submission_seconds: float = 300.0
    memory_bytes: int = 2 * GiB
    output_bytes: int = 1 * MiB

    def describe(self) -> str:
        return (
            f"{self.call_seconds:g} s a call, {self.submission_seconds:g} s a submission, "
            f"{size(self.memory_bytes)} memory, {size(self.output_bytes)} output"
        )


def size(n: int) -> str:
    """``2 GiB``, ``64 KiB``, ``1000 bytes``."""
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"
