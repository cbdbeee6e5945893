"""Entry point: ``python -m autograder SUBMISSION.ipynb`` (see ``--help``)."""

import sys

from autograder.cli import main

sys.exit(main())
