"""Correct submissions written differently from the reference: each must get every point."""

from corpus import FULL, Entry, code


def correct(name: str, **replace: str) -> Entry:
    return Entry(name, "correct", replace=replace, loses=FULL)


ENTRIES = [
    correct("reference"),
    correct("relu_times_mask", relu=code("""
        def relu(x):
            return x * (x > 0)
    """)),
    correct("relu_np_where", relu=code("""
        def relu(x):
            return np.where(x > 0, x, 0)
    """)),
    correct("relu_in_place_on_a_copy", relu=code("""
        def relu(x):
            result = x.copy()
            result[result < 0] = 0
            return result
    """)),
    correct("relu2deriv_returns_bool", relu2deriv=code("""
        def relu2deriv(output):
            return output > 0
    """)),
    correct("one_hot_eye_indexing", one_hot_encoding=code("""
        def one_hot_encoding(labels, dimension=10):
            return np.eye(dimension)[labels]
    """)),
    correct("dropout_random_below_half", dropout_mask=code("""
        def dropout_mask(shape, rng):
            return (rng.random(shape) < 0.5).astype(int)
    """)),
    correct("dropout_integers", dropout_mask=code("""
        def dropout_mask(shape, rng):
            return rng.integers(0, 2, size=shape)
    """)),
    correct("train_step_explicit_variables", train_step=code("""
        def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
            hidden_input = np.dot(layer_0, weights_1)
            hidden_active = relu(hidden_input)
            doubled_mask = dropout_mask * 2
            layer_1 = hidden_active * doubled_mask
            layer_2 = np.dot(layer_1, weights_2)
            error = label - layer_2
            loss = np.sum(error ** 2)
            correct = int(np.argmax(layer_2) == np.argmax(label))
            back = np.dot(weights_2, error)
            gate = relu2deriv(layer_1)
            layer_1_delta = back * gate * dropout_mask
            update_1 = learning_rate * np.outer(layer_0, layer_1_delta)
            update_2 = learning_rate * np.outer(layer_1, error)
            weights_1 += update_1
            weights_2 += update_2
            return loss, correct
    """)),
    # The exact gradient for weights_1 carries the forward pass's factor 2 as well: the
    # gradient check accepts this step and the tutorial's half-size one.
    correct("train_step_exact_gradient", train_step=code("""
        def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
            layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2
            layer_2 = layer_1 @ weights_2
            layer_2_delta = label - layer_2
            layer_1_delta = (weights_2 @ layer_2_delta) * relu2deriv(layer_1) * dropout_mask * 2
            weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
            weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
            return np.sum(layer_2_delta ** 2), np.argmax(layer_2) == np.argmax(label)
    """)),
    # relu2deriv(layer_1) of the masked activations is 0 wherever the mask is 0: the mask in the
    # hidden delta is implied, and leaving it out changes nothing.
    correct("train_step_mask_implied_by_relu2deriv", train_step=code("""
        def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):
            layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2
            layer_2 = layer_1 @ weights_2
            layer_2_delta = label - layer_2
            layer_1_delta = (weights_2 @ layer_2_delta) * relu2deriv(layer_1)
            weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)
            weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)
            return np.sum(layer_2_delta ** 2), np.argmax(layer_2) == np.argmax(label)
    """)),
    correct("train_index_loops", train=code("""
        def train(training_images, training_labels, test_images, test_labels,
                  weights_1, weights_2, epochs, learning_rate, rng):
            history = {"training_loss": [], "training_accurate_pred": [],
                       "test_loss": [], "test_accurate_pred": []}
            for epoch in range(epochs):
                loss_sum = 0.0
                hits = 0
                for i in range(training_images.shape[0]):
                    mask = dropout_mask(weights_1.shape[1], rng)
                    loss, correct = train_step(training_images[i], training_labels[i],
                                               weights_1, weights_2, learning_rate, mask)
                    loss_sum = loss_sum + loss
                    if correct:
                        hits = hits + 1
                test_loss, test_hits = evaluate(test_images, test_labels, weights_1, weights_2)
                history["training_loss"].append(loss_sum)
                history["training_accurate_pred"].append(hits)
                history["test_loss"].append(test_loss)
                history["test_accurate_pred"].append(test_hits)
            return history
    """)),
    correct("train_zip", train=code("""
        def train(training_images, training_labels, test_images, test_labels,
                  weights_1, weights_2, epochs, learning_rate, rng):
            keys = ("training_loss", "training_accurate_pred", "test_loss", "test_accurate_pred")
            history = {key: [] for key in keys}
            for _ in range(epochs):
                losses, hits = [], []
                for image, label in zip(training_images, training_labels):
                    mask = dropout_mask(len(weights_2), rng)
                    loss, correct = train_step(image, label, weights_1, weights_2, learning_rate, mask)
                    losses.append(loss)
                    hits.append(correct)
                numbers = (sum(losses), sum(hits), *evaluate(test_images, test_labels, weights_1, weights_2))
                for key, number in zip(keys, numbers):
                    history[key].append(number)
            return history
    """)),
]
