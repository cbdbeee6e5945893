"""Known mistakes of mnist_mlp: each must lose exactly its grade ids (``python -m autograder validate``).

Each entry gives the answer cells it replaces (by the function they define) and the grade ids
it loses: one mistake costs the points of its own task, and no other.
"""

MISTAKES = {
    "relu2deriv_greater_or_equal": {
        "replace": {"relu2deriv": "def relu2deriv(output):\n    return output >= 0\n"},
        "loses": ["test_relu2deriv"],
    },
    "relu_absolute_value": {
        "replace": {"relu": "def relu(x):\n    return np.abs(x)\n"},
        "loses": ["test_relu"],
    },
    "one_hot_ignores_dimension": {
        "replace": {"one_hot_encoding": (
            "def one_hot_encoding(labels, dimension=10):\n"
            "    encoded = np.zeros((len(labels), 10))\n"
            "    encoded[np.arange(len(labels)), labels] = 1.0\n"
            "    return encoded\n")},
        "loses": ["test_one_hot_encoding"],
    },
    "dropout_global_state": {
        "replace": {"dropout_mask": (
            "def dropout_mask(shape, rng):\n    return np.random.randint(0, 2, size=shape)\n")},
        "loses": ["test_dropout_mask"],
    },
    "train_step_mean_loss": {
        "replace": {"train_step": (
            "def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):\n"
            "    layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2\n"
            "    layer_2 = layer_1 @ weights_2\n"
            "    layer_2_delta = label - layer_2\n"
            "    layer_1_delta = (weights_2 @ layer_2_delta) * relu2deriv(layer_1) * dropout_mask\n"
            "    loss = np.mean(layer_2_delta ** 2)\n"
            "    weights_1 += learning_rate * np.outer(layer_0, layer_1_delta)\n"
            "    weights_2 += learning_rate * np.outer(layer_1, layer_2_delta)\n"
            "    return loss, np.argmax(layer_2) == np.argmax(label)\n")},
        "loses": ["test_train_step"],
    },
    "train_step_not_in_place": {
        "replace": {"train_step": (
            "def train_step(layer_0, label, weights_1, weights_2, learning_rate, dropout_mask):\n"
            "    layer_1 = relu(layer_0 @ weights_1) * dropout_mask * 2\n"
            "    layer_2 = layer_1 @ weights_2\n"
            "    error = label - layer_2\n"
            "    delta_1 = (weights_2 @ error) * relu2deriv(layer_1) * dropout_mask\n"
            "    weights_1 = weights_1 + learning_rate * np.outer(layer_0, delta_1)\n"
            "    weights_2 = weights_2 + learning_rate * np.outer(layer_1, error)\n"
            "    return float(np.sum(error ** 2)), bool(np.argmax(layer_2) == np.argmax(label))\n")},
        "loses": ["test_train_step"],
    },
    "evaluate_keeps_dropout_scale": {
        "replace": {"evaluate": (
            "def evaluate(images, labels, weights_1, weights_2):\n"
            "    outputs = (relu(images @ weights_1) * 2) @ weights_2\n"
            "    loss = float(np.sum((labels - outputs) ** 2))\n"
            "    return loss, int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))\n")},
        "loses": ["test_evaluate"],
    },
    "evaluate_forgets_relu": {
        "replace": {"evaluate": (
            "def evaluate(images, labels, weights_1, weights_2):\n"
            "    outputs = images @ weights_1 @ weights_2\n"
            "    loss = np.sum((labels - outputs) ** 2)\n"
            "    return loss, int(np.sum(np.argmax(outputs, axis=1) == np.argmax(labels, axis=1)))\n")},
        "loses": ["test_evaluate"],
    },
    "train_fixed_learning_rate": {
        "replace": {"train": (
            "def train(training_images, training_labels, test_images, test_labels,\n"
            "          weights_1, weights_2, epochs, learning_rate, rng):\n"
            "    history = {'training_loss': [], 'training_accurate_pred': [], 'test_loss': [],\n"
            "               'test_accurate_pred': []}\n"
            "    for _ in range(epochs):\n"
            "        total, hits = 0.0, 0\n"
            "        for image, label in zip(training_images, training_labels):\n"
            "            mask = dropout_mask(weights_1.shape[1], rng)\n"
            "            loss, correct = train_step(image, label, weights_1, weights_2, 0.005, mask)\n"
            "            total, hits = total + loss, hits + int(correct)\n"
            "        test_loss, test_hits = evaluate(test_images, test_labels, weights_1, weights_2)\n"
            "        for key, value in zip(history, (total, hits, test_loss, test_hits)):\n"
            "            history[key].append(value)\n"
            "    return history\n")},
        "loses": ["test_train"],
    },
}
