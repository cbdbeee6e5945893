"""Submissions of the second assignment, ``mnist_minibatch``: correct answers written differently,
honest mistakes (with the grade ids they lose and words of their messages) and a few attacks.

Its test cells are plain asserts but ``test_train`` (a checks module): a mistake in a function
that ``loss_and_gradients`` calls also costs ``test_loss_and_gradients``, as in nbgrader, while
``train``'s checks run with the grader's versions of the functions it calls.
"""

from corpus import FULL, HOSTILE_CALL_SECONDS, HOSTILE_LIMITS, Entry, code, loses

ASSIGNMENT = "mnist_minibatch"


def correct(name: str, **replace: str) -> Entry:
    return Entry(name, "correct", replace=replace, loses=FULL, assignment=ASSIGNMENT)


def mistake(name: str, lost: frozenset[str], *messages: str, **replace: str) -> Entry:
    return Entry(name, "mistake", replace=replace, loses=lost, messages=messages, assignment=ASSIGNMENT)


def hostile(name: str, lost: frozenset[str], *messages: str, **replace: str) -> Entry:
    return Entry(name, "hostile", replace=replace, loses=lost, messages=messages, options=HOSTILE_LIMITS,
                 max_seconds=15, assignment=ASSIGNMENT)


def tampering(name: str, base: Entry, before: dict[str, str] | None = None, **replace: str) -> Entry:
    """``base`` with tampering code put at the top of some answer cells (``before``) or in others."""
    answers = {**base.replace, **replace}
    for function, source in (before or {}).items():
        answers[function] = code(source) + "\n" + answers[function]
    return Entry(name, "tampering", replace=answers, no_better_than=base.name, options=HOSTILE_LIMITS,
                 max_seconds=15, assignment=ASSIGNMENT)


SGD_WITHOUT_MOMENTUM = mistake("minibatch_sgd_step_without_momentum", loses("sgd_step"),
                               "after sgd_step the velocity is still zero", sgd_step=code("""
    def sgd_step(params, grads, velocity, learning_rate, momentum):
        for key in params:
            params[key] -= learning_rate * grads[key]
"""))
FORWARD_WITHOUT_BIAS = mistake("minibatch_affine_forward_forgets_the_bias",
                               loses("affine_forward", "loss_and_gradients"), "out should be x @ w + b",
                               affine_forward=code("""
    def affine_forward(x, w, b):
        return x @ w, (x, w)
"""))

ENTRIES = [
    correct("minibatch_reference"),
    correct("minibatch_layers_written_differently", init_params=code("""
        def init_params(input_size, hidden_size, output_size, rng):
            sizes = [(input_size, hidden_size), (hidden_size, output_size)]
            weights = [rng.normal(0.0, np.sqrt(2 / rows), size=(rows, columns)) for rows, columns in sizes]
            return {"W1": weights[0], "b1": np.zeros(hidden_size, dtype=np.float64),
                    "W2": weights[1], "b2": np.zeros(output_size)}
    """), affine_forward=code("""
        def affine_forward(x, w, b):
            return np.dot(x, w) + b[np.newaxis, :], {"inputs": x, "weights": w}
    """), affine_backward=code("""
        def affine_backward(dout, cache):
            x, w = cache["inputs"], cache["weights"]
            return np.einsum("nm,dm->nd", dout, w), np.einsum("nd,nm->dm", x, dout), np.ones(len(dout)) @ dout
    """), softmax_cross_entropy=code("""
        def softmax_cross_entropy(scores, labels):
            count = len(labels)
            exponentials = np.exp(scores - np.max(scores, axis=1, keepdims=True))
            probabilities = exponentials / np.sum(exponentials, axis=1, keepdims=True)
            one_hot = np.zeros_like(probabilities)
            one_hot[np.arange(count), labels] = 1
            loss = -np.sum(np.log(probabilities[np.arange(count), labels])) / count
            return loss, (probabilities - one_hot) / count
    """)),
    correct("minibatch_loop_written_differently", minibatch_indices=code("""
        def minibatch_indices(count, batch_size, rng):
            order = rng.choice(count, size=count, replace=False)
            return np.split(order, np.arange(batch_size, count, batch_size))
    """), sgd_step=code("""
        def sgd_step(params, grads, velocity, learning_rate, momentum):
            for key in list(params):
                velocity[key] = momentum * velocity[key] - learning_rate * grads[key]
                params[key] = params[key] + velocity[key]
    """), train=code("""
        import copy

        def train(params, training_images, training_labels, validation_images, validation_labels,
                  rng, epochs, batch_size, learning_rate, momentum, patience):
            velocity = {name: np.zeros(array.shape) for name, array in params.items()}
            history = {"training_loss": [], "validation_accuracy": [], "best_epoch": 0}
            best_params, best_score, waited, epoch = copy.deepcopy(params), None, 0, 0
            while epoch < epochs and waited < patience:
                total, steps = 0.0, 0
                for batch in minibatch_indices(training_images.shape[0], batch_size, rng):
                    loss, grads = loss_and_gradients(params, training_images[batch], training_labels[batch])
                    sgd_step(params, grads, velocity, learning_rate, momentum)
                    total, steps = total + loss, steps + 1
                score = accuracy(params, validation_images, validation_labels)
                history["training_loss"].append(total / steps)
                history["validation_accuracy"].append(score)
                if best_score is None or score > best_score:
                    best_score, waited, history["best_epoch"] = score, 0, epoch
                    best_params = copy.deepcopy(params)
                else:
                    waited += 1
                epoch += 1
            return best_params, history
    """)),
    mistake("minibatch_init_params_global_random", loses("init_params"), "draw every number from rng",
            init_params=code("""
        def init_params(input_size, hidden_size, output_size, rng):
            return {"W1": np.random.randn(input_size, hidden_size) * np.sqrt(2 / input_size),
                    "b1": np.zeros(hidden_size),
                    "W2": np.random.randn(hidden_size, output_size) * np.sqrt(2 / hidden_size),
                    "b2": np.zeros(output_size)}
    """)),
    FORWARD_WITHOUT_BIAS,
    mistake("minibatch_affine_backward_db_is_a_mean", loses("affine_backward", "loss_and_gradients"),
            "does not match the finite-difference gradient", affine_backward=code("""
        def affine_backward(dout, cache):
            x, w = cache
            return dout @ w.T, x.T @ dout, dout.mean(axis=0)
    """)),
    SGD_WITHOUT_MOMENTUM,
    mistake("minibatch_train_makes_its_own_generator", loses("train"), "the state of rng after train",
            train=code("""
        def train(params, training_images, training_labels, validation_images, validation_labels,
                  rng, epochs, batch_size, learning_rate, momentum, patience):
            shuffler = np.random.default_rng(0)
            velocity = {key: np.zeros_like(value) for key, value in params.items()}
            history = {"training_loss": [], "validation_accuracy": []}
            best_accuracy, best_epoch, best_params = -1.0, -1, None
            for epoch in range(epochs):
                losses = []
                for batch in minibatch_indices(len(training_images), batch_size, shuffler):
                    loss, grads = loss_and_gradients(params, training_images[batch], training_labels[batch])
                    sgd_step(params, grads, velocity, learning_rate, momentum)
                    losses.append(loss)
                score = accuracy(params, validation_images, validation_labels)
                history["training_loss"].append(float(np.mean(losses)))
                history["validation_accuracy"].append(score)
                if score > best_accuracy:
                    best_accuracy, best_epoch = score, epoch
                    best_params = {key: value.copy() for key, value in params.items()}
                elif epoch - best_epoch >= patience:
                    break
            history["best_epoch"] = best_epoch
            return best_params, history
    """)),
    hostile("minibatch_train_waits_forever", loses("train"),
            f"timed out after {HOSTILE_CALL_SECONDS} s in train", train=code("""
        import time

        def train(*args):
            while True:  # waits rather than spins: the limit is what is tested, not the CPU
                time.sleep(1)
    """)),
    hostile("minibatch_exit_in_sgd_step", loses("sgd_step"), "exited with status 0 in sgd_step",
            sgd_step=code("""
        def sgd_step(params, grads, velocity, learning_rate, momentum):
            import os
            os._exit(0)
    """)),
    # Round 4: answers that change what the test cell computes its expected values from, and what
    # a notebook's kernel would have caught (an errstate around the call, a warning under the cell).
    hostile("minibatch_backward_zeroes_dout", loses("affine_backward", "loss_and_gradients"),
            "affine_backward changed dout or the arrays of the cache", affine_backward=code("""
        def affine_backward(dout, cache):
            x, w = cache
            dout[...] = 0  # the test's expected gradients are computed from dout after the call
            return np.zeros(np.shape(x)), np.zeros(np.shape(w)), np.zeros(np.shape(w)[1])
    """)),
    hostile("minibatch_gradients_zero_params", loses("loss_and_gradients"),
            "loss_and_gradients changed params", loss_and_gradients=code("""
        def loss_and_gradients(params, images, labels):
            for value in params.values():
                value[...] = 0  # zero weights: the expected loss and gradients become trivial
            loss, dscores = softmax_cross_entropy(np.zeros((len(labels), params["W2"].shape[1])), labels)
            grads = {key: np.zeros_like(value) for key, value in params.items()}
            grads["b2"] = dscores.sum(axis=0)
            return loss, grads
    """)),
    hostile("minibatch_sgd_step_empties_unknown_params", loses("sgd_step"), "not add or remove keys",
            sgd_step=code("""
        def sgd_step(params, grads, velocity, learning_rate, momentum):
            known = ("W", "b", "w", "W1", "b1", "W2", "b2")
            if any(key not in known for key in params):
                params.clear()  # the test loops over params' keys: none left, nothing checked
                return
            for key in known:
                if key in params:
                    velocity[key] *= momentum
                    velocity[key] -= learning_rate * grads[key]
                    params[key] += velocity[key]
    """)),
    mistake("minibatch_softmax_overflows_on_the_side", loses("softmax_cross_entropy"),
            "scores of 1000 made the computation overflow", softmax_cross_entropy=code("""
        def softmax_cross_entropy(scores, labels):
            raw = np.exp(scores)  # unused, and inf for scores of 1000: the cell's errstate raises
            rows = np.arange(scores.shape[0])
            shifted = scores - scores.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
            dscores = np.exp(log_p)
            dscores[rows, labels] -= 1.0
            return float(-np.mean(log_p[rows, labels])), dscores / scores.shape[0]
    """)),
    mistake("minibatch_forward_warns", loses("affine_forward", "affine_backward", "loss_and_gradients"),
            "a warning of affine_forward", affine_forward=code("""
        import warnings

        def affine_forward(x, w, b):
            warnings.warn("affine_forward was called")  # under the cell on standard error: nbgrader's 0
            return x @ w + b, (x, w)
    """)),
    tampering("minibatch_patches_numpy_comparisons", SGD_WITHOUT_MOMENTUM, before={"sgd_step": """
        np.allclose = lambda *args, **kwargs: True
        np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
        np.array_equal = lambda *args, **kwargs: True
    """}),
    tampering("minibatch_object_equal_to_everything", FORWARD_WITHOUT_BIAS, affine_forward=code("""
        class Agreeable:
            def __init__(self, x):
                self.x = x
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __array__(self, dtype=None, copy=None):
                return np.zeros(1)  # not what the layer gives

        def affine_forward(x, w, b):
            return Agreeable(x), (x, w)
    """)),
]
