"""Running the epochs of a fit: the streams of batches and the loop that trains on them.

The estimator decides when to stop (scikit-learn MLP's rules, ``_stopping``);
this module feeds a compiled :class:`~sksnn._trainer.TrainingNetwork` its
standardized minibatches and turns each epoch's loss into a call of the
estimator's ``on_epoch_end``, whose answer stops the loop. The batches come
in chunks that may span epochs, one compiled call each, which applies MLP's
stopping rule itself (``TrainingNetwork.chunk_trainer``). Each next chunk is
gathered while the backend trains on the one before: JAX's calls return
before they compute, TensorFlow's when they are done, so there the gathering
runs in a thread of the fit's own (:func:`_gathered_ahead`). Where the
estimator looks at the network after each epoch (validation rows), a chunk
inside an epoch is not waited for: the next one is sent first, so JAX's
backend is not idle while Python sends it, and at most two chunks are sent
and not computed (memory). Ctrl-C ends the loop too, keeping the weights
reached.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import contextlib  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from ._blocks import batches_in_epoch  # noqa: E402
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


def _dense_rows(X, rows, standardization):
    """Rows of X (a sparse X densified: only these rows), standardized."""
    x = X[rows]
    if sp.issparse(x):
        x = x.toarray()
    return x if standardization is None else standardize(x, *standardization)


def _numpy_chunks(
    X, Y, sample_weight, standardization, *, dtype, batch_size, slots, widths, epochs, shuffle, seed, whole_epochs
):
    """Chunks of standardized minibatches for up to ``epochs`` epochs, reshuffled every epoch from ``seed``.

    Yields ``(chunk, epochs begun)``: ``chunk = (x, y, sample_weight, active,
    epoch_end)``, each with a leading axis of ``slots`` batches (see
    ``TrainingNetwork.chunk_trainer``), and the epochs whose first batch it
    holds. A chunk holds the batches of as many epochs as fit, or, with
    ``whole_epochs``, ends with each epoch (the estimator looks at the
    network after every epoch). The chunks are in ``dtype``, the network's
    (Keras' array adapter would cast float64 to float32 whatever the
    network's dtype); gathering each chunk here draws from a private
    generator (Keras' from NumPy's global one) and copies nothing larger than
    a chunk. ``widths`` are the network's input and output widths: the
    columns after X's and Y's are zeros.
    """
    n_samples = X.shape[0]
    if sample_weight is None:
        sample_weight = np.ones(n_samples, dtype=dtype)
    rng = np.random.RandomState(seed)
    n_batches = batches_in_epoch(n_samples, batch_size)
    index_dtype = np.int32 if n_samples < 2**31 else np.int64

    def empty():
        return (
            np.zeros((slots, batch_size, widths[0]), dtype=dtype),
            np.zeros((slots, batch_size, widths[1]), dtype=dtype),
            # A short last batch would be a new shape, compiled again for
            # every training-set size (each fold of a CV): it is padded with
            # rows of zero weight, which add nothing to the loss or its gradient.
            np.zeros((slots, batch_size), dtype=dtype),
            np.zeros(slots, dtype=bool),
            np.zeros(slots, dtype=bool),
        )

    chunk, slot, begun = empty(), 0, []
    for epoch in range(epochs):
        order = np.arange(n_samples, dtype=index_dtype)
        if shuffle:  # rng.permutation(n_samples)'s order, in 4-byte indices when they fit
            rng.shuffle(order)
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


@contextlib.contextmanager
def _gathered_ahead(chunks, in_thread):
    """``gather()`` starts getting ``chunks``' next chunk; what it returns, called, gives it (None after the last).

    TensorFlow's compiled call returns when its chunk is trained, and
    releases the GIL while it runs: gathering the next chunk (NumPy's fancy
    indexing and standardization, ~20% of a 1M-row epoch on 2 cores) in a
    thread meanwhile took a float32 engine fit of 200,000 rows to 0.87x of
    its time. JAX's call returns at once (asynchronous dispatch): the caller
    gathers while it computes, and a thread gained nothing there (0.995x).
    The generator is advanced by one thread at a time, in order, so the
    chunks and their shuffles are the same either way. The thread ends with
    the block, after the gathering it may still be doing (an early stop, an
    error or Ctrl-C leave at most one chunk's work to wait for).
    """
    if not in_thread:  # gathered when asked for, after the call that computes meanwhile
        yield lambda: lambda: next(chunks, None)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="sksnn-chunks") as thread:
        yield lambda: thread.submit(next, chunks, None).result


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


def _run_chunks(trainer, chunks, callback, stopping_rule, dtype, progress, work_rows):
    """Train on ``chunks``, replaying each epoch's loss to ``callback``; True if interrupted."""
    best, count, tol, patience = stopping_rule or (np.inf, 0, 0.0, np.inf)
    rule = (np.asarray(best, dtype), np.asarray(count, dtype), np.asarray(False))
    limits = (np.asarray(tol, dtype), np.asarray(patience, dtype), np.asarray(stopping_rule is not None))
    trainer.reset_metrics()
    trainer.stop_training = False
    train = trainer.chunk_trainer(work_rows)
    epoch, in_flight = 0, None
    try:
        with _gathered_ahead(chunks, in_thread=not train.asynchronous) as gather:
            upcoming = gather()()
            while upcoming is not None:
                chunk, begun = upcoming
                for begins in begun:
                    callback.on_epoch_begin(begins)
                gathered = gather()
                rule, losses, ends = train(chunk, rule, limits)
                if in_flight is not None:  # at most two chunks sent and not computed (memory)
                    np.asarray(in_flight)
                upcoming = gathered()  # the next chunk, gathered while the backend computed this one
                within_an_epoch = stopping_rule is None and not chunk[4].any()
                in_flight = losses if within_an_epoch else None
                if not within_an_epoch:
                    losses, ends = np.asarray(losses), np.asarray(ends)
                if progress is not None:
                    progress.advance(chunk[3], chunk[4])
                if within_an_epoch:
                    # The estimator looks at the network at the epoch's end only:
                    # nothing to read here, so the next chunk is sent before this
                    # one is computed (JAX: no idle backend while Python sends it).
                    continue
                if stopping_rule is None:  # the estimator reads the weights after each epoch
                    train.sync()
                for loss in losses[ends]:
                    callback.on_epoch_end(epoch, {"loss": float(loss)})
                    epoch += 1
                    if trainer.stop_training:
                        break
                if stopping_rule is None:  # and may have changed a variable (the learning rate)
                    train.reload()
                # The compiled rule and the estimator's agree (same rule, same dtype):
                # either stopping ends the fit.
                if trainer.stop_training or bool(np.asarray(rule[2])):
                    break
    except KeyboardInterrupt:
        return True
    finally:
        train.sync()
        # as Keras' fit ends: an optimizer with use_ema swaps in its averages
        trainer.optimizer.finalize_variable_values(trainer.trainable_variables)
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
    dtype,
    shuffle,
    seed,
    on_epoch_end,
    stopping_rule=None,
    progress_bar=False,
):
    """Train ``trainer`` for up to ``epochs`` epochs of ``X``, ``Y``.

    ``standardization`` is None or ``(mean, scale)`` in X's dtype, applied to
    each chunk of batches: the standardized X is never held whole in memory. A
    sparse (CSR) X is densified chunk by chunk. The chunks are cast to
    ``dtype``, the network's.

    ``on_epoch_end(loss) -> bool`` is called after each epoch with the epoch's
    mean training loss; returning True stops training. ``stopping_rule``,
    when given, is ``(best_loss, no_improvement_count, tol, n_iter_no_change)``:
    the estimator stops on MLP's rule on the training loss alone, from these
    values, so the backend runs several epochs a call and stops where that
    rule stops; None: the estimator looks at each epoch itself.
    ``progress_bar`` shows Keras' live progress bar (terminal or notebook)
    through each epoch.

    Returns
    -------
    interrupted : bool
        True when the user pressed Ctrl-C; the weights are those reached so far.
    """
    callback = _EpochEnd(on_epoch_end)
    callback.set_model(trainer)
    rows = padded_batch_size(batch_size, X.shape[0])
    parallel = getattr(trainer, "data_parallel", None)
    if parallel is not None and rows % parallel.replicas:
        if X.shape[0] > rows:  # batches of real rows: their size is the user's
            raise ValueError(
                f"Data-parallel training over {parallel.replicas} devices splits each batch evenly: batch_size "
                f"must be a multiple of {parallel.replicas}, got {rows}."
            )
        rows = -(-rows // parallel.replicas) * parallel.replicas  # one batch: more zero-weight padding
    dtype = np.dtype(dtype)
    widths = (trainer.input_width, trainer.output_width)
    slots = slots_per_chunk(rows * widths[0] * dtype.itemsize)
    chunks = _numpy_chunks(
        X, Y, sample_weight, standardization, dtype=dtype, batch_size=rows, slots=slots, widths=widths,
        epochs=epochs, shuffle=shuffle, seed=seed, whole_epochs=stopping_rule is None,
    )  # fmt: skip
    n_batches = batches_in_epoch(X.shape[0], rows)
    progress = _Progress(n_batches) if progress_bar else None
    return _run_chunks(trainer, chunks, callback, stopping_rule, dtype, progress, n_batches * rows * epochs)
