import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from sksnn import _training


def _epoch(stream, n_chunks):
    """The batches of ``n_chunks`` chunks, with each batch's ``active`` flag."""
    batches = []
    for x, y, w, active in (next(stream) for _ in range(n_chunks)):
        batches += [(x[i], y[i], w[i], active[i]) for i in range(len(active))]
    return batches


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batches_per_chunk", [1, 2, 5])
def test_numpy_chunks_cover_every_row_once_per_epoch_in_a_new_order(dtype, batches_per_chunk):
    X = np.arange(20, dtype=dtype).reshape(10, 2)
    Y = np.arange(10, dtype=dtype)[:, None]
    sample_weight = np.linspace(1, 2, 10)
    mean, scale = np.array([1, 2], dtype=dtype), np.array([2, 4], dtype=dtype)
    chunks = -(-3 // batches_per_chunk)  # 3 batches of 4 rows an epoch
    stream = _training._numpy_chunks(X, Y, sample_weight, (mean, scale), 4, batches_per_chunk, True, seed=3)
    epochs = [_epoch(stream, chunks) for _ in range(2)]
    for epoch in epochs:
        # one shape for every batch: the short last one is padded with rows of
        # zero weight, and the chunk's slots after it are inactive
        assert [len(part) for batch in epoch for part in batch[:3]] == [4] * 3 * chunks * batches_per_chunk
        assert [batch[3] for batch in epoch] == [True] * 3 + [False] * (chunks * batches_per_chunk - 3)
        assert not epoch[2][2][2:].any() and not epoch[2][0][2:].any()
        assert not any(batch[2].any() or batch[0].any() for batch in epoch[3:])
        x, y, w = (
            np.concatenate([part[:2] if i == 2 else part for i, part in enumerate(parts)])
            for parts in zip(*(batch[:3] for batch in epoch[:3]))
        )
        assert x.dtype == dtype  # Keras' own array adapter would cast float64 to float32
        rows = y[:, 0].astype(int)
        assert sorted(rows) == list(range(10))
        np.testing.assert_array_equal(x, (X[rows] - mean) / scale)
        np.testing.assert_array_equal(w, sample_weight[rows])
    orders = [np.concatenate([b[1][:, 0] for b in epoch[:3]]) for epoch in epochs]
    assert not np.array_equal(*orders)
    again = _training._numpy_chunks(X, Y, sample_weight, (mean, scale), 4, batches_per_chunk, True, seed=3)
    np.testing.assert_array_equal(next(again)[1][0], epochs[0][0][1])
    X_copy = X.copy()
    unweighted = _epoch(_training._numpy_chunks(X, Y, None, (mean, scale), 4, batches_per_chunk, False, seed=0), chunks)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(np.concatenate([b[2] for b in unweighted[:3]]), [1] * 10 + [0] * 2)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc peak-RSS reset")
def test_fit_memory_stays_under_twice_x_and_on_jax_under_one_copy():
    # The speed issue's goal: peak growth under 2x X. TensorFlow holds one
    # copy of X (a tf.Variable). JAX's NumPy stream holds none and waits for
    # a chunk before queueing more: without that wait, asynchronous dispatch
    # queued the whole epoch's chunks ahead of this network's computation
    # (1.3x X; 0.3x-0.45x with it).
    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "peak_memory.py"
    command = [sys.executable, str(script), "sksnn", "--rows", "100000", "--hidden", "256,256"]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    growth = float(out.stdout.split()[-1])
    assert growth < (2.0 if keras.backend.backend() == "tensorflow" else 0.7)
