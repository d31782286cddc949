import os
import pathlib
import subprocess
import sys
import threading

import keras
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sksnn import _training


def _slots(chunks):
    """Every slot of ``chunks`` as ``(x, y, w, active, epoch_end)``, and the epochs begun by chunk."""
    slots, begun = [], []
    for (x, y, w, active, ends), epochs in chunks:
        slots += [(x[i], y[i], w[i], active[i], ends[i]) for i in range(len(active))]
        begun.append(epochs)
    return slots, begun


def _chunks(X, Y, w, standardization, slots, shuffle=True, seed=3, epochs=2, whole_epochs=False, widths=(2, 1)):
    return _training._numpy_chunks(
        X, Y, w, standardization, dtype=X.dtype, batch_size=4, slots=slots, widths=widths, epochs=epochs,
        shuffle=shuffle, seed=seed, whole_epochs=whole_epochs,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slots", [1, 2, 5])
@pytest.mark.parametrize("whole_epochs", [False, True])
def test_numpy_chunks_cover_every_row_once_per_epoch_in_a_new_order(dtype, slots, whole_epochs):
    X = np.arange(20, dtype=dtype).reshape(10, 2)
    Y = np.arange(10, dtype=dtype)[:, None]
    sample_weight = np.linspace(1, 2, 10)
    mean, scale = np.array([1, 2], dtype=dtype), np.array([2, 4], dtype=dtype)
    # 3 batches of 4 rows an epoch, the last one short: padded with rows of zero weight
    batches, begun = _slots(_chunks(X, Y, sample_weight, (mean, scale), slots, whole_epochs=whole_epochs))
    active = [b for b in batches if b[3]]
    assert len(active) == 6 and all(len(part) == 4 for b in batches for part in b[:3])
    assert [b[4] for b in active] == [False, False, True] * 2
    assert not any(b[2].any() or b[0].any() for b in batches if not b[3])  # empty slots hold nothing
    assert [e for epochs in begun for e in epochs] == [0, 1]
    if whole_epochs:  # a chunk never holds the batches of two epochs
        assert all(len(epochs) <= 1 for epochs in begun)
        assert len(batches) == 2 * slots * -(-3 // slots)
    else:  # chunks are full but the last
        assert len(batches) == slots * -(-6 // slots)
    epochs = [active[:3], active[3:]]
    for epoch in epochs:
        assert not epoch[2][2][2:].any() and not epoch[2][0][2:].any()
        x, y, w = (
            np.concatenate([part[:2] if i == 2 else part for i, part in enumerate(parts)])
            for parts in zip(*(batch[:3] for batch in epoch))
        )
        assert x.dtype == dtype  # Keras' own array adapter would cast float64 to float32
        rows = y[:, 0].astype(int)
        assert sorted(rows) == list(range(10))
        np.testing.assert_array_equal(x, (X[rows] - mean) / scale)
        np.testing.assert_array_equal(w, sample_weight[rows].astype(dtype))  # in the training dtype
    orders = [np.concatenate([b[1][:, 0] for b in epoch]) for epoch in epochs]
    assert not np.array_equal(*orders)
    again, _ = _slots(_chunks(X, Y, sample_weight, (mean, scale), slots, whole_epochs=whole_epochs))
    np.testing.assert_array_equal(again[0][1], batches[0][1])
    X_copy = X.copy()
    unweighted, _ = _slots(_chunks(X, Y, None, (mean, scale), slots, shuffle=False, epochs=1))
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(np.concatenate([b[2] for b in unweighted[:3]]), [1] * 10 + [0] * 2)


def test_numpy_chunks_pad_columns_to_the_networks_widths():
    X, Y = np.ones((6, 3)), np.ones((6, 2))
    (x, y, *_), _ = next(_chunks(X, Y, None, None, slots=2, epochs=1, widths=(16, 4)))
    assert x.shape == (2, 4, 16) and y.shape == (2, 4, 4)
    assert x[0, :, :3].all() and not x[..., 3:].any() and y[0, :, :2].all() and not y[..., 2:].any()


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc peak-RSS reset")
def test_fit_memory_stays_under_twice_x_and_on_jax_under_one_copy():
    # The speed issue's goal: peak growth under 2x X. TensorFlow holds one
    # copy of X (a tf.Variable). JAX's NumPy stream holds none and waits for
    # a chunk before queueing more (for the one before, within an epoch with
    # validation rows): without that wait, asynchronous dispatch queued the
    # whole epoch's chunks ahead of this network's computation (1.3x X;
    # 0.3x-0.45x with it).
    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "peak_memory.py"
    command = [sys.executable, str(script), "sksnn", "--rows", "100000", "--hidden", "256,256"]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    growth = float(out.stdout.split()[-1])
    assert growth < (2.0 if keras.backend.backend() == "tensorflow" else 0.7)


def _gatherer_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("sksnn-chunks")]


def _recorded(items, log):
    """A generator of ``items`` that logs which thread gathered each."""
    for item in items:
        log.append(("gathered", item, threading.current_thread().name))
        yield item


def test_chunks_gathered_in_a_thread_come_in_order_from_that_thread_and_the_thread_ends_with_the_block():
    log = []
    with _training._gathered_ahead(_recorded([1, 2, 3], log), in_thread=True) as gather:
        got = [gather()() for _ in range(4)]
    assert got == [1, 2, 3, None]
    assert [item for _, item, _ in log] == [1, 2, 3]
    assert all(name.startswith("sksnn-chunks") for _, _, name in log)
    assert not _gatherer_threads()


def test_chunks_gathered_without_a_thread_are_gathered_only_when_asked_for():
    # JAX computes after its call returns: the next chunk is gathered then, on the caller's thread
    log = []
    with _training._gathered_ahead(_recorded([1, 2], log), in_thread=False) as gather:
        gathered = gather()
        log.append("the backend's call")
        assert gathered() == 1
    assert log == ["the backend's call", ("gathered", 1, threading.current_thread().name)]


def test_a_gathering_thread_meets_the_callers_error_finishes_its_chunk_and_ends():
    # An error (or Ctrl-C) in the backend's call while the next chunk is being
    # gathered: the block waits for that gathering, and no thread outlives it.
    release, finished = threading.Event(), []

    def slow():
        yield 1
        release.wait(5)
        finished.append(2)
        yield 2

    with pytest.raises(KeyboardInterrupt):
        with _training._gathered_ahead(slow(), in_thread=True) as gather:
            assert gather()() == 1
            gather()  # gathering 2 while "the backend" runs and is interrupted
            threading.Timer(0.2, release.set).start()
            raise KeyboardInterrupt
    assert finished == [2] and not _gatherer_threads()


def test_an_error_while_gathering_reaches_the_caller():
    def failing():
        yield 1
        raise MemoryError("a chunk")

    with _training._gathered_ahead(failing(), in_thread=True) as gather:
        assert gather()() == 1
        with pytest.raises(MemoryError, match="a chunk"):
            gather()()
    assert not _gatherer_threads()


@pytest.mark.parametrize("stopping", ["training loss", "validation"])
def test_a_fit_gathers_its_chunks_ahead_where_the_backend_waits_and_trains_as_without(monkeypatch, stopping):
    # TensorFlow's call returns once the chunk is trained: its next chunk is
    # gathered in the fit's thread meanwhile. The chunks, and so the fit, are
    # the same as when the caller gathers each after the call (JAX's way).
    from sksnn import SNNRegressor

    rng = np.random.RandomState(0)
    X = rng.standard_normal((3000, 6))
    y = X @ rng.standard_normal(6) + 0.1 * rng.standard_normal(3000)
    params = dict(hidden_layer_sizes=(16,), batch_size=50, max_iter=6, random_state=0, tol=0.0)
    params.update(early_stopping=stopping == "validation", n_iter_no_change=100)
    chunks, names = _training._numpy_chunks, []

    def recording(*args, **kwargs):
        for chunk in chunks(*args, **kwargs):
            names.append(threading.current_thread().name)
            yield chunk

    monkeypatch.setattr(_training, "_numpy_chunks", recording)
    with pytest.warns(ConvergenceWarning):
        ahead = SNNRegressor(**params).fit(X, y)
    waits = keras.backend.backend() == "tensorflow"
    assert len(names) > 1
    assert all(name.startswith("sksnn-chunks") == waits for name in names)
    assert not _gatherer_threads()

    names.clear()
    trainer_class = _chunk_trainer_class()
    monkeypatch.setattr(trainer_class, "asynchronous", not trainer_class.asynchronous)
    with pytest.warns(ConvergenceWarning):
        other = SNNRegressor(**params).fit(X, y)
    assert all(name.startswith("sksnn-chunks") != waits for name in names)
    assert other.loss_curve_ == ahead.loss_curve_ and other.n_iter_ == ahead.n_iter_
    for a, b in zip(other.coefs_ + other.intercepts_, ahead.coefs_ + ahead.intercepts_):
        np.testing.assert_array_equal(a, b)


def _chunk_trainer_class():
    if keras.backend.backend() == "tensorflow":
        from sksnn._tensorflow_trainer import ChunkTrainer
    else:
        from sksnn._jax_trainer import StatelessChunkTrainer as ChunkTrainer
    return ChunkTrainer
