"""Running the epochs of a fit: the streams of batches and the loop that trains on them.

The estimator decides when to stop (scikit-learn MLP's rules, ``_stopping``);
this module feeds a compiled :class:`~sksnn._trainer.TrainingNetwork` its
standardized minibatches and turns each epoch's loss into a call of the
estimator's ``on_epoch_end``, whose answer stops the loop. TensorFlow trains
through Keras' own fit loop over a tf.data stream; JAX through sksnn's loop
over chunks of batches that may span epochs, where the compiled call applies
MLP's stopping rule itself (``TrainingNetwork.chunk_function``). Ctrl-C ends
the loop too, keeping the weights reached.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from ._blocks import STREAM_BLOCK_BYTES, batches_in_epoch, rows_per_block  # noqa: E402
from ._inference import standardize  # noqa: E402
from ._trainer import padded_batch_size, slots_per_chunk  # noqa: E402


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


def _tensorflow_batches(X, Y, sample_weight, standardization, batch_size, shuffle, seed, input_width):
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

    padding = [[0, 0], [0, input_width - X.shape[1]]]  # the network's zero columns (_trainer.padded_widths)

    def gather(i):
        x = tf.gather(data, i)
        if mean is not None:
            x = (x - mean) / scale
        return (tf.pad(x, padding), *(tf.gather(t, i) for t in small))

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


def _padded_columns(x, width):
    return x if x.shape[1] == width else np.pad(x, [(0, 0), (0, width - x.shape[1])])


def _sparse_batches(X, Y, sample_weight, standardization, batch_size, shuffle, seed, input_width):
    """TensorFlow's stream for a sparse X: minibatches densified one at a time, from a private generator.

    The tf.data stream above holds X in a dense variable; a sparse X would not fit.
    """
    rng = np.random.RandomState(seed)
    while True:
        order = rng.permutation(X.shape[0]) if shuffle else np.arange(X.shape[0])
        for start in range(0, X.shape[0], batch_size):
            rows = order[start : start + batch_size]
            batch = (_padded_columns(_dense_rows(X, rows, standardization), input_width), Y[rows])
            yield batch if sample_weight is None else (*batch, sample_weight[rows])


def _numpy_chunks(
    X, Y, sample_weight, standardization, *, batch_size, slots, widths, epochs, shuffle, seed, whole_epochs
):
    """Chunks of standardized minibatches for up to ``epochs`` epochs, reshuffled every epoch from ``seed``.

    Yields ``(chunk, epochs begun)``: ``chunk = (x, y, sample_weight, active,
    epoch_end)``, each with a leading axis of ``slots`` batches (see
    ``TrainingNetwork.chunk_function``), and the epochs whose first batch it
    holds. A chunk holds the batches of as many epochs as fit, or, with
    ``whole_epochs``, ends with each epoch (the estimator looks at the
    network after every epoch). Gathering each chunk here keeps X's dtype
    (Keras' array adapter casts float64 to float32), draws from a private
    generator (Keras' from NumPy's global one) and copies nothing larger than
    a chunk. ``widths`` are the network's input and output widths: the
    columns after X's and Y's are zeros.
    """
    n_samples = X.shape[0]
    if sample_weight is None:
        sample_weight = np.ones(n_samples, dtype=X.dtype)
    rng = np.random.RandomState(seed)
    n_batches = batches_in_epoch(n_samples, batch_size)

    def empty():
        return (
            np.zeros((slots, batch_size, widths[0]), dtype=X.dtype),
            np.zeros((slots, batch_size, widths[1]), dtype=X.dtype),
            # A short last batch would be a new shape, compiled again for
            # every training-set size (each fold of a CV): it is padded with
            # rows of zero weight, which add nothing to the loss or its gradient.
            np.zeros((slots, batch_size), dtype=X.dtype),
            np.zeros(slots, dtype=bool),
            np.zeros(slots, dtype=bool),
        )

    chunk, slot, begun = empty(), 0, []
    for epoch in range(epochs):
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
        begun.append(epoch)
        for batch in range(n_batches):
            rows = order[batch * batch_size : (batch + 1) * batch_size]
            x, y, w, active, epoch_end = chunk
            x[slot, : len(rows), : X.shape[1]] = _dense_rows(X, rows, standardization)
            y[slot, : len(rows), : Y.shape[1]] = Y[rows]
            w[slot, : len(rows)] = sample_weight[rows]
            active[slot], epoch_end[slot] = True, batch == n_batches - 1
            slot += 1
            if slot == slots or (whole_epochs and epoch_end[slot - 1]):
                yield chunk, begun
                chunk, slot, begun = empty(), 0, []
    if slot:  # the empty slots after the last batch leave the state as it is
        yield chunk, begun


class _Progress:
    """Keras' progress bar through each epoch (``progress_bar``): it moves once per compiled call."""

    def __init__(self, batches_per_epoch):
        self._batches = batches_per_epoch
        self._bar, self._done = None, 0

    def advance(self, active, epoch_end):
        for is_active, ends in zip(active, epoch_end):
            if not is_active:
                continue
            if self._bar is None:
                self._bar, self._done = keras.utils.Progbar(self._batches), 0
            self._done += 1
            if ends:
                self._bar.update(self._done, finalize=True)
                self._bar = None
        if self._bar is not None:
            self._bar.update(self._done)


def _run_chunks(trainer, chunks, callback, stopping_rule, dtype, progress):
    """JAX: train on ``chunks``, replaying each epoch's loss to ``callback``; True if interrupted."""
    best, count, tol, patience = stopping_rule or (np.inf, 0, 0.0, np.inf)
    rule = (np.asarray(best, dtype), np.asarray(count, dtype), np.asarray(False))
    limits = (np.asarray(tol, dtype), np.asarray(patience, dtype), np.asarray(stopping_rule is not None))
    train_chunk = trainer.chunk_function()
    trainer.reset_metrics()
    trainer.stop_training = False
    state = trainer.training_state()
    epoch = 0
    try:
        upcoming = next(chunks, None)
        while upcoming is not None:
            chunk, begun = upcoming
            for begins in begun:
                callback.on_epoch_begin(begins)
            state, rule, losses, ends = train_chunk(state, rule, limits, chunk)
            upcoming = next(chunks, None)  # gathered while the backend computes
            losses, ends = np.asarray(losses), np.asarray(ends)
            if stopping_rule is None:  # the estimator reads the weights after each epoch
                trainer.load_training_state(state)
            if progress is not None:
                progress.advance(chunk[3], chunk[4])
            for loss in losses[ends]:
                callback.on_epoch_end(epoch, {"loss": float(loss)})
                epoch += 1
                if trainer.stop_training:
                    break
            if stopping_rule is None:  # the estimator may have changed a variable (the learning rate)
                state = trainer.training_state()
            # The compiled rule and the estimator's agree (same rule, same dtype):
            # either stopping ends the fit.
            if trainer.stop_training or bool(rule[2]):
                break
    except KeyboardInterrupt:
        return True
    finally:
        trainer.load_training_state(state)
    return False


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
    stopping_rule=None,
    progress_bar=False,
):
    """Train ``trainer`` for up to ``epochs`` epochs of ``X``, ``Y``.

    ``standardization`` is None or ``(mean, scale)`` in X's dtype, applied to
    each batch: the standardized X is never held whole in memory. A sparse
    (CSR) X is densified batch by batch.

    ``on_epoch_end(loss) -> bool`` is called after each epoch with the epoch's
    mean training loss; returning True stops training. ``stopping_rule``,
    when given, is ``(best_loss, no_improvement_count, tol, n_iter_no_change)``:
    the estimator stops on MLP's rule on the training loss alone, from these
    values, so the backend may run several epochs a call and stop where that
    rule stops (JAX); None: the estimator looks at each epoch itself.
    ``progress_bar`` shows Keras' live progress bar (terminal or notebook)
    through each epoch.

    Returns
    -------
    interrupted : bool
        True when the user pressed Ctrl-C; the weights are those reached so far.
    """
    callback = _EpochEnd(on_epoch_end)
    if keras.backend.backend() == "jax":
        rows = padded_batch_size(batch_size, X.shape[0])
        widths = (trainer.input_width, trainer.output_width)
        slots = slots_per_chunk(rows * widths[0] * X.dtype.itemsize)
        whole_epochs = stopping_rule is None
        chunks = _numpy_chunks(
            X, Y, sample_weight, standardization, batch_size=rows, slots=slots, widths=widths,
            epochs=epochs, shuffle=shuffle, seed=seed, whole_epochs=whole_epochs,
        )  # fmt: skip
        callback.set_model(trainer)
        progress = _Progress(batches_in_epoch(X.shape[0], rows)) if progress_bar else None
        return _run_chunks(trainer, chunks, callback, stopping_rule, X.dtype, progress)

    steps = batches_in_epoch(X.shape[0], batch_size)
    Y = _padded_columns(Y, trainer.output_width)  # absent classes (_trainer.padded_widths)
    batches = (_sparse_batches if sp.issparse(X) else _tensorflow_batches)(
        X, Y, sample_weight, standardization, batch_size, shuffle, seed, trainer.input_width
    )
    try:
        trainer.fit(
            batches,
            steps_per_epoch=steps,
            epochs=epochs,
            shuffle=False,  # the batches come shuffled
            verbose=1 if progress_bar else 0,
            callbacks=[callback],
        )
    except KeyboardInterrupt:
        return True
    return False
