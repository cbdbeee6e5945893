"""The grader's checks: one pytest module per autograded cell, named by its grade id.

Each ``test_*`` function takes ``student`` (something with ``call(function, args,
kwargs=None, repeat=1)``, see ``autograder.sandbox.Sandbox``) and ``rng`` (a seeded
``numpy.random.Generator``). The same functions run under pytest for
``python -m autograder`` and in-process in the notebook's hidden tests.
"""
