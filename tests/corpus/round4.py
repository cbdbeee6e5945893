"""Attacks of round 4 (a red team on the kit after round 3): answers that slip past comparisons,
work the grader's own functions do for the student, and what the student process is, sends or
leaves behind that the grader did not foresee (a signal with no name, array sizes that overflow,
a folder tree too deep to remove by recursion).

Every entry is graded on host (a) by ``test_grader.py``; ``test_hosts.py`` grades the deep tree on
every host (its folder is on disk where there are no namespaces) and the rest with --exhaustive.
"""

from corpus import FULL, HOSTILE_LIMITS, Entry, code, loses
from corpus.round3 import FORGER


def attack(name: str, lost: frozenset[str], *messages: str, append: tuple[str, ...] = (),
           **replace: str) -> Entry:
    return Entry(name, "hostile", replace=replace, append=append, loses=lost, messages=messages,
                 options=HOSTILE_LIMITS, max_seconds=20)


# A wrong mask (1 with probability 0.3), right in form when drawn small and alone, NaN when drawn
# large or often (the fraction's checks): no comparison with NaN is true, so "is the fraction
# off?" said no.
NAN_ON_LATER_DRAWS = code("""
    import numpy as np
    seen = {"rng": None, "n": 0}

    def dropout_mask(shape, rng):
        if seen["rng"] is rng:
            seen["n"] += 1
        else:
            seen["rng"], seen["n"] = rng, 1
        mask = (rng.random(shape) < 0.3).astype(float)
        if np.size(mask) >= 20000 or seen["n"] >= 3:
            mask[...] = np.nan
        return mask
""")

# train gives the grader's evaluate what it computes slowest: float16 and long double products
# (no BLAS), then more elements than the check gave train (all under the reply's size cap, which
# would stop them first). Refused before the grader's evaluate runs: train loses its points only.
OVERLOADS_THE_GRADER = code("""
    import numpy as np

    def train(training_images, training_labels, test_images, test_labels, weights_1, weights_2,
              epochs, learning_rate, rng):
        if getattr(evaluate, "__globals__", None) is globals():
            return {}  # its own evaluate (the accuracy check's run): only the grader's is the target
        for dtype, n, k in ((np.float16, 2000, 3000), (np.longdouble, 1000, 1000), (np.float64, 1000, 1000)):
            images, w1 = np.ones((n, k), dtype=dtype), np.ones((k, n), dtype=dtype)
            try:
                evaluate(images, np.ones((1, 1), dtype=dtype), w1, np.ones((n, 1), dtype=dtype))
            except Exception:
                pass
        return {}
""")

# A real-time signal: a number with no name in Python's signal.Signals.
DIES_OF_A_REALTIME_SIGNAL = code("""
    import os, signal

    def relu(x):
        os.kill(os.getpid(), signal.SIGRTMIN + 6)
""")

# A reply whose array sizes overflow 64 bits (to 0, and below 0), written at load time.
OVERFLOWING_SIZES = FORGER + code("""
    worker = the_worker()
    for shape in ([2**32, 2**32], [2**62, 3]):
        head = json.dumps({"seq": worker.seqs[-1], "errors": [], "arrays": [["<f8", shape]]}).encode()
        worker.replies.write(struct.pack(">Q", len(head)) + head)
        worker.replies.flush()
""")

# 3,000 folders deep in its own scratch folder: Python 3.11's shutil.rmtree gives up at ~1,000.
DEEP_TREE = code("""
    import os
    here = os.getcwd()
    for _ in range(3000):
        os.mkdir("d")
        os.chdir("d")
    os.chdir(here)
""")

ENTRIES = [
    attack("nan_mask_on_later_draws", loses("dropout_mask"), "only 0s and 1s",
           dropout_mask=NAN_ON_LATER_DRAWS),
    attack("overloads_the_grader_through_calls", loses("train"), train=OVERLOADS_THE_GRADER),
    attack("dies_of_a_realtime_signal", loses("relu"), "crashed with signal SIGRTMIN+6 in relu",
           relu=DIES_OF_A_REALTIME_SIGNAL),
    attack("forges_overflowing_array_sizes", FULL, "beyond the size limit", append=(OVERFLOWING_SIZES,)),
    attack("leaves_a_deep_folder_tree", FULL, append=(DEEP_TREE,)),
]
