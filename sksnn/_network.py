"""The Keras graph: a Dense-only stack with SELU and LeCun-normal weights.

No scikit-learn here. This module imports Keras, so the estimators import it
only when they train (``import sksnn`` stays cheap).
"""

from ._threads import limit_backend_threads

limit_backend_threads()  # before Keras starts the backend

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from ._activations import KERAS_ACTIVATIONS  # noqa: E402
from ._optimizers import Adam, AdamW, Nadam  # noqa: E402

OPTIMIZERS = {
    # Keras' own, cheaper to trace (see _optimizers)
    "nadam": Nadam,
    "adam": Adam,
    "adamw": AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def _seeded_initializer(name, seed):
    """The Keras initializer ``name`` with its seed fixed (if it takes one)."""
    initializer = keras.initializers.get(name)
    config = initializer.get_config()
    if "seed" in config:
        config["seed"] = seed
        initializer = type(initializer).from_config(config)
    return initializer


def _layer_seeds(seed, n_hidden):
    """Seeds of each hidden kernel, dropout layer and the output kernel, from one seed."""
    return np.random.RandomState(seed).randint(np.iinfo(np.int32).max, size=2 * n_hidden + 1)


def _kernel_seeds(layer_seeds):
    """The kernels' seeds among :func:`_layer_seeds`, input to output layer."""
    return [int(s) for s in (*layer_seeds[0:-1:2], layer_seeds[-1])]


def _kernel_values(name, shape, dtype, seed):
    """A kernel drawn from the Keras initializer ``name`` with ``seed``, as a NumPy array.

    The variance-scaling family (LeCun, He, Glorot: every default) is drawn
    with NumPy from the initializer's own configuration: on JAX, Keras' draw
    compiles a random-number kernel for each new weight shape (~0.5 s each,
    paid by the first fit of every architecture, in every joblib worker).
    Other initializers are Keras' own draws.
    """
    initializer = _seeded_initializer(name, seed)
    if not isinstance(initializer, keras.initializers.VarianceScaling):
        return keras.ops.convert_to_numpy(initializer(shape, dtype=dtype))
    fan_in, fan_out = shape
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[initializer.mode]
    scale = initializer.scale / max(1.0, fan)
    rng = np.random.RandomState(seed)
    if initializer.distribution == "uniform":
        limit = np.sqrt(3.0 * scale)
        return rng.uniform(-limit, limit, shape).astype(dtype)
    values = rng.standard_normal(shape)
    if initializer.distribution == "truncated_normal":
        # Keras' truncated normal: redrawn beyond two standard deviations,
        # scaled by the standard deviation of the truncated distribution.
        outside = np.abs(values) > 2
        while outside.any():
            values[outside] = rng.standard_normal(np.count_nonzero(outside))
            outside = np.abs(values) > 2
        values /= 0.87962566103423978
    return (values * np.sqrt(scale)).astype(dtype)


def initial_values(n_features, n_outputs, hidden_layer_sizes, *, kernel_initializer, dropout, dtype, seed):
    """The initial values of ``build_snn(..., seed=seed).variables``, without building a model.

    Building a 20-layer Keras model costs about a second of Python; a reused
    (pooled) network only needs the fresh numbers.
    """
    seeds = _layer_seeds(seed, len(hidden_layer_sizes))
    sizes = [n_features, *(int(u) for u in hidden_layer_sizes), int(n_outputs)]
    values = []
    for i, (fan_in, units, kernel_seed) in enumerate(zip(sizes[:-1], sizes[1:], _kernel_seeds(seeds))):
        is_output = i == len(sizes) - 2
        kernel = _kernel_values(kernel_initializer, (fan_in, units), dtype, kernel_seed)
        values += [kernel, np.zeros(units, dtype=dtype)]
        if dropout > 0 and not is_output:
            values.append(np.array([seeds[2 * i + 1], 0]))  # a SeedGenerator's initial state
    return values


def build_snn(
    n_features,
    n_outputs,
    hidden_layer_sizes=(100,),
    *,
    activation="selu",
    kernel_initializer="lecun_normal",
    dropout=0.0,
    output_activation="softmax",
    dtype="float32",
    seed=None,
    name="snn",
):
    """Build a self-normalizing network: Dense layers only, SELU, LeCun normal.

    Dropout, when asked for, is :class:`keras.layers.AlphaDropout`, which keeps
    the mean and variance that SELU self-normalizes to. The output layer comes
    once, after the hidden layers.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_outputs : int
        Number of output units.
    hidden_layer_sizes : sequence of int, default=(100,)
        Units of each hidden layer.
    activation : str, default='selu'
        Hidden activation: an MLP-style name ('selu', 'elu', 'relu', 'tanh',
        'logistic', 'identity') or any Keras activation name.
    kernel_initializer : str, default='lecun_normal'
        Keras initializer name for every kernel.
    dropout : float, default=0.0
        AlphaDropout rate after each hidden layer; 0 adds no dropout layer.
    output_activation : str, default='softmax'
        Output activation ('softmax', 'logistic', 'identity', or a Keras name).
    dtype : str, default='float32'
        Dtype of the weights and computations.
    seed : int or None, default=None
        Seed for the initializers and dropout; an int makes the network
        reproducible.
    name : str, default='snn'
        Name of the Keras model.

    Returns
    -------
    keras.Sequential
        The uncompiled network.

    See Also
    --------
    SNNClassifier : Trains this network behind scikit-learn's classifier API.
    SNNRegressor : Trains this network behind scikit-learn's regressor API.

    Examples
    --------
    >>> from sksnn import build_snn
    >>> model = build_snn(4, 3, hidden_layer_sizes=(8, 8))
    >>> [layer.name for layer in model.layers]
    ['hidden_0', 'hidden_1', 'output']
    """
    if seed is None:
        seed = np.random.randint(np.iinfo(np.int32).max)
    seeds = _layer_seeds(seed, len(hidden_layer_sizes))
    # Kernels start at zero and are then loaded from initial_values: one
    # drawing for built and pooled networks (see _kernel_values for why NumPy).
    layers = [keras.Input(shape=(n_features,), dtype=dtype)]
    for i, units in enumerate(hidden_layer_sizes):
        layers.append(
            keras.layers.Dense(
                int(units),
                activation=KERAS_ACTIVATIONS.get(activation, activation),
                kernel_initializer="zeros",
                dtype=dtype,
                name=f"hidden_{i}",
            )
        )
        if dropout > 0:
            layers.append(
                keras.layers.AlphaDropout(dropout, seed=int(seeds[2 * i + 1]), dtype=dtype, name=f"alpha_dropout_{i}")
            )
    layers.append(
        keras.layers.Dense(
            int(n_outputs),
            activation=KERAS_ACTIVATIONS.get(output_activation, output_activation),
            kernel_initializer="zeros",
            dtype=dtype,
            name="output",
        )
    )
    model = keras.Sequential(layers, name=name)
    values = initial_values(
        n_features,
        n_outputs,
        hidden_layer_sizes,
        kernel_initializer=kernel_initializer,
        dropout=dropout,
        dtype=dtype,
        seed=seed,
    )
    for variable, value in zip(model.variables, values, strict=True):
        variable.assign(value)
    # The layers report (and a saved model re-creates) the initializer the kernels were drawn from.
    for layer, kernel_seed in zip(dense_layers(model), _kernel_seeds(seeds), strict=True):
        layer.kernel_initializer = _seeded_initializer(kernel_initializer, kernel_seed)
    return model


def dense_layers(model):
    """The Dense layers of ``model``, input to output."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def get_dense_weights(model):
    """Kernels and biases of the Dense layers as two lists of NumPy arrays."""
    layers = dense_layers(model)
    coefs = [keras.ops.convert_to_numpy(layer.kernel) for layer in layers]
    intercepts = [keras.ops.convert_to_numpy(layer.bias) for layer in layers]
    return coefs, intercepts


def set_dense_weights(model, coefs, intercepts):
    """Load kernels and biases into the Dense layers of ``model``."""
    for layer, kernel, bias in zip(dense_layers(model), coefs, intercepts, strict=True):
        layer.set_weights([kernel, bias])


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


class PenalizedNetwork(keras.Model):
    """Training wrapper: adds MLP's L2 penalty, ``alpha / 2 * ||W||^2 / sum(w)``.

    scikit-learn's MLP divides the penalty by the batch's summed sample weight,
    so a sample weight of 2 is the same as a repeated row. A fixed Keras
    ``kernel_regularizer`` cannot do that, hence ``compute_loss``.
    """

    def __init__(self, network, alpha, batches_per_call=1, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.batches_per_call = batches_per_call
        self.penalized = alpha > 0
        # A variable, not a constant of the traced step: one compiled network
        # serves every alpha of a grid search (assign a new value before a fit).
        self.alpha = keras.Variable(float(alpha), trainable=False, dtype=self.dtype_policy.variable_dtype, name="alpha")
        self._kernels_of = dense_layers(network)

    def __setattr__(self, name, value):
        # Keras' JAX trainer stores the whole training state (a dict of ~140
        # arrays) in ``_jax_state`` after every step; Layer.__setattr__ walks it
        # looking for variables to track, which there never are: that walk took
        # ~40% of a small network's epoch (benchmarks/speed.py). Skip it.
        if name == "_jax_state":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

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
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        rows = ops.cast(ops.shape(y_pred)[0], loss.dtype)
        total_weight = rows if sample_weight is None else ops.cast(ops.sum(sample_weight), loss.dtype)
        if self.penalized:
            squared_norm = sum(ops.sum(ops.square(layer.kernel)) for layer in self._kernels_of)
            loss = loss + 0.5 * ops.cast(self.alpha, loss.dtype) * ops.cast(squared_norm, loss.dtype) / total_weight
        # Keras' epoch loss is the mean of the batch losses weighted by their
        # rows, zero-weight padding rows included (see _training._numpy_chunks).
        # The value reported here is loss * total_weight / rows, its gradient the
        # loss's: the batches then weigh by their sample weight, and run_epochs
        # divides the epoch's mean by the mean weight of a row.
        return loss + ops.stop_gradient(loss * (total_weight / rows - 1))
