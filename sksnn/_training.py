"""Running Keras' own training loop for the estimators.

The estimator decides when to stop (scikit-learn MLP's rules); this module
turns that decision into a Keras callback, seeds everything a fit draws from,
and compiles the network once per fitted estimator.
"""

import collections
import contextlib
import threading

import keras
import numpy as np

from ._blocks import rows_per_block
from ._inference import standardize
from ._network import (
    OPTIMIZERS,
    HalfSquaredError,
    LabelSummedBinaryCrossentropy,
    PenalizedNetwork,
    build_snn,
    initial_values,
)

LOSSES = {
    # Outputs are logits: the losses apply sigmoid/softmax themselves, which is
    # numerically safer than differentiating through the activation. A Keras
    # loss computes in floatx (float32) unless given a dtype: it would cast
    # float64 predictions to float32.
    "binary": lambda dtype: LabelSummedBinaryCrossentropy(reduction="mean_with_sample_weight", dtype=dtype),
    "categorical": lambda dtype: keras.losses.CategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight", dtype=dtype
    ),
    "squared_error": lambda dtype: HalfSquaredError(reduction="mean_with_sample_weight", dtype=dtype),
}


class _TrainerPool:
    """Compiled training networks, kept for the next fit of the same shape.

    Tracing and compiling Keras' train step costs about a second per model on
    TensorFlow, more than a whole small fit. A cross-validation or grid search
    fits the same architecture many times: taking a trained-before network,
    loading freshly initialized weights and a fresh optimizer state into it,
    reuses its compiled step. ``alpha`` and the learning rate are variables of
    the network, so a grid over them reuses it too. A network serves one fit
    at a time.
    """

    def __init__(self, max_idle=4):
        self._idle = collections.OrderedDict()
        self._max_idle = max_idle
        self._lock = threading.Lock()

    def take(self, key):
        with self._lock:
            networks = self._idle.get(key)
            if not networks:
                return None
            trainer = networks.pop()
            if not networks:  # no empty lists: give_back evicts from the oldest key
                del self._idle[key]
            return trainer

    def give_back(self, key, trainer):
        with self._lock:
            self._idle.setdefault(key, []).append(trainer)
            self._idle.move_to_end(key)
            while sum(len(v) for v in self._idle.values()) > self._max_idle:
                oldest = next(iter(self._idle))
                self._idle[oldest].pop(0)
                if not self._idle[oldest]:
                    del self._idle[oldest]

    def clear(self):
        with self._lock:
            self._idle.clear()


_POOL = _TrainerPool()


_BLOCK_BYTES = 2**23  # the unit in which large arrays are copied or streamed


def batches_per_call(steps_per_epoch, batch_bytes):
    """Train steps per call into the backend, for an epoch of ``steps_per_epoch``.

    Each call costs Python work around the compiled step (~1 ms on
    TensorFlow, about as much as a step of a small network); running up to 32
    steps a call halved TensorFlow's epoch time and cut JAX's by ~20%
    (benchmarks/speed.py). TensorFlow: Keras' ``steps_per_execution``, which
    runs exactly that many steps a call even across the end of an epoch of a
    repeated stream, so the count must divide the epoch. JAX: the length of
    :class:`PenalizedNetwork`'s chunks, whose empty slots end any epoch: a
    power of two, so that training sets of other sizes (CV folds, the calls of
    ``partial_fit``) mostly share a compiled loop; a chunk's data stay under 8 MB.
    """
    if keras.backend.backend() == "tensorflow":
        return max(d for d in range(1, min(32, steps_per_epoch) + 1) if steps_per_epoch % d == 0)
    most = min(32, 1 << (steps_per_epoch - 1).bit_length(), rows_per_block(_BLOCK_BYTES, batch_bytes))
    return 1 << (most.bit_length() - 1)


def _compile(network, *, n_features, n_outputs, loss, optimizer, learning_rate, alpha, dtype, steps):
    on_tensorflow = keras.backend.backend() == "tensorflow"
    trainer = PenalizedNetwork(network, alpha, batches_per_call=1 if on_tensorflow else steps, dtype=dtype)
    trainer.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss=LOSSES[loss](dtype),
        jit_compile="auto",
        steps_per_execution=steps if on_tensorflow else 1,
    )
    # Build the loss and metrics now, on a dummy batch: left to the first fit,
    # Keras builds them from a batch it draws from the data (and from NumPy's
    # global generator), so a new network's first fit would shuffle differently
    # from a reused one's.
    dummy = np.zeros((1, n_features), dtype=dtype), np.zeros((1, n_outputs), dtype=dtype)
    trainer.fit(*dummy, epochs=0, shuffle=False, verbose=0)
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.initial_optimizer_state = get_optimizer_state(trainer)
    return trainer


def get_optimizer_state(trainer):
    """The optimizer's variables (step count, moments) as NumPy arrays."""
    return [keras.ops.convert_to_numpy(v) for v in trainer.optimizer.variables]


def set_optimizer_state(trainer, state):
    """Load ``state``; a state saved by another optimizer (changed by ``set_params``) is ignored."""
    variables = trainer.optimizer.variables
    if len(variables) != len(state) or any(tuple(v.shape) != np.shape(s) for v, s in zip(variables, state)):
        return
    for variable, value in zip(variables, state):
        variable.assign(value)


def precision(dtype):
    """A context in which the backend computes in ``dtype``.

    JAX computes in 32 bits unless 64-bit types are enabled; they are enabled
    for the fits of float64 data only (as MLP trains in the dtype of X), and
    only within the fit, so the user's JAX configuration stays as it was.
    """
    if dtype == "float64" and keras.backend.backend() == "jax":
        try:
            from jax import enable_x64
        except ImportError:  # older JAX has it in jax.experimental only
            from jax.experimental import enable_x64

        return enable_x64(True)
    return contextlib.nullcontext()


@contextlib.contextmanager
def trainer_for(
    spec, *, n_features, n_outputs, loss, optimizer, learning_rate, alpha, dtype, seed, steps_per_epoch, batch_size
):
    """A compiled :class:`PenalizedNetwork`, freshly initialized from ``seed``.

    ``spec`` holds the keyword arguments of :func:`build_snn` that describe
    the hidden layers; the output layer gives logits (see ``LOSSES``). The
    network returns to the pool when the block ends.
    """
    steps = batches_per_call(steps_per_epoch, batch_size * n_features * np.dtype(dtype).itemsize)
    spec = {**spec, "hidden_layer_sizes": tuple(spec["hidden_layer_sizes"])}
    key = (
        keras.backend.backend(),
        n_features,
        n_outputs,
        tuple(sorted(spec.items())),
        loss,
        optimizer,
        alpha > 0,  # alpha's and the learning rate's values are variables: not part of the compiled step
        dtype,
        steps,
    )
    trainer = _POOL.take(key)
    if trainer is None:
        network = build_snn(n_features, n_outputs, output_activation="identity", dtype=dtype, seed=seed, **spec)
        trainer = _compile(
            network,
            n_features=n_features,
            n_outputs=n_outputs,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            alpha=alpha,
            dtype=dtype,
            steps=steps,
        )
    else:
        # Same architecture, so the variables (weights and dropout seed state) pair up.
        initialization = {k: spec[k] for k in ("hidden_layer_sizes", "kernel_initializer", "dropout")}
        fresh = initial_values(n_features, n_outputs, dtype=dtype, seed=seed, **initialization)
        for variable, value in zip(trainer.network.variables, fresh, strict=True):
            variable.assign(value)
        set_optimizer_state(trainer, trainer.initial_optimizer_state)
        trainer.optimizer.learning_rate = learning_rate
        trainer.alpha.assign(alpha)
    try:
        yield trainer
    finally:
        _POOL.give_back(key, trainer)


class _EpochEnd(keras.callbacks.Callback):
    """Hands each epoch's mean training loss to ``on_epoch_end``; stops when it says so.

    Keras' epoch loss, times ``loss_scale``, is the mean of the batch losses
    weighted by the batches' sample weight (see ``PenalizedNetwork.compute_loss``):
    without sample weights, MLP's ``loss_``.
    """

    def __init__(self, on_epoch_end, loss_scale):
        super().__init__()
        self._on_epoch_end = on_epoch_end
        self._loss_scale = loss_scale

    def on_epoch_end(self, epoch, logs=None):
        if self._on_epoch_end(float(logs["loss"]) * self._loss_scale):
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

    rows = _copy_rows(X)
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


def _copy_rows(X):
    """Rows in a block of about 8 MB."""
    return rows_per_block(_BLOCK_BYTES, X.shape[1] * X.itemsize)


def _numpy_chunks(X, Y, sample_weight, standardization, batch_size, batches_per_chunk, shuffle, seed):
    """An endless stream of chunks of standardized minibatches, reshuffled every epoch from ``seed``.

    Each chunk is ``(x, y, sample_weight, active)``, each with a leading axis
    of ``batches_per_chunk`` batches (see ``PenalizedNetwork.make_train_function``).
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
            x = X[rows] if standardization is None else standardize(X[rows], *standardization)
            chunk = (x, Y[rows], sample_weight[rows])
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
    each batch: the standardized X is never held whole in memory.

    ``on_epoch_end(loss) -> bool`` is called after each epoch with the epoch's
    mean training loss; returning True stops training. ``progress_bar`` shows
    Keras' live progress bar (terminal or notebook) through each epoch.

    Returns
    -------
    interrupted : bool
        True when the user pressed Ctrl-C; the weights are those reached so far.
    """
    steps = -(-X.shape[0] // batch_size)
    keras_steps = steps  # what Keras calls a step: a batch, or on JAX a chunk of them
    if keras.backend.backend() == "tensorflow":  # TensorFlow does not compile again for a short last batch
        batches = _tensorflow_batches(X, Y, sample_weight, standardization, batch_size, shuffle, seed)
        rows_counted = X.shape[0]
    else:
        chunk = trainer.batches_per_call
        batches = _numpy_chunks(X, Y, sample_weight, standardization, batch_size, chunk, shuffle, seed)
        rows_counted = steps * batch_size  # padding included
        keras_steps = -(-steps // chunk)
    total_weight = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
    try:
        trainer.fit(
            batches,
            steps_per_epoch=keras_steps,
            epochs=epochs,
            shuffle=False,  # the batches come shuffled
            verbose=1 if progress_bar else 0,
            callbacks=[_EpochEnd(on_epoch_end, loss_scale=rows_counted / total_weight)],
        )
    except KeyboardInterrupt:
        return True
    return False
