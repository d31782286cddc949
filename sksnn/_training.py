"""Running Keras' own training loop for the estimators.

The estimator decides when to stop (scikit-learn MLP's rules); this module
turns that decision into a Keras callback, seeds everything a fit draws from,
and compiles the network once per fitted estimator.
"""

import collections
import contextlib
import random
import threading

import keras
import numpy as np

from ._network import OPTIMIZERS, HalfSquaredError, PenalizedNetwork, build_snn

LOSSES = {
    # Outputs are logits: the losses apply sigmoid/softmax themselves, which is
    # numerically safer than differentiating through the activation.
    "binary": lambda: keras.losses.BinaryCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
    "categorical": lambda: keras.losses.CategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
    "squared_error": lambda: HalfSquaredError(reduction="mean_with_sample_weight"),
}


@contextlib.contextmanager
def seeded(seed):
    """Make Keras' batch shuffling follow ``seed``, leaving global RNGs as found.

    Keras shuffles NumPy input with NumPy's global generator on the JAX and
    torch backends (on TensorFlow, ``_tensorflow_batches`` takes the seed
    itself). Python's and NumPy's global states are restored afterwards, so a
    fit does not change what user code draws next.
    """
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)


class _TrainerPool:
    """Compiled training networks, kept for the next fit of the same shape.

    Tracing and compiling Keras' train step costs about a second per model on
    TensorFlow, more than a whole small fit. A cross-validation or grid search
    fits the same architecture many times: taking a trained-before network,
    loading freshly initialized weights and a fresh optimizer state into it,
    reuses its compiled step. A network serves one fit at a time.
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
            self._idle.move_to_end(key)
            return networks.pop()

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


def _compile(network, *, n_features, n_outputs, loss, optimizer, learning_rate, alpha, dtype):
    trainer = PenalizedNetwork(network, alpha, dtype=dtype)
    trainer.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss=LOSSES[loss](),
        jit_compile="auto",
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
    for variable, value in zip(trainer.optimizer.variables, state, strict=True):
        variable.assign(value)


def precision(dtype):
    """A context in which the backend computes in ``dtype``.

    JAX computes in 32 bits unless 64-bit types are enabled; they are enabled
    for the fits of float64 data only (as MLP trains in the dtype of X), and
    only within the fit, so the user's JAX configuration stays as it was.
    """
    if dtype == "float64" and keras.backend.backend() == "jax":
        import jax

        return jax.enable_x64(True)
    return contextlib.nullcontext()


@contextlib.contextmanager
def trainer_for(spec, *, n_features, n_outputs, loss, optimizer, learning_rate, alpha, dtype, seed):
    """A compiled :class:`PenalizedNetwork`, freshly initialized from ``seed``.

    ``spec`` holds the keyword arguments of :func:`build_snn` that describe
    the hidden layers; the output layer gives logits (see ``LOSSES``). The
    network returns to the pool when the block ends.
    """
    spec = {**spec, "hidden_layer_sizes": tuple(spec["hidden_layer_sizes"])}
    key = (
        keras.backend.backend(),
        n_features,
        n_outputs,
        tuple(sorted(spec.items())),
        loss,
        optimizer,
        learning_rate,
        alpha,
        dtype,
    )
    network = build_snn(n_features, n_outputs, output_activation="identity", dtype=dtype, seed=seed, **spec)
    trainer = _POOL.take(key)
    if trainer is None:
        trainer = _compile(
            network,
            n_features=n_features,
            n_outputs=n_outputs,
            loss=loss,
            optimizer=optimizer,
            learning_rate=learning_rate,
            alpha=alpha,
            dtype=dtype,
        )
    else:
        # Same architecture, so the variables (weights and dropout seed state) pair up.
        for variable, fresh in zip(trainer.network.variables, network.variables, strict=True):
            variable.assign(fresh.value)
        set_optimizer_state(trainer, trainer.initial_optimizer_state)
    try:
        yield trainer
    finally:
        _POOL.give_back(key, trainer)


class _EpochEnd(keras.callbacks.Callback):
    """Hands each epoch's mean training loss to ``on_epoch_end``; stops when it says so."""

    def __init__(self, on_epoch_end):
        super().__init__()
        self._on_epoch_end = on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if self._on_epoch_end(float(logs["loss"])):
            self.model.stop_training = True


def _tensorflow_batches(X, Y, sample_weight, batch_size, shuffle, seed):
    """An endless, seeded tf.data stream of minibatches.

    Keras rebuilds a tf.data iterator for NumPy input at every epoch, which
    costs ~10 ms each: more than a whole epoch of a small data set. One
    repeated stream and ``steps_per_epoch`` build it once per fit. Only the
    sample indices are shuffled; rows are gathered per batch, so X is never
    copied per epoch.
    """
    import tensorflow as tf

    arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
    tensors = tuple(tf.convert_to_tensor(a) for a in arrays)
    indices = tf.data.Dataset.range(X.shape[0])
    if shuffle:
        indices = indices.shuffle(X.shape[0], seed=seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).repeat()
    return batches.map(lambda i: tuple(tf.gather(t, i) for t in tensors)).prefetch(2)


def run_epochs(trainer, X, Y, sample_weight, *, epochs, batch_size, shuffle, seed, on_epoch_end):
    """Train ``trainer`` for up to ``epochs`` epochs.

    ``on_epoch_end(loss) -> bool`` is called after each epoch with the epoch's
    mean training loss; returning True stops training.

    Returns
    -------
    interrupted : bool
        True when the user pressed Ctrl-C; the weights are those reached so far.
    """
    if keras.backend.backend() == "tensorflow":
        data = {"x": _tensorflow_batches(X, Y, sample_weight, batch_size, shuffle, seed), "shuffle": False}
        data["steps_per_epoch"] = -(-X.shape[0] // batch_size)
    else:
        data = {"x": X, "y": Y, "sample_weight": sample_weight, "batch_size": batch_size, "shuffle": shuffle}
    with seeded(seed):
        try:
            trainer.fit(**data, epochs=epochs, verbose=0, callbacks=[_EpochEnd(on_epoch_end)])
        except KeyboardInterrupt:
            return True
    return False
