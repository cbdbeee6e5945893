"""Known mistakes of mnist_minibatch: each loses exactly its grade ids (``python -m autograder validate``).

Each entry gives the answer cells it replaces (by the function they define) and the grade ids it
loses. The test cells of this assignment are plain asserts, except ``test_train`` (its checks
module runs ``train`` with the grader's versions of the functions it calls): a function's own
asserts call the student's versions of the functions it uses, as nbgrader does, so a mistake that
changes what ``affine_forward``, ``affine_backward`` or ``softmax_cross_entropy`` computes costs
``test_loss_and_gradients`` too. The mistakes below are the ones each task's own cell is there to
catch and that leave every other task's cell passing: one mistake, one task's points.
"""

MISTAKES = {
    "init_params_uniform": {
        "replace": {"init_params": (
            "def init_params(input_size, hidden_size, output_size, rng):\n"
            "    scale_1, scale_2 = np.sqrt(2.0 / input_size), np.sqrt(2.0 / hidden_size)\n"
            "    return {'W1': rng.uniform(-scale_1, scale_1, (input_size, hidden_size)),\n"
            "            'b1': np.zeros(hidden_size),\n"
            "            'W2': rng.uniform(-scale_2, scale_2, (hidden_size, output_size)),\n"
            "            'b2': np.zeros(output_size)}\n")},
        "loses": ["test_init_params"],
    },
    "affine_forward_returns_a_list": {
        "replace": {"affine_forward": (
            "def affine_forward(x, w, b):\n"
            "    return [x @ w + b, (x, w)]\n")},
        "loses": ["test_affine_forward"],
    },
    "affine_backward_squeezes_dx": {
        "replace": {"affine_backward": (
            "def affine_backward(dout, cache):\n"
            "    x, w = cache\n"
            "    dx = np.squeeze(dout @ w.T)\n"
            "    return dx, x.T @ dout, np.sum(dout, axis=0)\n")},
        "loses": ["test_affine_backward"],
    },
    "softmax_without_the_max_shift": {
        "replace": {"softmax_cross_entropy": (
            "def softmax_cross_entropy(scores, labels):\n"
            "    count = scores.shape[0]\n"
            "    probabilities = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)\n"
            "    loss = -np.mean(np.log(probabilities[np.arange(count), labels]))\n"
            "    probabilities[np.arange(count), labels] -= 1\n"
            "    return float(loss), probabilities / count\n")},
        "loses": ["test_softmax_cross_entropy"],
    },
    "loss_and_gradients_skips_the_relu": {
        "replace": {"loss_and_gradients": (
            "def loss_and_gradients(params, images, labels):\n"
            "    hidden_input, first_cache = affine_forward(images, params['W1'], params['b1'])\n"
            "    hidden, relu_cache = relu_forward(hidden_input)\n"
            "    scores, second_cache = affine_forward(hidden, params['W2'], params['b2'])\n"
            "    loss, dscores = softmax_cross_entropy(scores, labels)\n"
            "    dhidden, dW2, db2 = affine_backward(dscores, second_cache)\n"
            "    _, dW1, db1 = affine_backward(dhidden, first_cache)\n"
            "    return loss, {'W1': dW1, 'b1': db1, 'W2': dW2, 'b2': db2}\n")},
        "loses": ["test_loss_and_gradients"],
    },
    "minibatch_indices_in_file_order": {
        "replace": {"minibatch_indices": (
            "def minibatch_indices(count, batch_size, rng):\n"
            "    order = np.arange(count)\n"
            "    return [order[start : start + batch_size] for start in range(0, count, batch_size)]\n")},
        "loses": ["test_minibatch_indices"],
    },
    "sgd_step_without_momentum": {
        "replace": {"sgd_step": (
            "def sgd_step(params, grads, velocity, learning_rate, momentum):\n"
            "    for key in params:\n"
            "        params[key] -= learning_rate * grads[key]\n")},
        "loses": ["test_sgd_step"],
    },
    "train_keeps_the_last_weights": {
        "replace": {"train": (
            "def train(params, training_images, training_labels, validation_images, validation_labels,\n"
            "          rng, epochs, batch_size, learning_rate, momentum, patience):\n"
            "    velocity = {key: np.zeros_like(value) for key, value in params.items()}\n"
            "    history = {'training_loss': [], 'validation_accuracy': []}\n"
            "    best_accuracy, best_epoch, best_params = -1.0, -1, params\n"
            "    for epoch in range(epochs):\n"
            "        losses = []\n"
            "        for batch in minibatch_indices(len(training_images), batch_size, rng):\n"
            "            images, labels = training_images[batch], training_labels[batch]\n"
            "            loss, grads = loss_and_gradients(params, images, labels)\n"
            "            sgd_step(params, grads, velocity, learning_rate, momentum)\n"
            "            losses.append(loss)\n"
            "        score = accuracy(params, validation_images, validation_labels)\n"
            "        history['training_loss'].append(float(np.mean(losses)))\n"
            "        history['validation_accuracy'].append(score)\n"
            "        if score > best_accuracy:\n"
            "            best_accuracy, best_epoch, best_params = score, epoch, params\n"
            "        elif epoch - best_epoch >= patience:\n"
            "            break\n"
            "    history['best_epoch'] = best_epoch\n"
            "    return best_params, history\n")},
        "loses": ["test_train"],
    },
    "train_counts_a_tie_as_better": {
        "replace": {"train": (
            "def train(params, training_images, training_labels, validation_images, validation_labels,\n"
            "          rng, epochs, batch_size, learning_rate, momentum, patience):\n"
            "    velocity = {key: np.zeros_like(value) for key, value in params.items()}\n"
            "    history = {'training_loss': [], 'validation_accuracy': []}\n"
            "    best_accuracy, best_epoch, best_params = -1.0, -1, None\n"
            "    for epoch in range(epochs):\n"
            "        losses = []\n"
            "        for batch in minibatch_indices(len(training_images), batch_size, rng):\n"
            "            images, labels = training_images[batch], training_labels[batch]\n"
            "            loss, grads = loss_and_gradients(params, images, labels)\n"
            "            sgd_step(params, grads, velocity, learning_rate, momentum)\n"
            "            losses.append(loss)\n"
            "        score = accuracy(params, validation_images, validation_labels)\n"
            "        history['training_loss'].append(float(np.mean(losses)))\n"
            "        history['validation_accuracy'].append(score)\n"
            "        if score >= best_accuracy:\n"
            "            best_accuracy, best_epoch = score, epoch\n"
            "            best_params = {key: value.copy() for key, value in params.items()}\n"
            "        elif epoch - best_epoch >= patience:\n"
            "            break\n"
            "    history['best_epoch'] = best_epoch\n"
            "    return best_params, history\n")},
        "loses": ["test_train"],
    },
}
