"""Report one task's result from the grader's results.json: ``python task_status.py RESULTS GRADE_ID``.

GitHub Classroom's workflow runs this once per task, after the kit's grader has graded the
notebook in its sandbox and written RESULTS. No student code runs here: this only reads the
status the grader gave to ``GRADE_ID``. It prints that status and the points (and the
checks' messages when the grader was asked to make them visible) and exits 0 when the task
earned its points, 1 when it did not, 2 when RESULTS is missing or holds no such task (the
grading step failed: its log says why). Needs only the standard library.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_NO_RESULT = 0, 1, 2


def task(results: Path, grade_id: str) -> dict | None:
    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"{grade_id}: no grade: the grader left no readable {results} ({error}). "
              "The step that grades the notebook failed: see its log.")
        return None
    tests = data.get("tests", []) if isinstance(data, dict) else []
    found = [test for test in tests if isinstance(test, dict) and test.get("name") == grade_id]
    if len(found) != 1:
        print(f"{grade_id}: no grade: {results} has no task {grade_id!r}")
        return None
    return found[0]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python task_status.py RESULTS GRADE_ID", file=sys.stderr)
        return EXIT_NO_RESULT
    test = task(Path(argv[0]), argv[1])
    if test is None:
        return EXIT_NO_RESULT
    passed = test.get("status") == "passed"
    points = f"{test.get('score', 0):g}/{test.get('max_score', 0):g} points"
    print(f"{argv[1]}: {'passed' if passed else 'failed'} ({points})")
    if test.get("visibility") == "visible" and test.get("output"):
        print(test["output"])
    return EXIT_PASSED if passed else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
