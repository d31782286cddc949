"""Speed of sksnn against scikit-learn's MLP, measured in the same run.

Prints sksnn's time, the baseline's time and their ratio for each figure:

- train epoch: 20,000 x 50 float32, 10 classes, (100,) * 20, batch 32; time of
  (1 + 3) epochs minus time of 1 epoch, / 3; baselines MLPClassifier and a bare
  ``keras.Model.fit`` of the same network on the same backend;
- one-row predict_proba: median of 300 calls on a fitted (100,) * 20 model;
- bulk predict: 100,000 rows;
- import: ``python -c "import sksnn"`` against ``import sklearn.neural_network``.

Usage: ``KERAS_BACKEND=jax python benchmarks/speed.py`` (default backend: tensorflow).
"""

import os
import subprocess
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from sksnn import SNNClassifier

SIZES = (100,) * 20


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def epoch_time(make, X, y):
    """(time of 1 + 3 epochs - time of 1 epoch) / 3: the set-up cost cancels out."""
    one = timed(lambda: make(1).fit(X, y))
    four = timed(lambda: make(4).fit(X, y))
    return (four - one) / 3


def bare_keras_epoch(X, y):
    import keras

    from sksnn import build_snn

    def run(epochs):
        model = build_snn(X.shape[1], 10, hidden_layer_sizes=SIZES, seed=0)
        model.compile(optimizer=keras.optimizers.Nadam(1e-3), loss="sparse_categorical_crossentropy")
        model.fit(X, y, batch_size=32, epochs=epochs, verbose=0)

    return (timed(lambda: run(4)) - timed(lambda: run(1))) / 3


def import_time(statement):
    runs = [timed(lambda: subprocess.run([sys.executable, "-c", statement], check=True)) for _ in range(3)]
    return min(runs)


def row(name, ours, base, base_name):
    print(f"{name:<24} {ours * 1e3:>11.2f} ms {base * 1e3:>11.2f} ms  {ours / base:>6.2f}x  ({base_name})", flush=True)


def main():
    import keras

    print(f"backend: {keras.backend.backend()}, machine: {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    print(f"{'figure':<24} {'sksnn':>14} {'baseline':>14} {'ratio':>7}")
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20_000, 50)).astype(np.float32)
    y = rng.randint(0, 10, 20_000)
    common = {"hidden_layer_sizes": SIZES, "batch_size": 32, "tol": 0.0, "n_iter_no_change": 1000, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        snn = epoch_time(lambda n: SNNClassifier(max_iter=n, **common), X, y)
        mlp = epoch_time(lambda n: MLPClassifier(max_iter=n, **common), X, y)
        row("train epoch", snn, mlp, "MLPClassifier")
        row("train epoch", snn, bare_keras_epoch(X, y), "bare keras.Model.fit")

        snn_model = SNNClassifier(max_iter=1, **common).fit(X, y)
        mlp_model = MLPClassifier(max_iter=1, **common).fit(X, y)
    one = X[:1]
    for model in (snn_model, mlp_model):
        model.predict_proba(one)
    snn_one = np.median([timed(lambda: snn_model.predict_proba(one)) for _ in range(300)])
    mlp_one = np.median([timed(lambda: mlp_model.predict_proba(one)) for _ in range(300)])
    row("one-row predict_proba", snn_one, mlp_one, "MLPClassifier")
    bulk = np.tile(X, (5, 1))
    row(
        "bulk predict 100k",
        timed(lambda: snn_model.predict(bulk)),
        timed(lambda: mlp_model.predict(bulk)),
        "MLPClassifier",
    )
    row(
        "import",
        import_time("import sksnn"),
        import_time("import sklearn.neural_network"),
        "import sklearn.neural_network",
    )


if __name__ == "__main__":
    main()
