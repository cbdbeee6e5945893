"""Pipe ends whose reads and writes give up at a deadline, so a silent student process cannot
hang the grader."""

from __future__ import annotations

import contextlib
import os
import select
import time


class DeadlineStream:
    """A pipe end whose reads and writes give up at ``deadline`` (``time.monotonic``)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.deadline = fd, float("inf")
        os.set_blocking(fd, False)

    def _wait(self, readable: bool) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        ready = select.select([self.fd] if readable else [], [] if readable else [self.fd], [], remaining)
        if not any(ready):
            raise TimeoutError

    def read(self, size: int) -> bytes:
        while True:
            try:
                return os.read(self.fd, min(size, 1 << 20))
            except BlockingIOError:
                self._wait(readable=True)

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B")
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                self._wait(readable=False)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
