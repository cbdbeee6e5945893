"""Submissions as students write them: the tutorial's code fitted to the contract, other correct
answers, and the mistakes the checks must name. Each names the grade ids it loses (none for a
correct one) and words its message must contain.
"""

from corpus import FULL, Entry, code, loses
from corpus.mistakes import evaluate, train, train_step


def right(name: str, *messages: str, append: tuple[str, ...] = (), **replace: str) -> Entry:
    return Entry(name, "correct", replace=replace, append=append, loses=FULL, messages=messages)


def wrong(name: str, lost: frozenset[str], *messages: str, append: tuple[str, ...] = (),
          **replace: str) -> Entry:
    assert messages, name
    return Entry(name, "mistake", replace=replace, append=append, loses=lost, messages=messages)


def fn(source: str) -> str:
    return code(source)


STEP_LOSS = "loss = np.sum(layer_2_delta ** 2)"

# The tutorial's training step, fitted to the contract's train_step.
TUTORIAL_STEP = fn("""
    def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        layer_1 = np.dot(layer_0, weights_1)
        layer_1 = relu(layer_1)
        layer_1 *= dropout_mask * 2
        layer_2 = np.dot(layer_1, weights_2)
        loss = np.sum((label - layer_2) ** 2)
        correct = int(np.argmax(layer_2) == np.argmax(label))
        layer_2_delta = label - layer_2
        layer_1_delta = np.dot(weights_2, layer_2_delta) * relu2deriv(layer_1)
        layer_1_delta *= dropout_mask
        weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
        weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
        return loss, correct
""")
# The tutorial's loop written inline in train, without the contract's functions.
TUTORIAL_INLINE_TRAIN = fn("""
    def train(training_images, training_labels, test_images, test_labels,
              weights_1, weights_2, epochs, learning_rate, rng):
        store = {"training_loss": [], "training_accurate_pred": [], "test_loss": [], "test_accurate_pred": []}
        for j in range(epochs):
            training_loss = 0.0
            training_accurate_predictions = 0
            for i in range(len(training_images)):
                layer_0 = training_images[i]
                layer_1 = relu(np.dot(layer_0, weights_1))
                mask = rng.integers(low=0, high=2, size=layer_1.shape)
                layer_1 *= mask * 2
                layer_2 = np.dot(layer_1, weights_2)
                training_loss += np.sum((training_labels[i] - layer_2) ** 2)
                training_accurate_predictions += int(np.argmax(layer_2) == np.argmax(training_labels[i]))
                layer_2_delta = training_labels[i] - layer_2
                layer_1_delta = np.dot(weights_2, layer_2_delta) * relu2deriv(layer_1) * mask
                weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
                weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
            results = relu(test_images @ weights_1) @ weights_2
            store["training_loss"].append(training_loss)
            store["training_accurate_pred"].append(training_accurate_predictions)
            store["test_loss"].append(np.sum((test_labels - results) ** 2))
            hits = np.argmax(results, axis=1) == np.argmax(test_labels, axis=1)
            store["test_accurate_pred"].append(np.sum(hits))
        return store
""")
TUTORIAL_TRAIN = fn("""
    def train(training_images, training_labels, test_images, test_labels,
              weights_1, weights_2, epochs, learning_rate, rng):
        store_training_loss, store_training_accurate_pred = [], []
        store_test_loss, store_test_accurate_pred = [], []
        for j in range(epochs):
            training_loss = 0.0
            training_accurate_predictions = 0
            for i in range(len(training_images)):
                mask = dropout_mask(weights_1.shape[1], rng)
                loss, correct = train_step(training_images[i], training_labels[i], weights_1, weights_2,
                                           learning_rate, mask)
                training_loss += loss
                training_accurate_predictions += int(correct)
            store_training_loss.append(training_loss)
            store_training_accurate_pred.append(training_accurate_predictions)
            test_loss, test_accurate_predictions = evaluate(test_images, test_labels, weights_1, weights_2)
            store_test_loss.append(test_loss)
            store_test_accurate_pred.append(test_accurate_predictions)
        return {"training_loss": store_training_loss, "training_accurate_pred": store_training_accurate_pred,
                "test_loss": store_test_loss, "test_accurate_pred": store_test_accurate_pred}
""")


def step_with(old: str, new: str) -> str:
    source = train_step()
    assert old in source, old
    return source.replace(old, new)


def loop_with(old: str, new: str, base: str | None = None) -> str:
    source = base or train()
    assert old in source, old
    return source.replace(old, new)


UPDATE_2_FIRST = fn("""
    def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2
        layer_2 = layer_1 @ weights_2
        layer_2_delta = label - layer_2
        weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
        layer_1_delta = (weights_2 @ layer_2_delta) * relu2deriv(layer_1) * dropout_mask
        weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
        return np.sum(layer_2_delta ** 2), np.argmax(layer_2) == np.argmax(label)
""")
FLOAT32_STEP = fn("""
    def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        x, w1, w2, t = (a.astype(np.float32) for a in (layer_0, weights_1, weights_2, label))
        layer_1 = relu(x @ w1) * (dropout_mask * 2).astype(np.float32)
        layer_2 = layer_1 @ w2
        layer_2_delta = t - layer_2
        layer_1_delta = (w2 @ layer_2_delta) * relu2deriv(layer_1) * dropout_mask
        weights_1 += learning_rate * np.outer(x, layer_1_delta)
        weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
        return float(np.sum(layer_2_delta ** 2)), bool(np.argmax(layer_2) == np.argmax(label))
""")

CORRECT = [
    right("tutorial_one_hot", one_hot_encoding=fn("""
        def one_hot_encoding(labels, dimension=10):
            one_hot_labels = labels[..., None] == np.arange(dimension)[None]
            return one_hot_labels.astype(np.float64)
    """)),
    right("tutorial_relu", relu=fn("""
        def relu(x):
            return (x >= 0) * x
    """)),
    right("tutorial_train_step", train_step=TUTORIAL_STEP),
    right("tutorial_evaluate", evaluate=fn("""
        def evaluate(images, labels, weights_1, weights_2):
            results = relu(images @ weights_1) @ weights_2
            test_loss = np.sum((labels - results) ** 2)
            test_accurate_predictions = np.sum(np.argmax(results, axis=1) == np.argmax(labels, axis=1))
            return test_loss, test_accurate_predictions
    """)),
    right("tutorial_train", train=TUTORIAL_TRAIN),
    # An answer cell that first looks at the data of the given cells, as in the notebook.
    right("answer_uses_given_data", relu=fn("""
        print(training_images.shape, training_labels[:2])
        scale = training_images.max()

        def relu(x):
            return np.maximum(x, 0)
    """)),
    right("added_cell_uses_hyperparameters", append=(fn("""
        print(weights_1.shape, learning_rate, hidden_size)
        print(relu(np.array([-1.0, 2.0])))
    """),)),
    right("relu_clip", relu=fn("""
        def relu(x):
            return np.clip(x, 0, None)
    """)),
    right("relu_half_of_x_plus_abs", relu=fn("""
        def relu(x):
            return (x + np.abs(x)) / 2
    """)),
    right("relu2deriv_heaviside", relu2deriv=fn("""
        def relu2deriv(output):
            return np.heaviside(output, 0.0)
    """)),
    right("relu2deriv_where_int", relu2deriv=fn("""
        def relu2deriv(output):
            return np.where(output > 0, 1, 0)
    """)),
    right("dropout_binomial", dropout_mask=fn("""
        def dropout_mask(shape, rng):
            return rng.binomial(1, 0.5, size=shape)
    """)),
    right("dropout_choice", dropout_mask=fn("""
        def dropout_mask(shape, rng):
            return rng.choice([0, 1], size=shape)
    """)),
    right("one_hot_loop", one_hot_encoding=fn("""
        def one_hot_encoding(labels, dimension=10):
            result = np.zeros((len(labels), dimension))
            for row, label in enumerate(labels):
                result[row][label] = 1.0
            return result
    """)),
    right("evaluate_loop_over_images", evaluate=fn("""
        def evaluate(images, labels, weights_1, weights_2):
            loss, hits = 0.0, 0
            for image, label in zip(images, labels):
                output = relu(image @ weights_1) @ weights_2
                loss += np.sum((label - output) ** 2)
                hits += int(np.argmax(output) == np.argmax(label))
            return loss, hits
    """)),
    right("evaluate_float32", evaluate=fn("""
        def evaluate(images, labels, weights_1, weights_2):
            w1, w2 = weights_1.astype(np.float32), weights_2.astype(np.float32)
            outputs = relu(images.astype(np.float32) @ w1) @ w2
            loss = np.sum((labels.astype(np.float32) - outputs) ** 2)
            return loss, int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))
    """)),
    right("train_step_float32", train_step=FLOAT32_STEP),
    right("train_numpy_sums", train=fn("""
        def train(training_images, training_labels, test_images, test_labels,
                  weights_1, weights_2, epochs, learning_rate, rng):
            columns = [[], [], [], []]
            for _ in range(epochs):
                steps = []
                for k in range(len(training_images)):
                    mask = dropout_mask(weights_1.shape[1], rng)
                    steps.append(train_step(training_images[k], training_labels[k], weights_1, weights_2,
                                            learning_rate, mask))
                steps = np.array(steps, dtype=float)
                tested = evaluate(test_images, test_labels, weights_1, weights_2)
                for column, value in zip(columns, (steps[:, 0].sum(), steps[:, 1].sum(), *tested)):
                    column.append(value)
            keys = ["training_loss", "training_accurate_pred", "test_loss", "test_accurate_pred"]
            return dict(zip(keys, columns))
    """)),
]

MISTAKES = [
    wrong("relu_modifies_input", loses("relu"), "x after relu", "instead of assigning into x", relu=fn("""
        def relu(x):
            x[x < 0] = 0
            return x
    """)),
    wrong("relu_python_max", loses("relu"), "relu raised ValueError", "np.maximum, np.where", relu=fn("""
        def relu(x):
            return max(0, x)
    """)),
    wrong("relu_max_loop_rows", loses("relu"), "np.maximum, np.where", relu=fn("""
        def relu(x):
            return np.array([max(0.0, value) for value in x])
    """)),
    wrong("relu_abs", loses("relu"), "must become 0, not change sign", relu=fn("""
        def relu(x):
            return np.abs(x)
    """)),
    wrong("relu2deriv_in_place", loses("relu2deriv"), "output after relu2deriv", relu2deriv=fn("""
        def relu2deriv(output):
            output[output > 0] = 1
            return output
    """)),
    wrong("relu2deriv_returns_relu", loses("relu2deriv"), "returned the output itself", relu2deriv=fn("""
        def relu2deriv(output):
            return np.maximum(output, 0)
    """)),
    wrong("tutorial_relu2deriv", loses("relu2deriv"), "rather than >=", relu2deriv=fn("""
        def relu2deriv(output):
            return output >= 0
    """)),
    wrong("one_hot_minus_one", loses("one_hot_encoding"), "index is out of range", one_hot_encoding=fn("""
        def one_hot_encoding(labels, dimension=10):
            encoded = np.zeros((len(labels), dimension))
            encoded[np.arange(len(labels)), labels - 1] = 1.0
            return encoded
    """)),
    wrong("one_hot_transposed", loses("one_hot_encoding"), "not the transpose", one_hot_encoding=fn("""
        def one_hot_encoding(labels, dimension=10):
            return np.eye(dimension)[:, labels]
    """)),
    wrong("dropout_high_exclusive", loses("dropout_mask"), "high is exclusive", dropout_mask=fn("""
        def dropout_mask(shape, rng):
            return rng.integers(0, 1, size=shape)
    """)),
    wrong("dropout_zeros_and_twos", loses("dropout_mask"), "a mask of 0s and 2s", dropout_mask=fn("""
        def dropout_mask(shape, rng):
            return rng.integers(0, 2, size=shape) * 2
    """)),
    wrong("dropout_fresh_generator", loses("dropout_mask"), "never from np.random", dropout_mask=fn("""
        def dropout_mask(shape, rng):
            return np.random.default_rng().integers(0, 2, size=shape)
    """)),
    wrong("train_step_no_dropout_factor", loses("train_step"), "dropout_mask * 2",
          train_step=step_with("* dropout_mask * 2", "* dropout_mask")),
    wrong("train_step_mean_loss", loses("train_step"), "a mean, not a sum",
          train_step=step_with(STEP_LOSS, "loss = np.mean(layer_2_delta ** 2)")),
    wrong("train_step_half_loss", loses("train_step"), "without a factor 1/2",
          train_step=step_with(STEP_LOSS, "loss = 0.5 * np.sum(layer_2_delta ** 2)")),
    wrong("train_step_swapped_pair", loses("train_step"), "the wrong way round",
          train_step=step_with("return loss, np.argmax(layer_2) == np.argmax(label)",
                               "return np.argmax(layer_2) == np.argmax(label), loss")),
    wrong("train_step_no_square", loses("train_step"), "square the differences",
          train_step=step_with(STEP_LOSS, "loss = np.sum(layer_2_delta)")),
    wrong("train_step_updates_weights_2_first", loses("train_step"), "as it was in the forward pass",
          train_step=UPDATE_2_FIRST),
    wrong("train_step_weights_2_before_dropout", loses("train_step"), "layer_1 after dropout",
          train_step=fn("""
              def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
                  hidden = relu(layer_0 @ weights_1)
                  layer_1 = hidden * dropout_mask * 2
                  layer_2 = layer_1 @ weights_2
                  layer_2_delta = label - layer_2
                  layer_1_delta = (weights_2 @ layer_2_delta) * relu2deriv(layer_1) * dropout_mask
                  weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
                  weights_2 += learning_rate * np.outer(hidden, layer_2_delta)
                  return np.sum(layer_2_delta ** 2), np.argmax(layer_2) == np.argmax(label)
          """)),
    wrong("train_step_dot_for_outer", loses("train_step"), "np.outer(a, b)",
          train_step=step_with("np.outer(layer_0, layer_1_delta)", "np.dot(layer_0, layer_1_delta)")),
    wrong("train_step_fixed_rate", loses("train_step"), "not a fixed 0.005",
          train_step=step_with("weights_1 += learning_rate", "weights_1 += 0.005")
          .replace("weights_2 += learning_rate", "weights_2 += 0.005")),
    wrong("train_step_subtracts", loses("train_step"), "already carries the minus sign",
          train_step=step_with("weights_1 +=", "weights_1 -=").replace("weights_2 +=", "weights_2 -=")),
    wrong("evaluate_mean_loss", loses("evaluate"), "a mean, not a sum",
          evaluate=evaluate().replace("loss = np.sum(", "loss = np.mean(")),
    wrong("evaluate_loss_per_image", loses("evaluate"), "not the loss per image",
          evaluate=evaluate().replace("return loss,", "return loss / len(images),")),
    wrong("evaluate_fraction", loses("evaluate"), "not the fraction",
          evaluate=evaluate(count="np.mean(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1))")),
    wrong("evaluate_doubled", loses("evaluate"), "no factor 2 either",
          evaluate=evaluate(outputs="relu(images @ weights_1) * 2 @ weights_2")),
    wrong("train_counters_not_reset", loses("train"), "reset the totals",
          train=loop_with("    for epoch in range(epochs):\n        total_loss, total_correct = 0.0, 0\n",
                          "    total_loss, total_correct = 0.0, 0\n    for epoch in range(epochs):\n")),
    wrong("train_last_correct_only", loses("train"), "not only the last",
          train=loop_with("total_correct += int(correct)", "total_correct = int(correct)")),
    wrong("train_mean_loss", loses("train"), "not the mean",
          train=loop_with('history["training_loss"].append(total_loss)',
                          'history["training_loss"].append(total_loss / len(training_images))')),
    wrong("train_fixed_rate", loses("train"), "0.005 is the notebook's value",
          train=loop_with("weights_2, learning_rate, mask)", "weights_2, 0.005, mask)")),
    wrong("tutorial_inline_training_loop", loses("train"), "train must call train_step",
          train=TUTORIAL_INLINE_TRAIN),
    wrong("train_global_hidden_size", loses("train"), "weights_1.shape[1]",
          train=loop_with("dropout_mask(weights_1.shape[1], rng)", "dropout_mask(hidden_size, rng)")),
    wrong("train_shuffles", loses("train"), "history[",
          train=loop_with("for image, label in zip(training_images, training_labels):",
                          "order = rng.permutation(len(training_images))\n        "
                          "for image, label in zip(training_images[order], training_labels[order]):")),
    wrong("train_test_loss_per_image", loses("train"), "history['test_loss']",
          train=loop_with('history["test_loss"].append(test_loss)',
                          'history["test_loss"].append(test_loss / len(test_images))')),
    wrong("train_key_typo", loses("train"), "check the spelling",
          train=loop_with('"training_accurate_pred": [],', '"training_accuracy_pred": [],')
          .replace('history["training_accurate_pred"]', 'history["training_accuracy_pred"]')),
    # A name from a given cell further down (the hyperparameters) is not there yet when the
    # answer cell runs, in the notebook as in the grader; the place is named as the student sees it.
    wrong("answer_uses_later_given_cell", loses("relu"), "relu is not defined", "Task 2 answer cell",
          relu=fn("""
              step = learning_rate * 2

              def relu(x):
                  return np.maximum(x, 0)
          """)),
    wrong("syntax_error_in_train_step", loses("train_step"), "Task 5 answer cell", "SyntaxError",
          train_step=train_step().replace("def train_step(", "def train_step(:", 1)),
]

ENTRIES = [*CORRECT, *MISTAKES]
