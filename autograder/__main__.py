"""``python -m autograder``: grade a notebook, or run one of the other commands.

``python -m autograder SUBMISSION.ipynb`` grades one notebook (``autograder.cli``);
``batch`` grades a class, ``package`` builds the Gradescope or Classroom files, ``new`` and
``validate`` write and prove assignments. Each command is imported only when it runs.
"""

import importlib
import sys

COMMANDS = {"batch": ("autograder.course.batch", 1), "package": ("autograder.lms", 1),
            "new": ("autograder.authoring", 0), "validate": ("autograder.authoring", 0)}


def main(argv: list[str]) -> int:
    module, skip = COMMANDS.get(argv[0] if argv else "", ("autograder.cli", 0))
    return importlib.import_module(module).main(argv[skip:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
