"""How one training step computes, and the compiled training networks that run it.

Everything a train step is made of lives here: the losses (MLP's), the L2
penalty with MLP's scaling, the loss that is reported per epoch, the
optimizers, how many steps run per call into the backend (and on JAX the
compiled loop over them), and the pool that keeps compiled networks for the
next fit of the same shape. The graph itself is ``_network``; feeding batches
and running epochs is ``_training``.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import collections  # noqa: E402
import contextlib  # noqa: E402
import threading  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from ._blocks import STREAM_BLOCK_BYTES, batches_in_epoch, rows_per_block  # noqa: E402
from ._network import build_snn, dense_layers, initial_values, variable_values  # noqa: E402
from ._optimizers import Adam, AdamW, Nadam  # noqa: E402

OPTIMIZERS = {
    # Keras' own, cheaper to trace (see _optimizers)
    "nadam": Nadam,
    "adam": Adam,
    "adamw": AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


class HalfSquaredError(keras.losses.Loss):
    """``0.5 * mean((y_pred - y_true) ** 2)``: MLPRegressor's squared loss."""

    def call(self, y_true, y_pred):
        return 0.5 * ops.mean(ops.square(y_pred - y_true), axis=-1)


class LabelSummedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of logits, summed over the labels: MLPClassifier's logistic loss.

    Keras' ``BinaryCrossentropy`` averages over the labels: for a multilabel
    target of k labels its loss (and gradient) would be MLP's divided by k,
    which shifts the balance against the L2 penalty. One label: the same.
    """

    def call(self, y_true, y_pred):
        return ops.sum(ops.binary_crossentropy(y_true, y_pred, from_logits=True), axis=-1)


class HalfPoissonDeviance(keras.losses.Loss):
    """Half the Poisson deviance of ``exp(y_pred)``, summed over the outputs: MLPRegressor's 'poisson' loss.

    ``y_pred`` is the log of the prediction (the output layer gives it; the
    estimator applies ``exp``), so the loss needs no log of a prediction:
    ``exp(y_pred) - y * y_pred + y * log(y) - y``. The last two terms, constant
    in the weights, make the reported loss MLP's.
    """

    def call(self, y_true, y_pred):
        y_log_y = ops.where(y_true > 0, y_true * ops.log(ops.maximum(y_true, 1e-300)), 0.0)
        return ops.sum(ops.exp(y_pred) - y_true * y_pred + y_log_y - y_true, axis=-1)


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
    "poisson": lambda dtype: HalfPoissonDeviance(reduction="mean_with_sample_weight", dtype=dtype),
}


def batches_per_call(steps_per_epoch, batch_bytes):
    """Train steps per call into the backend, for an epoch of ``steps_per_epoch``.

    Each call costs Python work around the compiled step (~1 ms on
    TensorFlow, about as much as a step of a small network); running up to 32
    steps a call halved TensorFlow's epoch time and cut JAX's by ~20%
    (benchmarks/speed.py). TensorFlow: Keras' ``steps_per_execution``, which
    runs exactly that many steps a call even across the end of an epoch of a
    repeated stream, so the count must divide the epoch. JAX: the length of
    :class:`TrainingNetwork`'s chunks, whose empty slots end any epoch: a
    power of two, so that training sets of other sizes (CV folds, the calls of
    ``partial_fit``) mostly share a compiled loop; a chunk's data stay under 8 MB.
    """
    if keras.backend.backend() == "tensorflow":
        return max(d for d in range(1, min(32, steps_per_epoch) + 1) if steps_per_epoch % d == 0)
    most = min(32, 1 << (steps_per_epoch - 1).bit_length(), rows_per_block(STREAM_BLOCK_BYTES, batch_bytes))
    return 1 << (most.bit_length() - 1)


class TrainingNetwork(keras.Model):
    """The network as it trains: MLP's penalized loss, MLP's reported loss, a chunk of steps a call.

    - The L2 penalty is MLP's, ``alpha / 2 * ||W||^2 / sum(w)``: scikit-learn
      divides it by the batch's summed sample weight, so a sample weight of 2
      is the same as a repeated row. A fixed Keras ``kernel_regularizer``
      cannot do that, hence ``compute_loss``.
    - The epoch loss (``logs["loss"]``) is MLP's ``loss_``: the mean of the
      batch losses weighted by the batches' sample weight. Keras' own tracker
      weighs them by rows, zero-weight padding rows included (see
      ``_training._numpy_chunks``), so ``loss_tracker`` replaces it, as
      Keras' ``Trainer.compute_loss`` documents for custom losses.
    - On JAX, one compiled call runs ``batches_per_call`` steps
      (:meth:`make_train_function`).
    """

    def __init__(self, network, alpha, data_loss, batches_per_call=1, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.data_loss = data_loss  # a value of LOSSES, in the network's dtype
        self.batches_per_call = batches_per_call
        self.penalized = alpha > 0
        # A variable, not a constant of the traced step: one compiled network
        # serves every alpha of a grid search (assign a new value before a fit).
        self.alpha = keras.Variable(float(alpha), trainable=False, dtype=self.dtype_policy.variable_dtype, name="alpha")
        self.loss_tracker = keras.metrics.Mean(name="loss", dtype=self.dtype_policy.variable_dtype)
        self._kernels_of = dense_layers(network)

    def __setattr__(self, name, value):
        # Keras' JAX trainer stores the whole training state (a dict of ~140
        # arrays) in ``_jax_state`` after every step; Layer.__setattr__ walks it
        # looking for variables to track, which there never are: that walk took
        # ~40% of a small network's epoch (benchmarks/speed.py). Skip it.
        # tests/test_trainer.py checks that Keras still assigns this name.
        if name == "_jax_state":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def make_train_function(self, force=False):
        """On JAX: a train function that runs a chunk of batches per call.

        Keras' JAX trainer calls the compiled step once per batch; the Python
        work around each call (the fit loop, callbacks, passing ~140 arrays of
        state in and out) cost ~20% of a (100,) * 20 network's epoch. Here one
        compiled loop (``lax.scan``) runs ``batches_per_call`` steps of Keras'
        own ``train_step``. The data come as a chunk ``(x, y, sample_weight,
        active)`` with a leading axis of ``batches_per_call``; an epoch's last
        chunk may hold empty slots (``active`` False) that leave the state as
        it is, so any epoch length shares one compiled loop.
        """
        if keras.backend.backend() != "jax":
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return
        import jax

        def train_or_skip(state, slot):
            *batch, active = slot
            return jax.lax.cond(active, lambda s: self.train_step(s, tuple(batch))[1], lambda s: s, state), None

        def train_chunk(state, chunk):
            state, _ = jax.lax.scan(train_or_skip, state, chunk)
            # The logs of the chunk's last step: the metrics' results (the loss
            # tracker's mean so far) read from the new state.
            with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, state[3]))):
                logs = self.get_metrics_result()
            return logs, state

        if self.jit_compile and not self.run_eagerly:
            train_chunk = jax.jit(train_chunk, donate_argnums=0)
        in_flight = []

        def train_function(state, iterator):
            logs, state = train_chunk(state, next(iterator))
            # JAX returns before it computes: unchecked, Python would queue
            # the whole epoch's chunks (a copy of X) ahead of the computation.
            # One chunk in flight still overlaps Python's next gather with it.
            if in_flight:
                jax.block_until_ready(in_flight.pop())
            in_flight.append(logs)
            return logs, state

        self.train_function = train_function

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # The loss itself, not through ``compile(loss=...)``: Keras' CompileLoss
        # casts it to floatx (float32), which rounded a float64 fit's loss_.
        loss = self.data_loss(y, y_pred, sample_weight)
        if sample_weight is None:
            total_weight = ops.cast(ops.shape(y_pred)[0], loss.dtype)
        else:
            total_weight = ops.cast(ops.sum(sample_weight), loss.dtype)
        if self.penalized:
            squared_norm = sum(ops.sum(ops.square(layer.kernel)) for layer in self._kernels_of)
            loss = loss + 0.5 * ops.cast(self.alpha, loss.dtype) * ops.cast(squared_norm, loss.dtype) / total_weight
        self.loss_tracker.update_state(loss, sample_weight=total_weight)
        return loss


def get_optimizer_state(trainer):
    """The optimizer's variables (step count, moments) as NumPy arrays."""
    return variable_values(trainer.optimizer.variables)


def set_optimizer_state(trainer, state):
    """Load ``state``; a state saved by another optimizer (changed by ``set_params``) is ignored."""
    variables = trainer.optimizer.variables
    if len(variables) != len(state) or any(tuple(v.shape) != np.shape(s) for v, s in zip(variables, state)):
        return
    for variable, value in zip(variables, state):
        variable.assign(value)


def _compile(network, *, n_features, n_outputs, loss, solver, solver_params, learning_rate, alpha, dtype, steps):
    on_tensorflow = keras.backend.backend() == "tensorflow"
    trainer = TrainingNetwork(
        network, alpha, LOSSES[loss](dtype), batches_per_call=1 if on_tensorflow else steps, dtype=dtype
    )
    trainer.compile(
        optimizer=OPTIMIZERS[solver](learning_rate=learning_rate, **solver_params),
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
            evicted = False
            while sum(len(v) for v in self._idle.values()) > self._max_idle:
                oldest = next(iter(self._idle))
                self._idle[oldest].pop(0)
                evicted = True
                if not self._idle[oldest]:
                    del self._idle[oldest]
        if evicted:
            release_staging_caches()

    def clear(self):
        with self._lock:
            self._idle.clear()


def release_staging_caches():
    """Let JAX free what it traced and compiled for networks that are gone.

    JAX's tracing and lowering caches (``jax._src.util``'s LRU caches, kept
    for the life of the process) keep every traced train step and its compiled
    executable after the network that owned it is gone: a search over 180
    architectures grew by ~650 MB (benchmarks/speed.py, ``search-memory``).
    Clearing them when the pool drops a network keeps memory flat. The
    compiled functions still alive keep their own executables (the C++
    dispatch cache is not touched), so pooled networks do not compile again;
    other JAX code in the process retraces at most once. ``jax.clear_caches``
    would drop those executables too. TensorFlow: nothing to do here.
    """
    if keras.backend.backend() != "jax":
        return
    try:
        from jax._src import util
    except ImportError:
        return
    clear = getattr(util, "clear_all_caches", None)
    if clear is not None:
        clear()


_POOL = _TrainerPool()


@contextlib.contextmanager
def trainer_for(
    spec,
    *,
    n_features,
    n_outputs,
    loss,
    solver,
    solver_params,
    learning_rate,
    alpha,
    dtype,
    seed,
    n_samples,
    batch_size,
):
    """A compiled :class:`TrainingNetwork` for ``n_samples`` rows, freshly initialized from ``seed``.

    ``spec`` holds the keyword arguments of :func:`build_snn` that describe
    the hidden layers; the output layer gives logits (see ``LOSSES``).
    ``solver`` names a Keras optimizer of ``OPTIMIZERS`` and ``solver_params``
    its constructor's arguments (momentum, betas, epsilon): those are Python
    numbers of the compiled step, so they are part of the pool's key. The
    network is taken from the pool when one of the same shape is idle, and
    returns to it when the block ends.
    """
    # Keras' optimizers refuse an int learning rate; scikit-learn accepts any Real.
    learning_rate, alpha = float(learning_rate), float(alpha)
    steps = batches_per_call(
        batches_in_epoch(n_samples, batch_size), batch_size * n_features * np.dtype(dtype).itemsize
    )
    spec = {**spec, "hidden_layer_sizes": tuple(spec["hidden_layer_sizes"])}
    key = (
        keras.backend.backend(),
        n_features,
        n_outputs,
        tuple(sorted(spec.items())),
        loss,
        solver,
        tuple(sorted(solver_params.items())),
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
            solver=solver,
            solver_params=solver_params,
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
