"""The course floor: a whole class graded, from the nbgrader course root (``python -m autograder batch``).

- ``batch``: the command, its options and the run's summary (``summary``);
- ``submissions``: which students submitted, which notebook of each is graded, read without
  following a link; ``store``: the records, and what makes one current;
- ``run``: one run over the class; ``grading``: one submission's record, graded by an engine
  (``LocalEngine``: grading processes of ``processes``; ``cluster.DaskEngine``: a Dask cluster,
  whose workers run ``workers`` with the assignment's ``bundle``); ``servers``: helper processes
  (feedback pages, grading servers on Dask workers); ``shards``: a class graded in parts, merged;
- ``nbgrader_course``, ``gradebook``, ``late``: nbgrader's configuration, gradebook and late penalties;
- ``feedback``: students' pages; ``report``: the instructor's class report (``templates/``,
  ``figures``).

Nothing here is imported by the single-file grader; Dask only by ``cluster`` and ``workers``.
"""
