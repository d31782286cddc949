"""Running the epochs of a fit: the streams of batches and Keras' own fit loop.

The estimator decides when to stop (scikit-learn MLP's rules, ``_stopping``);
this module feeds a compiled :class:`~sksnn._trainer.TrainingNetwork` its
standardized minibatches, runs Keras' fit loop over them and turns each
epoch's loss into a call of the estimator's ``on_epoch_end``, whose answer
stops the loop. Ctrl-C ends the loop too, keeping the weights reached.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from ._blocks import STREAM_BLOCK_BYTES, batches_in_epoch, rows_per_block  # noqa: E402
from ._inference import standardize  # noqa: E402


class _EpochEnd(keras.callbacks.Callback):
    """Hands each epoch's training loss (MLP's ``loss_``, see ``TrainingNetwork``) to ``on_epoch_end``.

    Stops training when it returns True.
    """

    def __init__(self, on_epoch_end):
        super().__init__()
        self._on_epoch_end = on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if self._on_epoch_end(float(logs["loss"])):
            self.model.stop_training = True


def _tensorflow_batches(X, Y, sample_weight, standardization, batch_size, shuffle, seed):
    """An endless, seeded tf.data stream of standardized minibatches.

    Keras rebuilds a tf.data iterator for NumPy input at every epoch, which
    costs ~10 ms each: more than a whole epoch of a small data set. One
    repeated stream and ``steps_per_epoch`` build it once per fit. Only the
    sample indices are shuffled; rows are gathered and standardized per batch
    from one variable holding X, filled block by block: converting the whole
    array at once held two more copies of it at the peak, slice assignment one.
    """
    import tensorflow as tf

    rows = rows_per_block(STREAM_BLOCK_BYTES, X.shape[1] * X.itemsize)
    data = tf.Variable(tf.zeros(X.shape, dtype=X.dtype), trainable=False)
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows]
        data.scatter_update(tf.IndexedSlices(block, tf.range(start, start + block.shape[0])))
    small = (Y,) if sample_weight is None else (Y, sample_weight)
    small = tuple(tf.convert_to_tensor(a) for a in small)
    mean, scale = (None, None) if standardization is None else (tf.constant(v) for v in standardization)

    def gather(i):
        x = tf.gather(data, i)
        if mean is not None:
            x = (x - mean) / scale
        return (x, *(tf.gather(t, i) for t in small))

    indices = tf.data.Dataset.range(X.shape[0])
    if shuffle:
        indices = indices.shuffle(X.shape[0], seed=seed, reshuffle_each_iteration=True)
    # tf.data's autotuner has nothing to tune in this fixed pipeline, and
    # deleting an iterator waits for the autotuner thread's next wake-up: up
    # to ~2.5 s at the end of every fit, more than a whole small fit's epochs.
    options = tf.data.Options()
    options.autotune.enabled = False
    return indices.batch(batch_size).repeat().map(gather).prefetch(2).with_options(options)


def _dense_rows(X, rows, standardization):
    """Rows of X (a sparse X densified: only these rows), standardized."""
    x = X[rows]
    if sp.issparse(x):
        x = x.toarray()
    return x if standardization is None else standardize(x, *standardization)


def _sparse_batches(X, Y, sample_weight, standardization, batch_size, shuffle, seed):
    """TensorFlow's stream for a sparse X: minibatches densified one at a time, from a private generator.

    The tf.data stream above holds X in a dense variable; a sparse X would not fit.
    """
    rng = np.random.RandomState(seed)
    while True:
        order = rng.permutation(X.shape[0]) if shuffle else np.arange(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            rows = order[start : start + batch_size]
            batch = (_dense_rows(X, rows, standardization), Y[rows])
            yield batch if sample_weight is None else (*batch, sample_weight[rows])


def _numpy_chunks(X, Y, sample_weight, standardization, batch_size, batches_per_chunk, shuffle, seed):
    """An endless stream of chunks of standardized minibatches, reshuffled every epoch from ``seed``.

    Each chunk is ``(x, y, sample_weight, active)``, each with a leading axis
    of ``batches_per_chunk`` batches (see ``TrainingNetwork.make_train_function``).
    Handing Keras the arrays themselves would make it shuffle with NumPy's
    global generator and cast float64 data to float32; gathering each chunk
    here keeps X's dtype, draws from a private generator and copies nothing
    larger than a chunk.
    """
    n_samples = X.shape[0]
    if sample_weight is None:
        sample_weight = np.ones(n_samples, dtype=X.dtype)
    chunk_rows = batch_size * batches_per_chunk
    rng = np.random.RandomState(seed)
    while True:
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
        for start in range(0, n_samples, chunk_rows):
            rows = order[start : start + chunk_rows]
            chunk = (_dense_rows(X, rows, standardization), Y[rows], sample_weight[rows])
            if len(rows) < chunk_rows:
                # An epoch's end: a short last batch would be a new shape,
                # compiled again for every training-set size (each fold of a
                # CV), so it is padded with rows of zero weight, which add
                # nothing to the loss or its gradient; the slots after it are
                # empty (inactive), they do not train.
                padding = chunk_rows - len(rows)
                chunk = tuple(np.concatenate([a, np.zeros((padding, *a.shape[1:]), a.dtype)]) for a in chunk)
            active = np.arange(batches_per_chunk) * batch_size < len(rows)
            yield (*(a.reshape(batches_per_chunk, batch_size, *a.shape[1:]) for a in chunk), active)


def run_epochs(
    trainer,
    X,
    Y,
    sample_weight,
    *,
    standardization,
    epochs,
    batch_size,
    shuffle,
    seed,
    on_epoch_end,
    progress_bar=False,
):
    """Train ``trainer`` for up to ``epochs`` epochs of ``X``, ``Y``.

    ``standardization`` is None or ``(mean, scale)`` in X's dtype, applied to
    each batch: the standardized X is never held whole in memory. A sparse
    (CSR) X is densified batch by batch.

    ``on_epoch_end(loss) -> bool`` is called after each epoch with the epoch's
    mean training loss; returning True stops training. ``progress_bar`` shows
    Keras' live progress bar (terminal or notebook) through each epoch.

    Returns
    -------
    interrupted : bool
        True when the user pressed Ctrl-C; the weights are those reached so far.
    """
    steps = batches_in_epoch(X.shape[0], batch_size)  # what Keras calls a step: a batch, or on JAX a chunk of them
    if keras.backend.backend() == "tensorflow" and sp.issparse(X):
        batches = _sparse_batches(X, Y, sample_weight, standardization, batch_size, shuffle, seed)
    elif keras.backend.backend() == "tensorflow":  # TensorFlow does not compile again for a short last batch
        batches = _tensorflow_batches(X, Y, sample_weight, standardization, batch_size, shuffle, seed)
    else:
        chunk = trainer.batches_per_call
        batches = _numpy_chunks(X, Y, sample_weight, standardization, batch_size, chunk, shuffle, seed)
        steps = batches_in_epoch(steps, chunk)
    try:
        trainer.fit(
            batches,
            steps_per_epoch=steps,
            epochs=epochs,
            shuffle=False,  # the batches come shuffled
            verbose=1 if progress_bar else 0,
            callbacks=[_EpochEnd(on_epoch_end)],
        )
    except KeyboardInterrupt:
        return True
    return False
