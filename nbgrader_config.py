"""nbgrader configuration for the course "mnist-mlp"; this repository's root is the course root.

Run every nbgrader command from this directory (for example
``nbgrader generate_assignment mnist_mlp``): run from elsewhere, nbgrader silently
starts a new gradebook there. nbgrader shells out to ``alembic`` when it opens the
gradebook, so the environment's ``bin/`` must be on ``PATH`` (activate the venv).
"""

import os

c = get_config()  # noqa: F821  (nbgrader provides get_config when it loads this file)

# The course this configuration belongs to, and where its folders (source/, release/,
# submitted/, autograded/, feedback/) and the gradebook live: next to this file, wherever
# the checkout is, so a copy of the repository (or of source/ and this file) is a course too.
c.CourseDirectory.course_id = "mnist-mlp"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))

# Never copy these from source/ into release/ (or from submissions into autograded/):
# nbgrader's defaults, plus the data/ folder and MNIST files the notebook downloads when it
# runs without MNIST_DATA_DIR, so that running the source notebook in place cannot put
# MNIST into the release.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "data",
    "*-ubyte.gz",
    "*.part",
]

# What replaces the code between ### BEGIN SOLUTION and ### END SOLUTION in the release
# (nbgrader's default for Python, stated here so the release does not depend on it).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Seconds any one cell may run while autograding or validating (nbgrader's default is 30).
# The training run takes a few seconds with a correct solution; a slow but working student
# version of train can take far longer, and a cell that times out scores 0.
c.Execute.timeout = 120

# If a student deletes a graded cell, put it back from the gradebook when autograding, so
# the cell is graded (and scores 0 if the function is missing) instead of aborting the
# notebook's grading.
c.OverwriteCells.add_missing_cells = True
