"""Honest mistakes: each costs exactly the points of the grade ids it names."""

from corpus import FULL, GRADE_IDS, RELEASE, Entry, code, loses


def mistake(name: str, lost: frozenset[str], *messages: str, append: tuple[str, ...] = (), **replace: str):
    return Entry(name, "mistake", replace=replace, append=append, loses=lost, messages=messages)


TRAIN_STEP = """
    def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
        layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2
        layer_2 = layer_1 @ weights_2
        layer_2_delta = label - layer_2
        layer_1_delta = {hidden_delta}
        loss = np.sum(layer_2_delta ** 2)
        {update}
        return {returned}, np.argmax(layer_2) == np.argmax(label)
"""
TUTORIAL_DELTA = "(weights_2 @ layer_2_delta) * relu2deriv(layer_1) * dropout_mask"
IN_PLACE = """weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
        weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)"""


def train_step(hidden_delta: str = TUTORIAL_DELTA, update: str = IN_PLACE, returned: str = "loss") -> str:
    return code(TRAIN_STEP.format(hidden_delta=hidden_delta, update=update, returned=returned))


TRAIN = """
    def train(training_images, training_labels, test_images, test_labels,
              weights_1, weights_2, epochs, learning_rate, rng):
        {setup}history = {{"training_loss": [], "training_accurate_pred": [],
                   "test_loss": [], "test_accurate_pred": []}}
        for epoch in range(epochs):
            total_loss, total_correct = 0.0, 0
            for image, label in zip(training_images, training_labels):
                mask = dropout_mask(weights_1.shape[1], {rng})
                {step}
                total_loss += loss
                total_correct += int(correct)
            test_loss, test_correct = evaluate({evaluated}, weights_1, weights_2)
            history["training_loss"].append(total_loss)
            history["training_accurate_pred"].append(total_correct)
            history["test_loss"].append(test_loss)
            history["test_accurate_pred"].append(test_correct)
        return history
"""
STEP = "loss, correct = train_step(image, label, weights_1, weights_2, learning_rate, mask)"


def train(rng: str = "rng", step: str = STEP, evaluated: str = "test_images, test_labels",
          setup: str = "") -> str:
    return code(TRAIN.format(rng=rng, step=step, evaluated=evaluated, setup=setup))


EVALUATE = """
    def evaluate(images, labels, weights_1, weights_2):
        outputs = {outputs}
        loss = np.sum((labels - outputs) ** 2)
        return loss, {count}
"""
RIGHT_OUTPUTS = "relu(images @ weights_1) @ weights_2"
RIGHT_COUNT = "int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))"


def evaluate(outputs: str = RIGHT_OUTPUTS, count: str = RIGHT_COUNT) -> str:
    return code(EVALUATE.format(outputs=outputs, count=count))


ENTRIES = [
    Entry("blank_release", "mistake", raw=RELEASE.read_bytes, loses=frozenset(GRADE_IDS),
          messages=("NotImplementedError",)),
    mistake("relu2deriv_greater_or_equal", loses("relu2deriv"), "use > rather than >=",
            relu2deriv=code("""
                def relu2deriv(output):
                    return output >= 0
            """)),
    mistake("relu_returns_comparison", loses("relu"), relu=code("""
        def relu(x):
            return x >= 0
    """)),
    mistake("one_hot_ignores_dimension", loses("one_hot_encoding"), "use the dimension argument",
            one_hot_encoding=code("""
                def one_hot_encoding(labels, dimension=10):
                    encoded = np.zeros((len(labels), 10))
                    encoded[np.arange(len(labels)), labels] = 1.0
                    return encoded
            """)),
    mistake("one_hot_int_dtype", loses("one_hot_encoding"), "dtype float64", one_hot_encoding=code("""
        def one_hot_encoding(labels, dimension=10):
            return np.eye(dimension, dtype=int)[labels]
    """)),
    mistake("dropout_global_state", loses("dropout_mask"), "the same mask", dropout_mask=code("""
        def dropout_mask(shape, rng):
            return np.random.randint(0, 2, size=shape)
    """)),
    mistake("dropout_reseeds", loses("dropout_mask"), "re-seed a generator", dropout_mask=code("""
        def dropout_mask(shape, rng):
            rng = np.random.default_rng(2024)
            return rng.integers(0, 2, size=shape)
    """)),
    mistake("dropout_probability_0_8", loses("dropout_mask"), "the fraction of 1s", dropout_mask=code("""
        def dropout_mask(shape, rng):
            return (rng.random(shape) < 0.8).astype(int)
    """)),
    # relu2deriv of the activations before dropout, and no mask: dropped units get a gradient.
    mistake("train_step_no_mask_in_delta", loses("train_step"), "multiply layer_1_delta by the dropout mask",
            train_step=train_step(hidden_delta="(weights_2 @ layer_2_delta) "
                                               "* relu2deriv(relu(layer_0 @ weights_1))")),
    mistake("train_step_no_relu2deriv", loses("train_step"), "multiply layer_1_delta by relu2deriv",
            train_step=train_step(hidden_delta="(weights_2 @ layer_2_delta) * dropout_mask")),
    mistake("train_step_rebinds_weights", loses("train_step"), "update in place",
            train_step=train_step(update=IN_PLACE.replace("weights_1 +=", "weights_1 = weights_1 +")
                                                 .replace("weights_2 +=", "weights_2 = weights_2 +"))),
    mistake("train_step_loss_after_update", loses("train_step"), "before changing the weights",
            train_step=train_step(returned="np.sum((label - relu(layer_0 @ weights_1) * dropout_mask * 2 "
                                           "@ weights_2) ** 2)")),
    mistake("train_step_transposed_outer", loses("train_step"), "ValueError",
            train_step=train_step(update="""weights_1 += learning_rate * np.outer(layer_1_delta, layer_0)
        weights_2 += learning_rate * np.outer(layer_2_delta, layer_1)""")),
    mistake("evaluate_with_dropout", loses("evaluate"), "the loss from evaluate",
            evaluate=evaluate(outputs="relu(images @ weights_1) * np.random.default_rng(0).integers("
                                      "0, 2, size=weights_1.shape[1]) * 2 @ weights_2")),
    mistake("evaluate_forgets_relu", loses("evaluate"), "the loss from evaluate",
            evaluate=evaluate(outputs="images @ weights_1 @ weights_2")),
    mistake("evaluate_counts_wrongly", loses("evaluate"), "the correct count",
            evaluate=evaluate(count="int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels)))")),
    mistake("train_evaluates_training_data", loses("train"), "test_accurate_pred",
            train=train(evaluated="training_images, training_labels")),
    mistake("train_first_epoch_only", loses("train"), "calls of train_step",
            train=train(step=f"if epoch > 0:\n                    continue\n                {STEP}")),
    Entry("train_own_generator", "mistake", loses=loses("train"),
          replace={"train": train(rng="own", setup="own = np.random.default_rng(2024)\n        ")}),
    mistake("train_never_trains", loses("train"), "calls of train_step",
            train=train(step="loss, correct = 0.0, False")),
    mistake("syntax_error_in_relu2deriv", loses("relu2deriv"), "SyntaxError", relu2deriv=code("""
        def relu2deriv(output)
            return output > 0
    """)),
    mistake("name_error_in_added_cell", FULL, "NameError: \"name 'undefined_helper' is not defined\"",
            append=(code("""
                import numpy as np
                scale = undefined_helper(2)
            """),)),
]
