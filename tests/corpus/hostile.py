"""Hostile submissions (they loop, hog, flood, exit, spawn, import the kit) and tampering
(they try to raise their score): each is graded with a clear message and gains nothing."""

import json
from collections.abc import Callable

from corpus import FULL, GRADE_IDS, HOSTILE_CALL_SECONDS, HOSTILE_LIMITS, Entry, code, loses
from corpus.mistakes import ENTRIES as MISTAKES
from corpus.mistakes import STEP, train

MISTAKE = {entry.name: entry for entry in MISTAKES}
FUNCTIONS = ("one_hot_encoding", "relu", "relu2deriv", "dropout_mask", "train_step", "evaluate", "train")
BLANK = {name: f"def {name}(*args, **kwargs):\n    raise NotImplementedError()\n" for name in FUNCTIONS}
RELU = "def relu(x):\n    return np.maximum(x, 0.0)\n"


def first_answer_only(source: str) -> dict[str, str]:
    """``source`` in the first answer cell, and nothing in the other six."""
    rest = {name: "# nothing here: see the first answer cell\n" for name in FUNCTIONS[1:]}
    return {FUNCTIONS[0]: code(source), **rest}


def hostile(name: str, lost: frozenset[str], *messages: str, append: tuple[str, ...] = (),
            options: tuple[str, ...] = HOSTILE_LIMITS, max_seconds: float = 15, known_hole: str = "",
            **replace: str) -> Entry:
    return Entry(name, "hostile", replace=replace, append=append, loses=lost, messages=messages,
                 options=options, max_seconds=max_seconds, known_hole=known_hole)


def tampering(name: str, base: str, *, before: dict | None = None, replace: dict | None = None,
              known_hole: str = "") -> Entry:
    """``base`` with some answer cells replaced and tampering code put at the top of others.

    The tampering sits in answer cells, which nbgrader runs before the tests of later cells.
    """
    answers = {**MISTAKE[base].replace, **(replace or {})}
    for function, source in (before or {}).items():
        answers[function] = code(source) + "\n" + answers[function]
    return Entry(name, "tampering", replace=answers, no_better_than=base, known_hole=known_hole,
                 options=HOSTILE_LIMITS, max_seconds=15)


# A detached process that must not outlive the grading: started at load time and on every
# call of relu, once in its own session and once as a double-forked daemon.
SPAWN = """
import os, subprocess, sys

def spawn_detached():
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)", "@MARKER@"]
    try:  # a sandbox that lets nothing fork makes this fail: the rest of the cell runs all the same
        subprocess.Popen(sleeper, start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, sleeper)
            os._exit(0)
        os.wait()
    except OSError:
        pass

spawn_detached()
spawned_in_relu = False

def relu(x):
    global spawned_in_relu
    if not spawned_in_relu:  # once: notebooks run outside the grader call relu thousands of times
        spawned_in_relu = True
        spawn_detached()
    return np.maximum(x, 0.0)
"""

FAKE_RESULTS = """
import json
FAKE = json.dumps({"score": 100.0, "output": "@MARKER@", "tests": [{"name": "all", "score": 100.0,
                   "max_score": 100.0, "status": "passed"}]})

def forge():
    for path in ("results.json", "/tmp/@MARKER@-results.json", "@RESULTS@"):
        try:
            with open(path, "w") as handle:
                handle.write(FAKE)
        except OSError:
            pass

forge()
"""

ENTRIES = [
    hostile("relu_infinite_loop", loses("relu"), f"timed out after {HOSTILE_CALL_SECONDS} s in relu",
            relu=code("""
        def relu(x):
            while True:
                pass
    """)),
    hostile("load_loop_ignoring_signals", loses("relu"),
            f"timed out after {HOSTILE_CALL_SECONDS} s while running",
            relu=RELU + code("""
                import signal
                import time
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                while True:  # waits rather than spins: the limit is what is tested, not the CPU
                    time.sleep(60)
            """)),
    hostile("evaluate_allocates_10_gib", loses("evaluate"),
            "killed: memory limit 512 MiB exceeded in evaluate",
            options=(*HOSTILE_LIMITS, "--memory", "512"), evaluate=code("""
                def evaluate(images, labels, weights_1, weights_2):
                    hoard = np.ones(10 * 2**30, dtype=np.uint8)
                    return float(hoard.sum()), 0
            """)),
    hostile("train_memory_creep", loses("train"), "killed: memory limit 512 MiB exceeded in train",
            options=(*HOSTILE_LIMITS, "--memory", "512"), train=code("""
                def train(*args):
                    hoard = []
                    while True:
                        hoard.append(bytearray(2**24))
            """)),
    hostile("one_hot_print_flood", loses("one_hot_encoding"),
            "killed: output limit 64 KiB exceeded in one_hot_encoding",
            options=(*HOSTILE_LIMITS, "--output-limit", "64"),
            one_hot_encoding=code("""
                def one_hot_encoding(labels, dimension=10):
                    while True:
                        print("x" * 1000)
            """)),
    hostile("exit_at_load", loses("relu2deriv"), "exited with status 0 while running",
            relu2deriv=code("""
                def relu2deriv(output):
                    return output > 0

                import os
                os._exit(0)
            """)),
    hostile("exit_in_function", loses("dropout_mask"), "exited with status 0 in dropout_mask",
            dropout_mask=code("""
                def dropout_mask(shape, rng):
                    import os
                    os._exit(0)
            """)),
    hostile("sys_exit_in_function", loses("train_step"), "train_step called sys.exit(",
            train_step=code("""
                def train_step(*args):
                    import sys
                    sys.exit("done")
            """)),
    hostile("slow_everywhere", loses(*FUNCTIONS), "submission time limit of 8 s",
            options=("--call-timeout", "3", "--timeout", "8"), max_seconds=16,
            append=(code("""
                import time

                def slow(function):
                    def wrapper(*args, **kwargs):
                        time.sleep(2)
                        return function(*args, **kwargs)
                    return wrapper

                for _name in ("one_hot_encoding", "relu", "relu2deriv", "dropout_mask", "train_step",
                              "evaluate", "train"):
                    globals()[_name] = slow(globals()[_name])
            """),)),
    hostile("detached_children", FULL, "the submission printed", relu=code(SPAWN),
            append=('print("started")\n',)),
    hostile("imports_the_kit", loses("relu"), "No module named 'solutions'", "No module named 'autograder'",
            relu="from solutions.mnist_mlp import relu\n", append=("import autograder\n",)),
    tampering("patches_numpy_comparisons", "train_step_no_mask_in_delta", before={"train_step": """
        np.allclose = lambda *args, **kwargs: True
        np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
    """}),
    tampering("patches_builtins", "relu_returns_comparison", before={"relu": """
        import builtins
        builtins.isinstance = lambda *a: True
        builtins.all = builtins.any = lambda *a: True
        builtins.abs = lambda x: 0
    """}),
    tampering("object_equal_to_everything", "relu_returns_comparison", replace={"relu": code("""
        class Agreeable:
            def __init__(self, x):
                self.x = x
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __array__(self, dtype=None, copy=None):
                return np.zeros_like(self.x)  # not what relu gives
            def __len__(self):
                return len(self.x)

        def relu(x):
            return Agreeable(x)
    """)}),
    tampering("ndarray_subclass_equal_to_everything", "relu2deriv_greater_or_equal",
              replace={"relu2deriv": code("""
                  class Agreeable(np.ndarray):
                      def __eq__(self, other):
                          return np.ones(self.shape, dtype=bool)
                      def __ne__(self, other):
                          return np.zeros(self.shape, dtype=bool)

                  def relu2deriv(output):
                      return (output >= 0).view(Agreeable)
              """)}),
    tampering("prints_fake_results", "relu2deriv_greater_or_equal", before={"relu2deriv": """
        import json
        print("========== 7 passed in 0.01s ==========")
        print("@MARKER@ Score: 100/100")
        print(json.dumps({"score": 100.0, "output": "@MARKER@", "tests": []}))
    """}),
    tampering("writes_fake_results", "relu2deriv_greater_or_equal", before={"relu2deriv": FAKE_RESULTS},
              replace={"relu2deriv": code("""
                  def relu2deriv(output):
                      forge()
                      return output >= 0
              """)}),
    tampering("reads_shared_files", "blank_release", replace=BLANK, before={"one_hot_encoding": """
        import os
        seen = {}
        for folder, _, files in os.walk("@SHARED@"):
            for name in files:
                if name.endswith((".md", ".py", ".txt", ".json")):
                    with open(os.path.join(folder, name), errors="replace") as handle:
                        seen[name] = handle.read()
        for text in seen.values():
            if "def relu(" in text:
                try:
                    exec(text)
                except Exception:
                    pass
    """}),
    tampering("execs_reference_file", "blank_release", replace=first_answer_only("""
        with open("@REPOSITORY@/solutions/network.py") as handle:
            exec(handle.read())
    """)),
    tampering("steals_references_from_memory", "blank_release", replace=first_answer_only("""
        import gc
        for found in gc.get_objects():
            if type(found) is dict and found.get("__name__") == "reference":
                globals().update({k: v for k, v in found.items() if callable(v)})
    """)),
    # evaluate and train run with the reference relu and train_step injected; they keep them
    # for the student's own relu and train_step, which the checks call later.
    Entry("keeps_injected_references", "tampering", loses=loses("relu", "train_step"), options=HOSTILE_LIMITS,
          replace={
              "relu": code("""
                  kept = {}

                  def relu(x):
                      return kept["relu"](x)
              """),
              "train_step": code("""
                  def train_step(*args):
                      return kept["train_step"](*args)
              """),
              "evaluate": code("""
                  def evaluate(images, labels, weights_1, weights_2):
                      kept["relu"] = relu
                      outputs = relu(images @ weights_1) @ weights_2
                      hits = np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)
                      return np.sum((labels - outputs) ** 2), int(hits.sum())
              """),
              "train": train(step=f'kept["train_step"] = train_step\n                {STEP}'),
          }),
]


# ----------------------------------------------------------------------------- isolation (issue 8)
# Each route to the answers, the checks, classmates or the grader that a determined student
# tried: every one must score no more than the blank notebook (or its honest twin). The ones
# on a correct notebook must keep its full marks: a blocked attack costs nothing but itself.

HARVEST = """
import json, os

def harvest(folder, depth=6):
    # Run every answer found below folder: .py files and notebook code cells that define functions.
    found = 0
    for here, folders, files in os.walk(folder):
        if here.count(os.sep) - folder.count(os.sep) >= depth:
            folders[:] = []
        for name in files:
            path = os.path.join(here, name)
            try:
                with open(path, errors="replace") as handle:
                    text = handle.read(2_000_000)
            except OSError:
                continue
            sources = [text] if name.endswith(".py") else []
            if name.endswith(".ipynb"):
                try:
                    sources = ["".join(c.get("source", "")) for c in json.loads(text)["cells"]]
                except Exception:
                    sources = []
            for source in sources:
                if "def relu(" in source or "def train_step(" in source:
                    try:
                        exec(source, globals())
                        found += 1
                    except Exception:
                        pass
    return found
"""


def harvesting(name: str, where: str) -> Entry:
    """A blank notebook that looks for answers in ``where`` (Python code giving a folder)."""
    return tampering(name, "blank_release", replace=first_answer_only(HARVEST + f"\nharvest({where})\n"))


SIGNALS = """
import os, signal

def send(pid, number):
    try:
        os.kill(pid, number)
    except OSError:
        pass
"""

CARRY = """
import gc, os

CHANNELS = ("/dev/shm/@MARKER@", "/tmp/@MARKER@", os.path.expanduser("~/@MARKER@"), "@MARKER@.py")

def stolen_source():
    for found in gc.get_objects():
        if type(found) is dict and found.get("__name__") == "reference" and "train_step" in found:
            import inspect
            return "\\n".join(inspect.getsource(found[name]) for name in ("train_step",))
    return None

def leave(source):
    for path in CHANNELS:
        try:
            with open(path, "w") as handle:
                handle.write("import numpy as np\\n" + source)
        except OSError:
            pass

def pick_up():
    for path in CHANNELS:
        try:
            with open(path) as handle:
                exec(handle.read(), globals())
                return
        except (OSError, SyntaxError, NameError):
            pass

pick_up()
"""

FORK_MEMORY = """
import os
hoard = []
for _ in range(4):
    try:
        if os.fork() == 0:
            block = bytearray(1536 * 2**20)
            import time
            time.sleep(600)
    except OSError:
        pass
"""

ISOLATION = [
    harvesting("harvests_the_checkout", '"@REPOSITORY@"'),
    harvesting("harvests_git_history", '"@REPOSITORY@/.git"'),
    harvesting("harvests_the_test_corpus", '"@REPOSITORY@/tests"'),
    harvesting("harvests_from_numpy_path", "os.path.realpath(np.__file__) + '/../../../../../..'"),
    harvesting("harvests_from_parent_cmdline",
               """next((p for p in open(f"/proc/{os.getppid()}/cmdline").read().split("\\0")
                   if p.startswith("/")), "/")"""),
    harvesting("harvests_classmates", "os.path.dirname(os.getcwd())"),
    harvesting("harvests_the_home_and_tmp", '"/tmp"'),
    harvesting("harvests_the_whole_machine", '"/", 5'),
    hostile("kills_the_grader", FULL,
            relu=RELU + "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
    hostile("stops_the_grader", FULL,
            relu=RELU + SIGNALS + "send(os.getppid(), signal.SIGSTOP)\n"),
    hostile("kills_every_process", FULL,
            relu=RELU + SIGNALS + "send(-1, signal.SIGKILL)\nsend(0, signal.SIGKILL)\n"),
    hostile("signals_every_pid", FULL,
            relu=RELU + SIGNALS + code("""
                for pid in set(range(1, 4096)) - {os.getpid()}:
                    send(pid, signal.SIGSTOP)
            """)),
    hostile("forks_children_with_memory", FULL, relu=RELU + code(FORK_MEMORY)),
    hostile("fork_loop", FULL, relu=RELU + code("""
        import os
        for _ in range(100_000):
            try:
                if os.fork() == 0:
                    os._exit(0)
            except OSError:
                break
    """)),
    hostile("fills_dev_shm", loses("relu"), "output limit", relu=RELU + code("""
        block = b"x" * 2**20
        for folder in ("/dev/shm", "/tmp", "."):
            try:
                with open(folder + "/@MARKER@-fill", "wb") as handle:
                    for _ in range(1024):
                        handle.write(block)
            except OSError:
                pass
    """)),
    hostile("opens_sockets", FULL, relu=RELU + code("""
        import socket
        for family in (socket.AF_INET, socket.AF_UNIX):
            try:
                socket.socket(family).connect(("127.0.0.1", 22) if family == socket.AF_INET else "\\0x")
            except OSError:
                pass
    """)),
    # The reference train_step that the train check hands over, carried into the process that
    # checks train_step (files in every writable place; the sources run at each process's start).
    tampering("carries_references_between_processes", "blank_release", replace={
        **BLANK,
        "train": code(CARRY) + code("""
            def train(*args):
                source = stolen_source()
                if source:
                    leave(source)
                raise NotImplementedError()
        """),
    }),
    hostile("huge_error_message", loses("relu"), "relu raised ValueError: \"no no", relu=code("""
        def relu(x):
            raise ValueError("no " * 5_000_000)
    """)),
]
ENTRIES += ISOLATION


# ------------------------------------------------------------------ the grading process's own bounds

FORGED_REPLY = """
import json, os, struct, sys, time

def relu(x):
    # Answer the grader itself, announcing far more bytes than any honest reply holds.
    header = json.dumps({"results": [], "arrays": [["<f8", [20_000_000]]]}).encode()
    os.write(int(sys.argv[2]), struct.pack(">Q", len(header)) + header + b"\\0" * 2**20)
    while True:
        time.sleep(60)
"""


def huge_notebook() -> bytes:
    """A notebook of 20 MiB: one cell whose output is a long string."""
    from corpus import SOURCE

    notebook = json.loads(SOURCE.read_text())
    output = {"output_type": "stream", "name": "stdout", "text": "x" * 20 * 2**20}
    notebook["cells"].append({"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "",
                              "outputs": [output]})
    return json.dumps(notebook).encode()


def deeply_nested_notebook() -> bytes:
    return b'{"cells": [], "metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b', "nbformat": 4}'


def with_metadata(grade_id: object, cell_type: str) -> Callable[[], bytes]:
    """The solved notebook with one more cell whose nbgrader grade_id is ``grade_id``."""

    def make() -> bytes:
        from corpus import SOURCE

        notebook = json.loads(SOURCE.read_text())
        cell = {"cell_type": cell_type, "metadata": {"nbgrader": {"grade_id": grade_id, "grade": True}},
                "source": "x = 1\n"}
        if cell_type == "code":
            cell.update(execution_count=None, outputs=[])
        notebook["cells"].insert(3, cell)
        return json.dumps(notebook).encode()

    return make


EVERYTHING = frozenset(GRADE_IDS)
ENTRIES += [
    hostile("forges_a_huge_reply", loses("relu"), "broke the connection to the grader",
            relu=code(FORGED_REPLY)),
    Entry("huge_notebook", "hostile", raw=huge_notebook, loses=EVERYTHING, messages=("larger than 16 MiB",)),
    Entry("deeply_nested_notebook", "hostile", raw=deeply_nested_notebook, loses=EVERYTHING,
          messages=("nested too deeply",)),
    Entry("grade_id_is_a_list_on_markdown", "hostile", raw=with_metadata(["test_relu"], "markdown"),
          loses=FULL),
    Entry("grade_id_is_a_number_on_code", "hostile", raw=with_metadata(7, "code"), loses=FULL),
    Entry("grade_id_is_a_dict_on_code", "hostile", raw=with_metadata({"a": 1}, "code"), loses=FULL),
]
