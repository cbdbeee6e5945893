"""Grade a list of notebooks as one host: ``test_hosts.py`` starts this under ``capsh`` or
``setpriv`` (or as it is, for this machine), so that every grading process has that host's
privileges.

    python tests/host_runner.py JOBS.json [AT_A_TIME]

``JOBS.json`` is a list of ``{"folder": ..., "argv": [...], "timeout": seconds}``. Each job is
the grader's command line (``autograder.cli.main(argv)``) in a grading process forked from a
forkserver that imported the grader once (``autograder.course.processes.Processes``), in its
folder, a few at a time; its standard output, standard error and exit status go to
``stdout.txt``, ``stderr.txt`` and ``status`` there (``status`` holds ``None`` when the job
was stopped at its timeout).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder.course.processes import Processes

AT_A_TIME = 2  # by default; test_hosts.py runs its hosts at the same time, each with its own number


def main(jobs_file: str, at_a_time: int = AT_A_TIME) -> int:
    jobs = json.loads(Path(jobs_file).read_text())
    processes = Processes()

    def run(job: dict) -> None:
        folder = Path(job["folder"])
        status = processes.run(job["argv"], folder, job["timeout"], folder / "stderr.txt",
                               folder / "stdout.txt")
        (folder / "status").write_text(str(status))

    with ThreadPoolExecutor(at_a_time) as pool:
        list(pool.map(run, jobs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], *map(int, sys.argv[2:3])))
