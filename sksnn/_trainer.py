"""The network as it trains, on either backend, and the pool of compiled training networks.

What a train step is made of, whatever the backend: ``TrainingNetwork``
(MLP's losses from ``_losses`` with MLP's L2 penalty, the loss reported per
epoch, the optimizer), the shapes networks are compiled for (padded to a few
sizes, so that one compiled network serves many data sets), and the pool
that keeps compiled networks for the next fit of the same shape
(``trainer_for``). The compiled loop over a chunk of batches, which may span
epochs and applies MLP's stopping rule itself, is each backend's own:
``_jax_trainer`` (XLA, kept on disk by ``_compilation_cache``) or
``_tensorflow_trainer`` (its graph executor, XLA for large fits); how a step
splits a batch over the devices of the user's data-parallel distribution is
``_distribution``. The graph itself is ``_network``; feeding batches and
running epochs is ``_training``.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import contextlib  # noqa: E402
import threading  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from ._blocks import STREAM_BLOCK_BYTES, rows_per_block  # noqa: E402
from ._distribution import StrategyReplicas, data_parallel  # noqa: E402
from ._losses import LOSSES, MemberMeanLoss  # noqa: E402
from ._network import (  # noqa: E402
    PackedDense,
    assign_values,
    build_snn,
    dense_layers,
    get_dense_weights,
    get_member_scales,
    initial_values,
    set_dense_weights,
    set_member_scales,
    variable_values,
)
from ._optimizers import SGD, Adam, AdamW, Nadam, RMSprop  # noqa: E402

# Keras' own, without the all-reduce of one replica, some cheaper to trace (see _optimizers)
OPTIMIZERS = {"nadam": Nadam, "adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}


def _backend_loop():
    """The training loop of the backend Keras runs on: ``_jax_trainer`` or ``_tensorflow_trainer``.

    Both offer ``chunk_trainer(network, costly)``, ``release_caches(dropped,
    pool_size)`` and ``TRAINING_ACTIVATIONS``.
    """
    if keras.backend.backend() == "jax":
        from . import _jax_trainer as loop
    else:
        from . import _tensorflow_trainer as loop
    return loop


BACKEND_LOOP = _backend_loop()


# Logits of the classes a padded network does not have: their softmax is 0,
# and so are their loss and gradient (0 * (-1e9) is 0, where -inf gives NaN).
_ABSENT_CLASS_LOGIT = -1e9


# What compiling a new network costs (0.5-0.9 s on 2 cores), in multiply-adds
# of float64 training on a CPU: padding 3,000 rows from 32 to 128 inputs of a
# (100, 100) network for 50 epochs (4 GMAC) cost 0.16 s, ~25 GMAC/s. The most
# work worth adding to a fit to train it in a network that is already
# compiled: ~0.4 s of it.
_COMPILE_WORTH = 1e10

# How many times faster than a weight a learned input scale moves
# (``TrainingNetwork``'s ``input_scale``): RealMLP's scaling layer learns at
# 6x the learning rate, which under Adam-type updates is a factor 6 * v.
INPUT_SCALE_SPEED = 6.0


def _next_power_of_two(n, smallest):
    return max(smallest, 1 << (int(n) - 1).bit_length())


def padded_components(n_components):
    """The width a numerical embedding's components are compiled with: as the features' (:func:`padded_widths`)."""
    if not n_components:
        return 0
    return n_components if n_components > 512 else _next_power_of_two(n_components, 16)


def padded_widths(n_features, n_outputs, loss):
    """The input and output widths a network for this data is compiled with.

    Compiling a new shape costs 0.5-1 s, more than a whole fit of a small
    data set: one fit per data set of a collection compiled once per data
    set. Inputs are padded with zero columns to a power of two (at least 16,
    up to 512 features: beyond that compilation is a small part of a fit),
    softmax outputs with absent classes to a power of two (at least 16: the
    output layer is a small part of a step, and 3 to 16 classes then share
    one network): their kernels' rows and columns start at zero, receive no
    gradient and stay zero, so the padded network computes exactly the
    unpadded one. Other outputs (binary, multilabel, regression) keep their
    width.
    """
    width = n_features if n_features > 512 else _next_power_of_two(n_features, 16)
    outputs = _next_power_of_two(n_outputs, 16) if loss == "categorical" and n_outputs <= 128 else n_outputs
    return width, outputs


# MLP's batch_size='auto' for data of more rows: the batch most networks run.
_AUTO_BATCH = 200


def padded_batch_size(batch_size, n_samples):
    """Rows of a batch as compiled: one batch an epoch is padded (zero weight) to MLP's automatic 200.

    A data set of at most ``batch_size`` rows (``batch_size`` is clipped to
    the rows, as MLP clips it) is one batch an epoch of ``n_samples`` rows, a
    new shape for every size: under 200 rows it is padded to 200, the batch
    that larger data sets run, so every small data set of a width trains in
    the network they compiled (with a ``batch_size`` above 200, one batch of
    more than 200 rows keeps its size). Rows of zero weight add nothing to the loss or
    its gradient. On uci121 (116 sets, one fit each, JAX) padding to a power
    of two instead compiled 5 more shapes (~1 s each) and saved 0.3 s of
    steps in all. Larger data keep ``batch_size`` (their last batch is
    padded to it).
    """
    if n_samples > batch_size:
        return batch_size
    return max(n_samples, _AUTO_BATCH)


def slots_per_chunk(batch_bytes):
    """Batches a compiled call holds: a power of two up to 32, the chunk's data under 8 MB.

    The same for every data set of a width, so one compiled loop serves them
    all; a chunk holds the batches of as many epochs as fit (see
    :meth:`TrainingNetwork.chunk_trainer`). Each call costs Python work around
    the compiled loop, about as much as a step of a small network.
    """
    most = min(32, rows_per_block(STREAM_BLOCK_BYTES, batch_bytes))
    return 1 << (most.bit_length() - 1)


def _embed(value, shape):
    """``value`` in the top-left corner of zeros of ``shape`` (a padded variable's value)."""
    value = np.asarray(value)
    if value.shape == tuple(shape):
        return value
    padded = np.zeros(shape, dtype=value.dtype)
    padded[tuple(slice(0, n) for n in value.shape)] = value
    return padded


class TrainingNetwork(keras.Model):
    """The network as it trains: MLP's penalized loss, MLP's reported loss, padded shapes, chunks of steps.

    - The L2 penalty is MLP's, ``alpha / 2 * ||W||^2 / sum(w)``: scikit-learn
      divides it by the batch's summed sample weight, so a sample weight of 2
      is the same as a repeated row. A fixed Keras ``kernel_regularizer``
      cannot do that, hence ``compute_loss``.
    - The epoch loss is MLP's ``loss_``: the mean of the batch losses weighted
      by the batches' sample weight. Keras' own tracker weighs them by rows,
      zero-weight padding rows included (see ``_training._numpy_chunks``), so
      ``loss_tracker`` replaces it, as Keras' ``Trainer.compute_loss``
      documents for custom losses.
    - The network may be wider than the data (:func:`padded_widths`): the
      fit in progress says how many features and outputs are real
      (:meth:`use_for`), absent classes get a logit of -1e9, and the weights
      go in and out in the data's shapes (:meth:`dense_weights`).
    - One compiled call trains a chunk of batches that may span epochs and
      stops where MLP's rule stops (:meth:`chunk_trainer`).
    - A packed ensemble (``PackedDense`` layers) gives each member's logits;
      its loss is the mean of the members' (``MemberMeanLoss``).
    - A numerical embedding is computed in the step (:meth:`call`): the
      batches hold X's standardized columns only, and the network's input
      is those columns (padded) followed by the components (padded,
      ``component_width``). Encoding on the host made every batch
      ``n_bins`` times wider to gather, standardize and copy: about a
      quarter of a large fit.
    - A learned input scale (``input_scale``, the estimators'
      ``learned_input_scale``) multiplies each input by
      ``INPUT_SCALE_SPEED * input_scale_factor`` before the network: a
      variable of the training network only, folded into the first kernel
      whenever the weights go out (:meth:`dense_weights`) and reset to 1
      whenever they come in.
    """

    def __init__(self, network, alpha, loss, components=0, input_scale=False, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self._kernels_of = dense_layers(network)
        first = self._kernels_of[0]
        self.n_members = first.n_members if isinstance(first, PackedDense) else 1
        self.data_loss = LOSSES[loss](self.dtype_policy.compute_dtype)  # in the network's dtype
        if self.n_members > 1:
            self.data_loss = MemberMeanLoss(
                self.data_loss, reduction="mean_with_sample_weight", dtype=self.dtype_policy.compute_dtype
            )
        self.softmax_outputs = loss == "categorical"
        self.penalized = alpha > 0
        variable_dtype = self.dtype_policy.variable_dtype
        # Variables, not constants of the traced step: one compiled network
        # serves every alpha of a grid search and every class count of its
        # padded width (assigned before each fit).
        self.alpha = keras.Variable(float(alpha), trainable=False, dtype=variable_dtype, name="alpha")
        self.component_width = int(components)
        self.input_width = int(network.inputs[0].shape[-1]) - self.component_width  # the batches' width
        self.output_width = int(network.outputs[0].shape[-1])
        if self.component_width:
            # Each component's column of X, and its encoding from X's standardized
            # column: clip(x * scale + shift, 0, 1) * out_scale + out_shift (use_components).
            self.component_column = keras.Variable(
                np.zeros(self.component_width, dtype="int32"), trainable=False, dtype="int32", name="component_column"
            )
            self.component_affine = keras.Variable(
                np.zeros((4, self.component_width)), trainable=False, dtype=variable_dtype, name="component_affine"
            )
        # Each input's learned factor is INPUT_SCALE_SPEED * this variable,
        # from 1: under Adam-type optimizers the factor moves that many times
        # faster than a weight (RealMLP's scaling layer learns at 6x the rate).
        self.input_scale_factor = None
        if input_scale:
            self.input_scale_factor = keras.Variable(
                np.full(self.input_width + self.component_width, 1.0 / INPUT_SCALE_SPEED),
                dtype=variable_dtype,
                name="input_scale_factor",
            )
        self.class_logit_offset = keras.Variable(
            np.zeros(self.output_width), trainable=False, dtype=variable_dtype, name="class_logit_offset"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss", dtype=variable_dtype)
        self.chunk_functions = {}  # compiled with XLA or not -> the chunk function (the backend's loop fills it)
        self.pool_key = None  # what decides the compiled step, besides the shapes (see trainer_for)
        self.data_parallel = data_parallel()  # the devices a batch is split over, or None
        self.n_features, self.n_outputs = self.input_width, self.output_width
        self.n_components = self.component_width

    @property
    def metrics(self):
        return [self.loss_tracker]

    def use_for(self, n_features, n_outputs, n_components=0):
        """Set the data's real widths for the next fit (the rest of the input and output is padding)."""
        self.n_features, self.n_outputs, self.n_components = n_features, n_outputs, n_components
        offset = np.where(np.arange(self.output_width) < n_outputs, 0.0, _ABSENT_CLASS_LOGIT)
        self.class_logit_offset.assign(offset.astype(self.class_logit_offset.dtype))

    def training_work(self, rows):
        """Multiply-adds of training on ``rows`` rows (forward and backward: 3 per weight, row and member)."""
        return 3 * rows * self.n_members * sum(int(np.prod(layer.kernel.shape)) for layer in self._kernels_of)

    def traced_variables(self):
        """Every variable a traced train step may capture, in an order that depends only on the architecture.

        The network's, the optimizer's, and the loss trackers' (sksnn's and
        the one Keras' ``train_step`` updates), each once.
        """
        trackers = [t for t in (self.loss_tracker, getattr(self, "_loss_tracker", None)) if t is not None]
        ordered, seen = [], set()
        for variable in [*self.variables, *self.optimizer.variables, *(v for t in trackers for v in t.variables)]:
            if id(variable) not in seen:
                seen.add(id(variable))
                ordered.append(variable)
        return ordered

    def use_components(self, column, affine):
        """The numerical embedding of the next fit: each component's column and its ``(4, n_components)`` affine.

        Padding components (column 0, affine 0) are zeros, as padding features are.
        """
        padded_column = np.zeros(self.component_width, dtype="int32")
        padded_column[: len(column)] = column
        self.component_column.assign(padded_column)
        self.component_affine.assign(_embed(np.asarray(affine), (4, self.component_width)))

    def _input_axis(self, value, axis, padded):
        """``value`` (the data's inputs along ``axis``: features, then components) in the network's input layout."""
        value = np.asarray(value)
        features, components = np.split(value, [self.n_features], axis=axis)
        if not self.component_width:
            return _embed(value, padded)
        shape = list(padded)
        shape[axis] = self.input_width
        first = _embed(features, shape)
        shape[axis] = self.component_width
        return np.concatenate([first, _embed(components, shape)], axis=axis)

    def _data_axis(self, value, axis):
        """The inverse of :meth:`_input_axis`: the real features' and components' entries along ``axis``."""
        value = np.asarray(value)
        index = np.r_[0 : self.n_features, self.input_width : self.input_width + self.n_components]
        return np.take(value, index, axis=axis)

    def _place(self, variable, value):
        """``value``, in the data's shape, padded to ``variable``'s (the first layer's inputs laid out for it)."""
        first = self._kernels_of[0]
        if variable is first.kernel:
            return self._input_axis(value, 0, variable.shape)
        if variable is getattr(first, "input_scale", None):
            return self._input_axis(value, 1, variable.shape)
        return _embed(value, variable.shape)

    def load_values(self, values):
        """Load the network's variables from values in the data's shapes (``_network.initial_values``)."""
        variables = self.network.variables
        assign_values(variables, [self._place(w, v) for w, v in zip(variables, values, strict=True)])
        self._reset_input_scale()

    def _reset_input_scale(self):
        """Every input's learned factor back to 1 (the weights loaded hold what it had learned)."""
        if self.input_scale_factor is not None:
            start = np.full(self.input_scale_factor.shape, 1.0 / INPUT_SCALE_SPEED)
            self.input_scale_factor.assign(start.astype(self.input_scale_factor.dtype))

    def dense_weights(self):
        """``(coefs, intercepts, members)`` in the data's shapes, as NumPy arrays.

        ``members`` is None, or a packed ensemble's ``(input_scales,
        output_scales)`` of each layer (``_network.get_member_scales``).
        """
        coefs, intercepts = get_dense_weights(self.network)
        if self.input_scale_factor is not None:  # x * c through W is x through diag(c) W
            factor = INPUT_SCALE_SPEED * variable_values([self.input_scale_factor])[0]
            coefs[0] = coefs[0] * factor.astype(coefs[0].dtype)[:, None]
        coefs[0] = self._data_axis(coefs[0], 0)
        coefs[-1], intercepts[-1] = coefs[-1][:, : self.n_outputs], intercepts[-1][..., : self.n_outputs]
        members = get_member_scales(self.network)
        if members is not None:
            members[0][0] = self._data_axis(members[0][0], 1)
            members[1][-1] = members[1][-1][:, : self.n_outputs]
        return coefs, intercepts, members

    def load_dense_weights(self, coefs, intercepts, members=None):
        """Load kernels, biases (and a packed ensemble's scales) given in the data's shapes."""
        layers = self._kernels_of
        padded_coefs = [self._place(layer.kernel, w) for w, layer in zip(coefs, layers, strict=True)]
        padded_intercepts = [_embed(b, layer.bias.shape) for b, layer in zip(intercepts, layers, strict=True)]
        set_dense_weights(self.network, padded_coefs, padded_intercepts)
        self._reset_input_scale()
        if members is not None:
            set_member_scales(
                self.network,
                (
                    [self._place(layer.input_scale, r) for r, layer in zip(members[0], layers, strict=True)],
                    [_embed(s, layer.output_scale.shape) for s, layer in zip(members[1], layers, strict=True)],
                ),
            )

    def chunk_trainer(self, work_rows):
        """What trains a chunk of batches, the epochs' ends and MLP's stopping rule included.

        Keras' fit loop calls the compiled step once per batch (or
        ``steps_per_execution`` batches) and runs callbacks and Python
        bookkeeping per epoch: on a small data set, whose epoch is a step or
        two, that work cost more than the training (TensorFlow: ~9 ms an
        epoch). Here one compiled call runs Keras' own ``train_step`` over a
        chunk ``(x, y, sample_weight, active, epoch_end)`` of batches with a
        leading axis of slots; the batches may belong to several epochs. At
        each epoch's end it records the epoch's loss, resets the loss tracker
        and applies MLP's rule on the training loss
        (``_stopping.TrainingProgress``, in the training dtype, as the
        estimator replays it): once it says stop, or the loss is not finite,
        the remaining slots leave the network as it is, as do empty slots
        (``active`` False).

        Returns the backend loop's chunk trainer (``_jax_trainer`` or
        ``_tensorflow_trainer``): called with ``(chunk, rule, limits)``,
        where ``rule = (best_loss, no_improvement_count, stopped)`` carries
        from call to call and ``limits = (tol, n_iter_no_change,
        apply_rule)`` (``apply_rule`` False leaves stopping to the estimator,
        epoch by epoch), it returns ``(rule, losses, ends)``: per slot, the
        loss of the epoch ending there and whether one did; its ``sync()``
        makes the network's variables hold what training reached, and its
        ``asynchronous`` says whether the call returns before the backend
        has computed it (JAX) or after (TensorFlow).

        ``work_rows``, the rows the fit trains on at most (padding and all
        epochs included), says whether the fit's work exceeds a compilation's
        cost: TensorFlow then compiles the loop with XLA (it never frees what
        XLA compiled); JAX always compiles (and frees, see
        :func:`release_dropped_networks`).
        """
        return BACKEND_LOOP.chunk_trainer(self, costly=self.training_work(work_rows) >= _COMPILE_WORTH)

    def call(self, inputs, training=False):
        if self.component_width:  # the numerical embedding of the standardized columns, standardized
            scale, shift, out_scale, out_shift = ops.unstack(ops.cast(self.component_affine, inputs.dtype), 4)
            components = ops.take(inputs, self.component_column, axis=1) * scale + shift
            components = ops.clip(components, 0.0, 1.0) * out_scale + out_shift
            inputs = ops.concatenate([inputs, components], axis=1)
        if self.input_scale_factor is not None:
            inputs = inputs * (INPUT_SCALE_SPEED * ops.cast(self.input_scale_factor, inputs.dtype))
        return self.network(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # The loss itself, not through ``compile(loss=...)``: Keras' CompileLoss
        # casts it to floatx (float32), which rounded a float64 fit's loss_.
        if self.softmax_outputs:  # absent classes (padding) get no probability
            y_pred = y_pred + ops.cast(self.class_logit_offset, y_pred.dtype)
        if isinstance(self.data_parallel, StrategyReplicas):
            return self.data_parallel.replica_loss(self, y, y_pred, sample_weight)
        loss = self.data_loss(y, y_pred, sample_weight)
        if sample_weight is None:
            total_weight = ops.cast(ops.shape(y_pred)[0], loss.dtype)
        else:
            total_weight = ops.cast(ops.sum(sample_weight), loss.dtype)
        if self.penalized:
            loss = loss + self.penalty(loss.dtype) / total_weight
        self.loss_tracker.update_state(loss, sample_weight=total_weight)
        return loss

    def penalty(self, dtype):
        """MLP's L2 penalty before its division by the batch's summed sample weight."""
        squared_norm = sum(ops.sum(ops.square(layer.kernel)) for layer in self._kernels_of)
        return 0.5 * ops.cast(self.alpha, dtype) * ops.cast(squared_norm, dtype)


def get_optimizer_state(trainer):
    """The optimizer's variables (step count, moments) as NumPy arrays."""
    return variable_values(trainer.optimizer.variables)


def set_optimizer_state(trainer, state):
    """Load ``state``; a state saved by another optimizer (changed by ``set_params``) is ignored."""
    variables = trainer.optimizer.variables
    if len(variables) != len(state) or any(tuple(v.shape) != np.shape(s) for v, s in zip(variables, state)):
        return
    assign_values(variables, state)


def reset_optimizer(trainer, learning_rate):
    """A fresh optimizer: its state as compiled (step count and moments at zero), at ``learning_rate``."""
    set_optimizer_state(trainer, trainer.initial_optimizer_state)
    trainer.optimizer.learning_rate = learning_rate


def _compile(network, *, loss, solver, solver_params, learning_rate, alpha, dtype, components=0, input_scale=False):
    trainer = TrainingNetwork(network, alpha, loss, components=components, input_scale=input_scale, dtype=dtype)
    trainer.compile(optimizer=OPTIMIZERS[solver](learning_rate=learning_rate, **solver_params), jit_compile="auto")
    # sksnn's own loop trains (chunk_trainer), but Keras' train_step needs what
    # its fit builds first (the compiled loss and metrics): a fit of no epoch
    # on a dummy batch builds them.
    rows = 1 if trainer.data_parallel is None else trainer.data_parallel.replicas  # a batch Keras can split
    dummy = np.zeros((rows, trainer.input_width), dtype=dtype), np.zeros((rows, trainer.output_width), dtype=dtype)
    distribution = keras.distribution.distribution()
    sharding = getattr(distribution, "_auto_shard_dataset", None)
    if sharding:  # several processes: Keras would ask for a tf.data.Dataset to shard, even for no epoch
        distribution._auto_shard_dataset = False
    try:
        trainer.fit(*dummy, epochs=0, shuffle=False, verbose=0)
    finally:
        if sharding:
            distribution._auto_shard_dataset = sharding
    trainer.optimizer.build(trainer.trainable_variables)
    trainer.initial_optimizer_state = get_optimizer_state(trainer)
    return trainer


class _TrainerPool:
    """Compiled training networks, kept for the next fit of the same architecture.

    Compiling Keras' train step costs 0.3-1 s per network, more than a whole
    small fit. A cross-validation or grid search fits the same architecture
    many times: taking a trained-before network, loading freshly initialized
    weights and a fresh optimizer state into it, reuses its compiled step.
    ``alpha`` and the learning rate are variables of the network, so a grid
    over them reuses it too; so does a data set narrower than the network
    (see :func:`trainer_for`). A network serves one fit at a time.
    """

    def __init__(self, max_idle=8):
        self._idle = []  # (key, trainer), oldest first
        self._max_idle = max_idle
        self._dropped = 0  # networks let go since the backend last released their caches
        self._lock = threading.Lock()

    def take(self, key, cost):
        """The idle network of ``key`` of least ``cost(trainer)`` (None: it cannot serve), or None."""
        with self._lock:
            fits = [(c, i) for i, (k, t) in enumerate(self._idle) if k == key and (c := cost(t)) is not None]
            if not fits:
                return None
            return self._idle.pop(min(fits)[1])[1]

    def give_back(self, key, trainer):
        with self._lock:
            self._idle.append((key, trainer))
            self._dropped += max(0, len(self._idle) - self._max_idle)
            del self._idle[: -self._max_idle]
            dropped = self._dropped
        if dropped and release_dropped_networks(dropped, self._max_idle):
            with self._lock:
                self._dropped -= dropped

    def clear(self):
        with self._lock:
            self._idle.clear()


def release_dropped_networks(dropped, pool_size):
    """Let the backend free what it keeps of networks the pool let go; True if it did.

    Both backends keep, in process-wide caches, what they traced and compiled
    for a network after the network is gone, which grew a long search over
    new architectures without bound (benchmarks/speed.py, ``search``). Each
    backend's loop says what it frees, and when (``release_caches``).
    """
    return BACKEND_LOOP.release_caches(dropped, pool_size)


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
    work_rows,
    components=None,
    input_scale=False,
):
    """A compiled :class:`TrainingNetwork` for data of these widths, freshly initialized from ``seed``.

    ``spec`` holds the keyword arguments of :func:`build_snn` that describe
    the hidden layers; the output layer gives logits (see ``LOSSES``).
    ``solver`` names a Keras optimizer of ``OPTIMIZERS`` and ``solver_params``
    its constructor's arguments (momentum, betas, epsilon): those are Python
    numbers of the compiled step, so they are part of the pool's key. The
    network is taken from the pool when one of the same architecture is idle,
    and returns to it when the block ends. An idle network up to 4 times
    wider than the data's padded widths serves too, when the work its padding
    adds (``work_rows``: the rows the fit may train on, all epochs together)
    stays below what a compilation costs: one fit per data set of a collection
    then compiles a few networks instead of one per data set, while a large
    fit compiles its own.

    ``components``, a numerical embedding the step computes, is ``(column,
    affine)`` of :meth:`TrainingNetwork.use_components` (None: none); the
    network's input is then ``n_features`` columns and ``len(column)``
    components, and the batches hold the ``n_features`` columns.
    ``input_scale``: the network learns a factor of each input (see
    :class:`TrainingNetwork`).
    """
    # Keras' optimizers refuse an int learning rate; scikit-learn accepts any Real.
    learning_rate, alpha = float(learning_rate), float(alpha)
    input_width, output_width = padded_widths(n_features, n_outputs, loss)
    n_components = 0 if components is None else len(components[0])
    component_width = padded_components(n_components)
    spec = {**spec, "hidden_layer_sizes": tuple(spec["hidden_layer_sizes"])}
    key = (
        keras.backend.backend(),
        tuple(sorted(spec.items())),
        loss,
        solver,
        tuple(sorted(solver_params.items())),
        alpha > 0,  # alpha's and the learning rate's values are variables: not part of the compiled step
        dtype,
        None if (parallel := data_parallel()) is None else parallel.key,
        n_components > 0,  # a step that encodes
        bool(input_scale),  # a step that scales its inputs
    )
    sizes = spec["hidden_layer_sizes"]

    def padding_cost(trainer):
        """The multiply-adds ``trainer``'s extra width would add to this fit; None if it cannot serve."""
        extra_inputs, extra_outputs = trainer.input_width - input_width, trainer.output_width - output_width
        extra_components = trainer.component_width - component_width
        if not 0 <= extra_inputs <= 3 * input_width or not 0 <= extra_outputs <= 3 * output_width:
            return None
        if not 0 <= extra_components <= 3 * component_width:
            return None
        extra_inputs += extra_components
        if extra_outputs and loss != "categorical":  # only softmax outputs can hold absent classes
            return None
        cost = 3 * (extra_inputs * sizes[0] + extra_outputs * sizes[-1]) * work_rows  # forward and backward
        return cost if cost <= _COMPILE_WORTH else None

    trainer = _POOL.take(key, padding_cost)
    if trainer is None:
        graph = dict(spec)
        graph["activation"] = BACKEND_LOOP.TRAINING_ACTIVATIONS.get(spec["activation"], spec["activation"])
        network = build_snn(
            input_width + component_width, output_width, output_activation="identity", dtype=dtype, seed=seed,
            average_members=False, **graph,
        )  # fmt: skip
        trainer = _compile(
            network,
            loss=loss,
            solver=solver,
            solver_params=solver_params,
            learning_rate=learning_rate,
            alpha=alpha,
            dtype=dtype,
            components=component_width,
            input_scale=input_scale,
        )
        trainer.pool_key = key
    else:
        reset_optimizer(trainer, learning_rate)
        trainer.alpha.assign(alpha)
    # The data's own shapes draw the initial values (LeCun's variance is
    # 1 / fan_in of the real inputs); the padding starts, and stays, at zero.
    initialization = {
        k: spec[k] for k in ("hidden_layer_sizes", "kernel_initializer", "output_initializer", "dropout", "n_members")
    }
    trainer.use_for(n_features, n_outputs, n_components)
    if components is not None:
        trainer.use_components(*components)
    n_inputs = n_features + n_components
    trainer.load_values(initial_values(n_inputs, n_outputs, dtype=dtype, seed=seed, **initialization))
    try:
        yield trainer
    finally:
        _POOL.give_back(key, trainer)
