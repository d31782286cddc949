"""Training on a GPU: sksnn's epoch on the backend's GPU against the same backend held to the CPU.

Measures, in the same run, the train epoch of ``speed.py`` (20,000 x 50 float32,
10 classes, (100,) * 20; time of 1 + 3 epochs minus 1 epoch, / 3) at batch 32
and at batch 512, on the GPU and in a subprocess whose backend sees no GPU
(``JAX_PLATFORMS=cpu``, ``CUDA_VISIBLE_DEVICES=""``), whether two fits
with the same ``random_state`` predict identically on the GPU, and how far
NumPy's predictions are from the GPU network's. Exits with an
error when the backend has no GPU. The tests that must hold on a GPU are in
``tests/test_gpu.py`` (skipped where there is none).

Usage: ``KERAS_BACKEND=jax python benchmarks/gpu.py``
"""

import json
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from speed import FULL_EPOCHS, SIZES, epoch_time  # noqa: E402

from sksnn._backend import gpu_devices  # noqa: E402

BATCHES = (32, 512)


def epochs_by_batch():
    from sksnn import SNNClassifier

    rng = np.random.RandomState(0)
    X = rng.standard_normal((20_000, 50)).astype(np.float32)
    y = rng.randint(0, 10, 20_000)
    common = {"hidden_layer_sizes": SIZES, "random_state": 0, **FULL_EPOCHS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            batch: epoch_time(lambda n, b=batch: SNNClassifier(max_iter=n, batch_size=b, **common), X, y)
            for batch in BATCHES
        }


def prediction_differences():
    """Two fits with one random_state; NumPy's predict_proba against the backend's network."""
    from sklearn.base import clone
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    X, y = make_classification(2000, 20, n_informative=10, n_classes=3, random_state=0)
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make = SNNClassifier(hidden_layer_sizes=(64,) * 4, max_iter=5, random_state=0)
        first, second = (clone(make).fit(X, y) for _ in "12")
    proba = first.predict_proba(X)
    on_backend = np.asarray(first.model_(first.scaler_.transform(X).astype(np.float32)))
    return float(np.abs(proba - second.predict_proba(X)).max()), float(np.abs(proba - on_backend).max())


def main():
    if "--cpu-child" in sys.argv:  # the same measurement, the backend held to the CPU
        print(json.dumps(epochs_by_batch()))
        return
    backend, gpus = gpu_devices()
    if not gpus:
        sys.exit(f"the {backend} backend sees no GPU")
    print(f"backend: {backend}, GPUs: {gpus}, {os.cpu_count()} CPUs")
    gpu = epochs_by_batch()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    child = subprocess.run([sys.executable, __file__, "--cpu-child"], env=env, capture_output=True, text=True)
    if child.returncode:
        sys.exit(child.stderr[-3000:])
    cpu = {int(batch): seconds for batch, seconds in json.loads(child.stdout.splitlines()[-1]).items()}
    print(f"{'train epoch':<22} {'GPU':>10} {'CPU':>10} {'ratio':>8}")
    for batch in BATCHES:
        print(f"{f'batch {batch}':<22} {gpu[batch]:>9.2f}s {cpu[batch]:>9.2f}s {gpu[batch] / cpu[batch]:>7.2f}x")
    refit, numpy_vs_gpu = prediction_differences()
    print(f"max |predict_proba difference|: two fits, one random_state {refit:.2e}; NumPy vs GPU {numpy_vs_gpu:.2e}")


if __name__ == "__main__":
    main()
