"""How one training step computes, and the compiled training networks that run it.

Everything a train step is made of lives here: the losses (MLP's), the L2
penalty with MLP's scaling, the loss that is reported per epoch, the
optimizers (and, on JAX, a faster SELU), the compiled loop over a chunk of
batches, which may span epochs and applies MLP's stopping rule itself (XLA
on JAX; on TensorFlow XLA for large fits, else its graph executor), the
shapes networks are compiled for (padded to a few sizes, so that one
compiled network serves many data sets), and the pool that keeps compiled
networks for the next fit of the same shape (on JAX the compiled chunk loop
also outlives the process: ``_compilation_cache``), and how a step splits
a batch over the devices of the user's data-parallel distribution
(``keras.distribution.DataParallel`` on JAX, ``tf.distribute.MirroredStrategy``
on TensorFlow). The graph itself
is ``_network``; feeding batches and running epochs is ``_training``.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import contextlib  # noqa: E402
import threading  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from ._activations import SELU_ALPHA, SELU_SCALE  # noqa: E402
from ._blocks import STREAM_BLOCK_BYTES, rows_per_block  # noqa: E402
from ._compilation_cache import ExportedFunction  # noqa: E402
from ._network import (  # noqa: E402
    assign_values,
    build_snn,
    dense_layers,
    get_dense_weights,
    initial_values,
    set_dense_weights,
    variable_values,
)
from ._optimizers import SGD, Adam, AdamW, Nadam, RMSprop  # noqa: E402

# Keras' own, without the all-reduce of one replica, some cheaper to trace (see _optimizers)
OPTIMIZERS = {"nadam": Nadam, "adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}


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


def weighted_loss_sum(data_loss, y_true, y_pred, sample_weight):
    """The sum over rows of ``data_loss``'s values (a loss of ``LOSSES``) times ``sample_weight``.

    Over a summed weight it is the loss with ``mean_with_sample_weight``,
    written out: Keras' own reduction also divides the value by the replicas
    of a TensorFlow strategy whose scope it runs in, which is not the batch's
    mean when the replicas' weights differ, and wrong for a computation that
    runs whole on one device (L-BFGS).
    """
    rows = data_loss.call(y_true, y_pred)
    return ops.sum(rows * ops.cast(sample_weight, rows.dtype))


def selu_by_exp(x):
    """SELU written with ``exp(x) - 1`` where Keras' (JAX's) uses ``expm1``.

    On a CPU, XLA's float64 ``expm1`` took 81 us for 200 x 100 values against
    29 us for ``exp``: with two SELU layers, ~0.1 ms of a (100, 100) train
    step at batch 200, ~10% of it. The two differ by at most one rounding of
    the result near zero (absolute 1e-16 in float64, 6e-8 in float32), where
    ``expm1`` keeps more relative digits than a trained network can use.
    """
    return SELU_SCALE * ops.where(x > 0, x, SELU_ALPHA * (ops.exp(ops.minimum(x, 0)) - 1))


# The hidden activations the training network computes otherwise than Keras,
# on JAX (TensorFlow's Selu is one fused kernel). The network a user gets
# (``model_``) and the NumPy prediction keep the standard definitions.
JAX_TRAINING_ACTIVATIONS = {"selu": selu_by_exp}


# Logits of the classes a padded network does not have: their softmax is 0,
# and so are their loss and gradient (0 * (-1e9) is 0, where -inf gives NaN).
_ABSENT_CLASS_LOGIT = -1e9


# What compiling a new network costs (0.5-0.9 s on 2 cores), in multiply-adds
# of float64 training on a CPU: padding 3,000 rows from 32 to 128 inputs of a
# (100, 100) network for 50 epochs (4 GMAC) cost 0.16 s, ~25 GMAC/s. The most
# work worth adding to a fit to train it in a network that is already
# compiled: ~0.4 s of it.
_COMPILE_WORTH = 1e10


def _next_power_of_two(n, smallest):
    return max(smallest, 1 << (int(n) - 1).bit_length())


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
    """

    def __init__(self, network, alpha, loss, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.data_loss = LOSSES[loss](self.dtype_policy.compute_dtype)  # in the network's dtype
        self.softmax_outputs = loss == "categorical"
        self.penalized = alpha > 0
        variable_dtype = self.dtype_policy.variable_dtype
        # Variables, not constants of the traced step: one compiled network
        # serves every alpha of a grid search and every class count of its
        # padded width (assigned before each fit).
        self.alpha = keras.Variable(float(alpha), trainable=False, dtype=variable_dtype, name="alpha")
        self.input_width = int(network.inputs[0].shape[-1])
        self.output_width = int(network.outputs[0].shape[-1])
        self.class_logit_offset = keras.Variable(
            np.zeros(self.output_width), trainable=False, dtype=variable_dtype, name="class_logit_offset"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss", dtype=variable_dtype)
        self._kernels_of = dense_layers(network)
        self._chunk_functions = {}  # compiled with XLA or not (TensorFlow) -> the chunk function
        self.pool_key = None  # what decides the compiled step, besides the shapes (see trainer_for)
        self.data_parallel = data_parallel()  # the devices a batch is split over, or None
        self.n_features, self.n_outputs = self.input_width, self.output_width

    @property
    def metrics(self):
        return [self.loss_tracker]

    def use_for(self, n_features, n_outputs):
        """Set the data's real widths for the next fit (the rest of the input and output is padding)."""
        self.n_features, self.n_outputs = n_features, n_outputs
        offset = np.where(np.arange(self.output_width) < n_outputs, 0.0, _ABSENT_CLASS_LOGIT)
        self.class_logit_offset.assign(offset.astype(self.class_logit_offset.dtype))

    def training_work(self, rows):
        """Multiply-adds of training on ``rows`` rows (forward and backward: 3 per weight and row)."""
        return 3 * rows * sum(int(np.prod(layer.kernel.shape)) for layer in self._kernels_of)

    def load_values(self, values):
        """Load the network's variables from values in the data's shapes (``_network.initial_values``)."""
        assign_values(
            self.network.variables, [_embed(v, w.shape) for w, v in zip(self.network.variables, values, strict=True)]
        )

    def dense_weights(self):
        """``(coefs, intercepts)`` in the data's shapes, as NumPy arrays."""
        coefs, intercepts = get_dense_weights(self.network)
        coefs[0] = coefs[0][: self.n_features]
        coefs[-1], intercepts[-1] = coefs[-1][:, : self.n_outputs], intercepts[-1][: self.n_outputs]
        return coefs, intercepts

    def load_dense_weights(self, coefs, intercepts):
        """Load kernels and biases given in the data's shapes."""
        layers = dense_layers(self.network)
        padded_coefs = [_embed(w, layer.kernel.shape) for w, layer in zip(coefs, layers, strict=True)]
        padded_intercepts = [_embed(b, layer.bias.shape) for b, layer in zip(intercepts, layers, strict=True)]
        set_dense_weights(self.network, padded_coefs, padded_intercepts)

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

        Returns a :class:`_ChunkTrainer`: called with ``(chunk, rule,
        limits)``, where ``rule = (best_loss, no_improvement_count, stopped)``
        carries from call to call and ``limits = (tol, n_iter_no_change,
        apply_rule)`` (``apply_rule`` False leaves stopping to the estimator,
        epoch by epoch), it returns ``(rule, losses, ends)``: per slot, the
        loss of the epoch ending there and whether one did.

        ``work_rows``, the rows the fit trains on at most (padding and all
        epochs included), decides on TensorFlow whether the loop is compiled
        with XLA: XLA's steps are faster, but TensorFlow never frees what XLA
        compiled (``device_compilation_cache.h``: no eviction), ~20 MB a
        network, so only fits whose training work exceeds a compilation's
        cost use it, and a long search over small fits stays in the graph
        executor. JAX always compiles (and frees, see
        :func:`release_dropped_networks`).
        """
        on_jax = keras.backend.backend() == "jax"
        # (XLA compiles for one device: a TensorFlow strategy's replicas run in the graph executor)
        xla = on_jax or (self.data_parallel is None and self.training_work(work_rows) >= _COMPILE_WORTH)
        if xla not in self._chunk_functions:
            self._chunk_functions[xla] = self._jax_chunk_function() if on_jax else self._tf_chunk_function(xla)
        if on_jax:
            return _StatelessChunkTrainer(self, self._chunk_functions[xla], self.data_parallel)
        return _ChunkTrainer(self._chunk_functions[xla])

    def _jax_chunk_function(self):
        import jax
        import jax.numpy as jnp

        def epoch_loss(metrics_variables):
            with keras.StatelessScope(state_mapping=list(zip(self.metrics_variables, metrics_variables))):
                return self.loss_tracker.result()

        def slot(carry, batch):
            (state, (best, count, stopped)), (tol, patience, apply_rule) = carry
            x, y, sample_weight, active, epoch_end = batch
            run = active & ~stopped
            state = jax.lax.cond(run, lambda s: self.train_step(s, (x, y, sample_weight))[1], lambda s: s, state)
            *variables, metrics_variables = state
            loss = epoch_loss(metrics_variables)
            ends = run & epoch_end
            # MLP's _update_no_improvement_count, as TrainingProgress.update
            count_after = jnp.where(loss > best - tol, count + 1, 0).astype(count.dtype)
            stop = ~jnp.isfinite(loss) | (apply_rule & (count_after > patience))
            rule = (
                jnp.where(ends, jnp.minimum(best, loss), best),
                jnp.where(ends, count_after, count),
                stopped | (ends & stop),
            )
            # Keras' fit resets the metrics as an epoch begins (a Mean: zeros)
            metrics_variables = [jnp.where(ends, jnp.zeros_like(v), v) for v in metrics_variables]
            return (((*variables, metrics_variables), rule), (tol, patience, apply_rule)), (loss, ends)

        def train_chunk(state, rule, limits, chunk):
            ((state, rule), _), (losses, ends) = jax.lax.scan(slot, ((state, rule), limits), chunk)
            return state, rule, losses, ends

        if self.run_eagerly:
            return train_chunk
        jitted = jax.jit(train_chunk, donate_argnums=0)
        if self.pool_key is None or self.data_parallel is not None:  # (an exported call runs on one device)
            return jitted
        # The traced chunk loop of each shape is kept on disk (with its
        # executable): a new process that trains a shape any process trained
        # before neither traces nor compiles it.
        return ExportedFunction(jitted, ("train_chunk", self.pool_key), donate_argnums=0)

    def _tf_chunk_function(self, xla):
        import tensorflow as tf

        dtype = self.loss_tracker.dtype
        mirrored = self.data_parallel

        def train_sksnn_chunk(chunk, rule, limits):
            x, y, sample_weight, active, epoch_end = chunk
            tol, patience, apply_rule = limits
            slots = tf.shape(active)[0]

            def train_slot(i):
                if mirrored is None:
                    self.train_step((x[i], y[i], sample_weight[i]))
                else:
                    mirrored.run(self.train_step, x[i], y[i], sample_weight[i])
                return tf.constant(True)

            def reset_loss():  # as Keras' fit, as an epoch begins
                self.loss_tracker.reset_state()
                return tf.constant(True)

            def slot(i, best, count, stopped, losses, ended):
                run = active[i] & ~stopped
                tf.cond(run, lambda: train_slot(i), lambda: tf.constant(False))
                loss = self.loss_tracker.result()
                ends = run & epoch_end[i]
                # MLP's _update_no_improvement_count, as TrainingProgress.update
                count_after = tf.where(loss > best - tol, count + 1, tf.zeros_like(count))
                stop = ~tf.math.is_finite(loss) | (apply_rule & (count_after > patience))
                best = tf.where(ends, tf.minimum(best, loss), best)
                count = tf.where(ends, count_after, count)
                stopped = stopped | (ends & stop)
                tf.cond(ends, reset_loss, lambda: tf.constant(False))
                return i + 1, best, count, stopped, losses.write(i, loss), ended.write(i, ends)

            start = (
                tf.constant(0),
                *rule,
                tf.TensorArray(dtype, size=slots),
                tf.TensorArray(tf.bool, size=slots),
            )
            _, best, count, stopped, losses, ended = tf.while_loop(lambda i, *_: i < slots, slot, start)
            return (best, count, stopped), losses.stack(), ended.stack()

        # XLA: TensorFlow's graph executor ran a (100, 100) float64 step in
        # ~1.9 ms (one kernel launch per op, no oneDNN for float64), XLA in
        # ~1.3 ms. Its compilation costs ~1 s more a shape than tracing, which
        # the faster steps of a large enough fit repay (see chunk_trainer).
        # No autograph: the loop is written with TensorFlow's own control flow,
        # and autograph's conversion of this function's source (parsing and
        # rewriting it) cost ~0.3 s of every process's first fit.
        return tf.function(train_sksnn_chunk, jit_compile=xla, reduce_retracing=True, autograph=False)

    def training_state(self):
        """JAX: the values of every variable a train step reads and writes (Keras' stateless train state)."""
        return (
            [v.value for v in self.trainable_variables],
            [v.value for v in self.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
            [v.value for v in self.metrics_variables],
        )

    def load_training_state(self, state):
        """JAX: assign a train state back to the variables."""
        owners = (self.trainable_variables, self.non_trainable_variables, self.optimizer.variables)
        for variables, values in zip((*owners, self.metrics_variables), state):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # The loss itself, not through ``compile(loss=...)``: Keras' CompileLoss
        # casts it to floatx (float32), which rounded a float64 fit's loss_.
        if self.softmax_outputs:  # absent classes (padding) get no probability
            y_pred = y_pred + ops.cast(self.class_logit_offset, y_pred.dtype)
        if isinstance(self.data_parallel, StrategyReplicas):
            return self._replica_loss(y, y_pred, sample_weight)
        loss = self.data_loss(y, y_pred, sample_weight)
        if sample_weight is None:
            total_weight = ops.cast(ops.shape(y_pred)[0], loss.dtype)
        else:
            total_weight = ops.cast(ops.sum(sample_weight), loss.dtype)
        if self.penalized:
            loss = loss + self._penalty(loss.dtype) / total_weight
        self.loss_tracker.update_state(loss, sample_weight=total_weight)
        return loss

    def _penalty(self, dtype):
        """MLP's L2 penalty before its division by the batch's summed sample weight."""
        squared_norm = sum(ops.sum(ops.square(layer.kernel)) for layer in self._kernels_of)
        return 0.5 * ops.cast(self.alpha, dtype) * ops.cast(squared_norm, dtype)

    def _replica_loss(self, y, y_pred, sample_weight):
        """A replica's share of the batch's loss (TensorFlow strategy): the replicas' gradients sum to the batch's.

        Its rows' weighted loss over the whole batch's summed weight
        (:func:`weighted_loss_sum`), plus its share of the penalty. The first
        replica records the batch's loss in the loss tracker's sums (the
        others add zero).
        """
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        weight = ops.ones(ops.shape(y_pred)[:1], y_pred.dtype) if sample_weight is None else sample_weight
        total_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, ops.sum(ops.cast(weight, y_pred.dtype)))
        loss = weighted_loss_sum(self.data_loss, y, y_pred, weight) / total_weight
        if self.penalized:
            loss = loss + self._penalty(loss.dtype) / total_weight / self.data_parallel.replicas
        batch_loss = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(loss))
        first = ops.cast(ops.equal(context.replica_id_in_sync_group, 0), loss.dtype)
        # TensorFlow's own assign_add: Keras' (up to 3.8 or so) assigns
        # ``variable + value``, which a mirrored metric variable sums over
        # the replicas (its old value counted once per replica).
        self.loss_tracker.total.value.assign_add(batch_loss * total_weight * first)
        self.loss_tracker.count.value.assign_add(total_weight * first)
        return loss


class _ChunkTrainer:
    """Trains chunks of batches on a network whose variables the compiled call updates (TensorFlow)."""

    def __init__(self, function):
        self._function = function

    def __call__(self, chunk, rule, limits):
        return self._function(chunk, rule, limits)

    def sync(self):
        """Make the network's variables hold what training reached (here they always do)."""

    def reload(self):
        """Take up changes made to the network's variables since the last call (here nothing to do)."""


class _StatelessChunkTrainer(_ChunkTrainer):
    """JAX: the train state goes through each call; the variables get it back on :meth:`sync`.

    The call donates the state it is given: until ``sync``, the network's
    variables hold deleted arrays.
    """

    def __init__(self, trainer, function, parallel=None):
        super().__init__(function)
        self._trainer = trainer
        self._parallel = parallel
        self.reload()

    def __call__(self, chunk, rule, limits):
        if self._parallel is not None:
            chunk, rule, limits = self._parallel.place(chunk, rule, limits)
        self._state, rule, losses, ends = self._function(self._state, rule, limits, chunk)
        return rule, losses, ends

    def sync(self):
        self._trainer.load_training_state(self._state)

    def reload(self):
        self._state = self._trainer.training_state()


class DataParallel:
    """A batch split over the devices of the user's ``keras.distribution.DataParallel`` (JAX).

    Keras places the network's variables as the distribution says (replicated
    for DataParallel) when they are created; sksnn's chunk call then gets
    each batch's rows split over the mesh's batch axis and everything else
    replicated, and XLA partitions the compiled step (GSPMD): each device
    computes its rows, the gradients and the loss are summed across devices.
    The same global batches give the single-device result up to the order of
    those sums. In a multi-process run (``jax.distributed``), every process
    fits the same X and the same batches, and gives its share of each batch's
    rows (``jax.make_array_from_process_local_data``).
    """

    def __init__(self, distribution):
        import jax

        self.key = (type(distribution).__name__, distribution.device_mesh.devices.shape)
        self.key += (tuple(distribution.device_mesh.devices.ravel()),)
        self.batch_axis = distribution.get_data_layout((1,)).axes[0]
        by_name = {f"{d.platform}:{d.id}": d for d in jax.devices()}
        mesh = distribution.device_mesh
        # Keras' mesh holds device names ("cpu:0"), or the devices themselves (Keras 3.7)
        devices = [d if isinstance(d, jax.Device) else by_name[str(d).lower()] for d in mesh.devices.ravel()]
        devices = np.array(devices).reshape(mesh.devices.shape)
        self.mesh = jax.sharding.Mesh(devices, mesh.axis_names)
        self.replicas = int(np.prod([mesh.shape[i] for i, n in enumerate(mesh.axis_names) if n == self.batch_axis]))

    def place(self, chunk, rule, limits):
        """The chunk's batches split along their rows (axis 1), the rest replicated."""
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        rows = NamedSharding(self.mesh, PartitionSpec(None, self.batch_axis))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        x, y, sample_weight, active, epoch_end = chunk

        processes, process = jax.process_count(), jax.process_index()

        def split(a):
            # Every process fits the same X and draws the same batches (same
            # seed); each contributes its share of every batch's rows.
            a = np.asarray(a)
            if processes > 1:
                share = a.shape[1] // processes
                a = a[:, process * share : (process + 1) * share]
            return jax.make_array_from_process_local_data(rows, a)

        chunk = (split(x), split(y), split(sample_weight), *jax.device_put((active, epoch_end), replicated))
        return chunk, jax.device_put(rule, replicated), jax.device_put(limits, replicated)


class StrategyReplicas:
    """A batch split over the replicas of the user's ``tf.distribute.MirroredStrategy`` (TensorFlow).

    (``OneDeviceStrategy`` too: one replica, the whole batch.)

    The network's variables are mirrored on every device (they are created
    under the strategy's scope, which the fit runs in). Each train step runs
    once per replica (``strategy.run``) on its share of the batch's rows; the
    loss each replica differentiates is its rows' share of the global batch's
    loss (its weighted sum over the batch's summed sample weight, all-reduced,
    plus its share of the L2 penalty), so the gradients Keras' optimizer sums
    across replicas are those of the whole batch on one device.
    """

    def __init__(self, strategy):
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        # A network's mirrored variables belong to the strategy they were made
        # under: the pool gives it to fits under that strategy only (a pooled
        # network holds its strategy, so the id is not reused meanwhile).
        self.key = (type(strategy).__name__, id(strategy), tuple(strategy.extended.worker_devices))

    def run(self, step, x, y, sample_weight):
        """``step((x, y, sample_weight))`` on each replica, with its share of the rows."""
        import tensorflow as tf

        def replica_step():
            context = tf.distribute.get_replica_context()
            share = tf.shape(x)[0] // self.replicas
            rows = slice(context.replica_id_in_sync_group * share, (context.replica_id_in_sync_group + 1) * share)
            step((x[rows], y[rows], sample_weight[rows]))

        self.strategy.run(replica_step)


def data_parallel():
    """The user's data-parallel distribution (``keras.distribution.set_distribution``) on JAX, or None.

    On TensorFlow, the scope of the user's ``tf.distribute.MirroredStrategy``
    (or ``OneDeviceStrategy``) a fit runs in. Keras' other distributions and
    TensorFlow's other strategies are not supported: a fit under them raises.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.distribute.has_strategy():
            return None
        strategy = tf.distribute.get_strategy()
        if not isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.OneDeviceStrategy)):
            raise ValueError(
                "sksnn trains under tf.distribute.MirroredStrategy only (one machine, several devices), "
                f"not {type(strategy).__name__}. For several machines use the JAX backend with "
                "keras.distribution.DataParallel and jax.distributed."
            )
        return StrategyReplicas(strategy)
    if keras.backend.backend() != "jax":
        return None
    distribution = keras.distribution.distribution()
    if distribution is None:
        return None
    if not isinstance(distribution, keras.distribution.DataParallel):
        raise ValueError(
            f"sksnn trains under keras.distribution.DataParallel only, not {type(distribution).__name__}: "
            "its networks are small enough to hold whole on each device."
        )
    return DataParallel(distribution)


def get_optimizer_state(trainer):
    """The optimizer's variables (step count, moments) as NumPy arrays."""
    return variable_values(trainer.optimizer.variables)


def set_optimizer_state(trainer, state):
    """Load ``state``; a state saved by another optimizer (changed by ``set_params``) is ignored."""
    variables = trainer.optimizer.variables
    if len(variables) != len(state) or any(tuple(v.shape) != np.shape(s) for v, s in zip(variables, state)):
        return
    assign_values(variables, state)


def _compile(network, *, loss, solver, solver_params, learning_rate, alpha, dtype):
    trainer = TrainingNetwork(network, alpha, loss, dtype=dtype)
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
    new architectures without bound (benchmarks/speed.py, ``search``):

    - JAX's tracing and lowering caches (``jax._src.util``'s LRU caches) keep
      every traced train step and its executable: ~650 MB over 180
      architectures. They are cleared whenever a network is dropped: the
      compiled functions still alive keep their own executables (the C++
      dispatch cache is not touched), so pooled networks do not compile
      again; other JAX code in the process retraces at most once.
      With the persistent compilation cache on (``_compilation_cache``), the
      functions read back from it hold ~1.5 MB a network more, which only
      ``jax.clear_caches`` frees (it drops the executables of the functions
      still alive too): it runs once ``pool_size`` networks have been
      dropped, and the pooled networks then read their executables back from
      the cache (~0.05 s each) instead of compiling them.
    - TensorFlow's eager kernel cache keeps every function it ran
      instantiated (its optimized graph and executor) after the function is
      deleted: ~1.3 MB a small network. Clearing it (as Keras'
      ``clear_session`` does) makes the functions still alive instantiate
      again at their next call (~0.2 s each), so it is cleared once
      ``pool_size`` networks have been dropped: a pooled network pays that
      at most once per ``pool_size`` new ones.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow" and dropped >= pool_size:
        from tensorflow.python.eager import context

        context.context().clear_kernel_cache()
        return True
    if backend != "jax":
        return False
    from ._compilation_cache import executables_cached

    if executables_cached() and dropped >= pool_size:
        import jax

        jax.clear_caches()
        return True
    try:
        from jax._src import util
    except ImportError:
        return not executables_cached()
    clear = getattr(util, "clear_all_caches", None)
    if clear is not None:
        clear()
    return not executables_cached()  # else the count goes on, to the next jax.clear_caches


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
    """
    # Keras' optimizers refuse an int learning rate; scikit-learn accepts any Real.
    learning_rate, alpha = float(learning_rate), float(alpha)
    input_width, output_width = padded_widths(n_features, n_outputs, loss)
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
    )
    sizes = spec["hidden_layer_sizes"]

    def padding_cost(trainer):
        """The multiply-adds ``trainer``'s extra width would add to this fit; None if it cannot serve."""
        extra_inputs, extra_outputs = trainer.input_width - input_width, trainer.output_width - output_width
        if not 0 <= extra_inputs <= 3 * input_width or not 0 <= extra_outputs <= 3 * output_width:
            return None
        if extra_outputs and loss != "categorical":  # only softmax outputs can hold absent classes
            return None
        cost = 3 * (extra_inputs * sizes[0] + extra_outputs * sizes[-1]) * work_rows  # forward and backward
        return cost if cost <= _COMPILE_WORTH else None

    trainer = _POOL.take(key, padding_cost)
    if trainer is None:
        graph = dict(spec)
        if keras.backend.backend() == "jax":
            graph["activation"] = JAX_TRAINING_ACTIVATIONS.get(spec["activation"], spec["activation"])
        network = build_snn(input_width, output_width, output_activation="identity", dtype=dtype, seed=seed, **graph)
        trainer = _compile(
            network,
            loss=loss,
            solver=solver,
            solver_params=solver_params,
            learning_rate=learning_rate,
            alpha=alpha,
            dtype=dtype,
        )
        trainer.pool_key = key
    else:
        set_optimizer_state(trainer, trainer.initial_optimizer_state)
        trainer.optimizer.learning_rate = learning_rate
        trainer.alpha.assign(alpha)
    # The data's own shapes draw the initial values (LeCun's variance is
    # 1 / fan_in of the real inputs); the padding starts, and stays, at zero.
    initialization = {k: spec[k] for k in ("hidden_layer_sizes", "kernel_initializer", "output_initializer", "dropout")}
    trainer.load_values(initial_values(n_features, n_outputs, dtype=dtype, seed=seed, **initialization))
    trainer.use_for(n_features, n_outputs)
    try:
        yield trainer
    finally:
        _POOL.give_back(key, trainer)
