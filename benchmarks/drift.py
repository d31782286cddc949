"""How far trained SNNs drift from self-normalization, epoch by epoch.

Self-normalization (Klambauer et al. 2017) is a property of the weights at
initialization: with LeCun-normal weights, SELU and standardized inputs, every
hidden layer's activations have mean ~0 and standard deviation ~1. Training
moves the weights away from that distribution, and nothing pulls them back.
This script measures the drift on the source article's recipe ((100,) * 20,
Nadam, learning rate 7e-4, batch 32) on Fashion-MNIST rows, for sksnn and, to
show it is the recipe and not sksnn, for a plain Keras model built the same
way: the standard deviation of each hidden layer's activations on held-out
rows at initialization and after each listed epoch.

Usage: ``python benchmarks/drift.py [--rows 10000] [--epochs 1,2,5,10,20]
[--out docs/results/drift]`` (writes ``drift.json`` and ``drift.png`` there).
"""

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np

HIDDEN = (100,) * 20
LEARNING_RATE = 7e-4
BATCH = 32


def load_fashion_mnist(rows, data_dir):
    data = np.load(os.path.join(data_dir, "fashion_mnist.npz"))
    X, y = data["X_train"][:rows].astype(np.float32) / 255, data["y_train"][:rows]
    X_test = data["X_test"][:2000].astype(np.float32) / 255
    return X, y, X_test


def sksnn_stds(X, y, X_test, epochs):
    """Per-layer activation std of an SNNClassifier trained one epoch per ``partial_fit``."""
    from sksnn import SNNClassifier
    from sksnn.diagnostics import layer_statistics

    # The article's recipe, every kernel LeCun normal (as the plain Keras network below), and
    # the L2 penalty of the committed results (MLP's 1e-4; the estimators' default is now 1e-2).
    params = dict(hidden_layer_sizes=HIDDEN, learning_rate_init=LEARNING_RATE, batch_size=BATCH, random_state=0)
    params.update(alpha=1e-4, output_initializer="lecun_normal")
    # The weights at initialization: one epoch at a learning rate of 1e-12
    # leaves them where the initializer drew them (same seed, same draw).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        untrained = SNNClassifier(**{**params, "learning_rate_init": 1e-12}, max_iter=1).fit(X, y)
    stds = {0: layer_statistics(untrained, X_test)["std"].tolist()}
    model, classes = SNNClassifier(**params), np.unique(y)
    for epoch in range(1, max(epochs) + 1):
        model.partial_fit(X, y, classes=classes)
        if epoch in epochs:
            stds[epoch] = layer_statistics(model, X_test)["std"].tolist()
    return stds


def keras_stds(X, y, X_test, epochs):
    """The same recipe as a plain Keras model (inputs standardized with the training rows' statistics)."""
    import keras

    keras.utils.set_random_seed(0)
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1
    X, X_test = (X - mean) / scale, (X_test - mean) / scale
    inputs = keras.Input((X.shape[1],))
    h, hidden = inputs, []
    for units in HIDDEN:
        h = keras.layers.Dense(units, activation="selu", kernel_initializer="lecun_normal")(h)
        hidden.append(h)
    outputs = keras.layers.Dense(len(np.unique(y)), activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    probe = keras.Model(inputs, hidden)
    model.compile(optimizer=keras.optimizers.Nadam(LEARNING_RATE), loss="sparse_categorical_crossentropy")

    def layer_stds():
        return [float(np.std(a)) for a in probe.predict(X_test, verbose=0)]

    stds = {0: layer_stds()}
    for epoch in range(1, max(epochs) + 1):
        model.fit(X, y, batch_size=BATCH, epochs=1, verbose=0)
        if epoch in epochs:
            stds[epoch] = layer_stds()
    return stds


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), sharey=True)
    for ax, (name, stds) in zip(np.atleast_1d(axes), results.items()):
        for epoch, values in stds.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", ms=3, label=f"epoch {epoch}")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set(title=name, xlabel="hidden layer", yscale="log")
        ax.legend(fontsize=8)
    np.atleast_1d(axes)[0].set_ylabel("std of activations (held-out rows)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--epochs", default="1,2,5,10,20")
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "datasets"))
    parser.add_argument("--out", default=os.path.join("docs", "results", "drift"))
    args = parser.parse_args()
    epochs = sorted(int(e) for e in args.epochs.split(","))
    X, y, X_test = load_fashion_mnist(args.rows, args.data_dir)
    start = time.perf_counter()
    results = {"sksnn": sksnn_stds(X, y, X_test, epochs), "plain Keras": keras_stds(X, y, X_test, epochs)}
    import keras

    report = {
        "command": f"python benchmarks/drift.py --rows {args.rows} --epochs {args.epochs}",
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "run_time_s": round(time.perf_counter() - start, 1),
        "std_by_epoch": results,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "drift.json"), "w") as f:
        json.dump(report, f, indent=1)
    plot(results, os.path.join(args.out, "drift.png"))
    for name, stds in results.items():
        for epoch, values in stds.items():
            print(
                f"{name:<12} epoch {epoch:>3}: layer 1 {values[0]:.2f}  layer 10 {values[9]:.2f}  "
                f"layer 20 {values[-1]:.2f}  max {max(values):.2f}"
            )


if __name__ == "__main__":
    main()
