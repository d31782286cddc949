"""The Keras graph: a Dense-only stack with SELU and LeCun-normal weights, and its weights.

Builds the network (:func:`build_snn`), plain or packed into an ensemble of
members that share its kernels (:class:`PackedDense`, :class:`MemberMean`),
draws its initial values (:func:`initial_values`) and reads or writes the
layers' kernels, biases and members' scales. No scikit-learn and no training
here (that is ``_trainer``). This module imports Keras, so the estimators
import it only when they train or build ``model_`` (``import sksnn`` stays
cheap).
"""

from ._backend import exact_mean, start_backend

start_backend()  # before Keras starts the backend

import keras  # noqa: E402
import numpy as np  # noqa: E402

from ._activations import KERAS_ACTIVATIONS  # noqa: E402


@keras.saving.register_keras_serializable(package="sksnn")
class PackedDense(keras.layers.Layer):
    """A Dense layer of ``n_members`` members that share its kernel (BatchEnsemble, Wen et al. 2020; TabM).

    Member ``i`` computes ``((x_i * input_scale[i]) @ kernel) * output_scale[i]
    + bias[i]``: its own scaling of each input and output and its own bias
    around the one kernel, so the ensemble costs one network's weights.
    The input is ``(batch, n_members, in)``, or ``(batch, in)`` that every
    member reads (the first layer); the output is ``(batch, n_members, units)``.
    Input scales start at random signs and output scales at one: a member's
    input has the variance of the shared network's, which keeps SELU's
    self-normalization at initialization. Its variables are created in the
    order ``kernel, bias, input_scale, output_scale`` (:func:`initial_values`).
    """

    def __init__(self, units, n_members, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.n_members = int(units), int(n_members)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        inputs = int(input_shape[-1])
        k = self.n_members
        self.kernel = self.add_weight(name="kernel", shape=(inputs, self.units), initializer=numpy_zeros)
        self.bias = self.add_weight(name="bias", shape=(k, self.units), initializer=numpy_zeros)
        self.input_scale = self.add_weight(name="input_scale", shape=(k, inputs), initializer=numpy_zeros)
        self.output_scale = self.add_weight(name="output_scale", shape=(k, self.units), initializer=numpy_zeros)

    def call(self, inputs):
        if len(inputs.shape) == 2:  # every member reads the same row
            inputs = keras.ops.expand_dims(inputs, 1)
        out = keras.ops.matmul(inputs * self.input_scale, self.kernel)
        return self.activation(out * self.output_scale + self.bias)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_members, self.units)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, n_members=self.n_members, activation=keras.activations.serialize(self.activation)
        )
        return config


@keras.saving.register_keras_serializable(package="sksnn")
class MemberMean(keras.layers.Layer):
    """The mean of the members' outputs (probabilities, predictions): the packed ensemble's prediction."""

    def call(self, inputs):
        return exact_mean(inputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def _seeded_initializer(name, seed):
    """The Keras initializer ``name`` with its seed fixed (if it takes one)."""
    initializer = keras.initializers.get(name)
    config = initializer.get_config()
    if "seed" in config:
        config["seed"] = seed
        initializer = type(initializer).from_config(config)
    return initializer


def numpy_zeros(shape, dtype=None):
    """Keras' "zeros" initializer, without compiling anything.

    On JAX, Keras' own builds each zero array with a compiled kernel, one
    per new shape, in every process: ~10 ms each, ~0.2 s for the variables
    of a small network and its optimizer in a new process.
    """
    return _on_device(np.zeros(shape, dtype=keras.backend.standardize_dtype(dtype)))


def _on_device(value):
    """A NumPy array as the backend takes it without compiling: on JAX, already on the device.

    JAX's ``jnp.asarray`` of a NumPy array (what a Keras variable calls on
    what it is given) copies it with a kernel compiled for each new shape;
    ``jax.device_put`` compiles nothing.
    """
    if keras.backend.backend() != "jax":
        return value
    import jax

    return jax.device_put(value)


def assign_values(variables, values):
    """Assign NumPy ``values`` to Keras ``variables`` (see :func:`_on_device`)."""
    for variable, value in zip(variables, values, strict=True):
        variable.assign(_on_device(np.asarray(value, dtype=keras.backend.standardize_dtype(variable.dtype))))


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
    if name == "zeros":
        return np.zeros(shape, dtype=dtype)
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


def member_signs(n_members, width, seed):
    """A packed layer's initial input scales: random signs, one row per member."""
    return np.where(np.random.RandomState([seed, 1]).rand(n_members, width) < 0.5, -1.0, 1.0)


def initial_values(
    n_features,
    n_outputs,
    hidden_layer_sizes,
    *,
    kernel_initializer,
    dropout,
    dtype,
    seed,
    output_initializer=None,
    n_members=1,
):
    """The initial values of ``build_snn(..., seed=seed).variables``, without building a model.

    Building a 20-layer Keras model costs about a second of Python; a reused
    (pooled) network only needs the fresh numbers. A packed ensemble's
    members share each kernel and start with zero biases, random-sign input
    scales and unit output scales (:class:`PackedDense`).
    """
    seeds = _layer_seeds(seed, len(hidden_layer_sizes))
    sizes = [n_features, *(int(u) for u in hidden_layer_sizes), int(n_outputs)]
    values = []
    for i, (fan_in, units, kernel_seed) in enumerate(zip(sizes[:-1], sizes[1:], _kernel_seeds(seeds))):
        is_output = i == len(sizes) - 2
        name = (output_initializer or kernel_initializer) if is_output else kernel_initializer
        kernel = _kernel_values(name, (fan_in, units), dtype, kernel_seed)
        if n_members == 1:
            values += [kernel, np.zeros(units, dtype=dtype)]
        else:
            signs = member_signs(n_members, fan_in, kernel_seed).astype(dtype)
            values += [kernel, np.zeros((n_members, units), dtype=dtype), signs, np.ones((n_members, units), dtype)]
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
    output_initializer=None,
    n_members=1,
    average_members=True,
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
        Keras initializer name for every kernel (the output layer's too,
        unless ``output_initializer`` says otherwise).
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
    output_initializer : str or None, default=None
        Keras initializer name for the output layer's kernel; None: the
        ``kernel_initializer``. ``'zeros'`` starts every prediction at the
        same value (the estimators' default).
    n_members : int, default=1
        Members of a packed ensemble (:class:`PackedDense` layers, whose
        members share each kernel); 1 builds plain Dense layers.
    average_members : bool, default=True
        With ``n_members > 1``, end with the mean of the members' outputs
        (:class:`MemberMean`); False keeps each member's, shaped
        ``(batch, n_members, n_outputs)``, as training needs them.

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
        seed = np.random.randint(np.iinfo(np.int32).max)  # noqa: NPY002 (unseeded: NumPy's global RNG, which np.random.seed sets)
    seeds = _layer_seeds(seed, len(hidden_layer_sizes))
    # Kernels start at zero and are then loaded from initial_values: one
    # drawing for built and pooled networks (see _kernel_values for why NumPy).
    layers = [keras.Input(shape=(n_features,), dtype=dtype)]

    def dense(units, activation, name):
        activation = KERAS_ACTIVATIONS.get(activation, activation)
        if n_members > 1:
            return PackedDense(units, n_members, activation=activation, dtype=dtype, name=name)
        return keras.layers.Dense(
            int(units),
            activation=activation,
            kernel_initializer=numpy_zeros,
            bias_initializer=numpy_zeros,
            dtype=dtype,
            name=name,
        )

    for i, units in enumerate(hidden_layer_sizes):
        layers.append(dense(units, activation, f"hidden_{i}"))
        if dropout > 0:
            layers.append(
                keras.layers.AlphaDropout(dropout, seed=int(seeds[2 * i + 1]), dtype=dtype, name=f"alpha_dropout_{i}")
            )
    layers.append(dense(n_outputs, output_activation, "output"))
    if n_members > 1 and average_members:
        layers.append(MemberMean(dtype=dtype, name="member_mean"))
    model = keras.Sequential(layers, name=name)
    values = initial_values(
        n_features,
        n_outputs,
        hidden_layer_sizes,
        kernel_initializer=kernel_initializer,
        dropout=dropout,
        dtype=dtype,
        seed=seed,
        output_initializer=output_initializer,
        n_members=n_members,
    )
    assign_values(model.variables, values)
    # The layers report (and a saved model re-creates) the initializer the kernels were drawn from.
    layers = dense_layers(model)
    names = [kernel_initializer] * (len(layers) - 1) + [output_initializer or kernel_initializer]
    for layer, name, kernel_seed in zip(layers, names, _kernel_seeds(seeds), strict=True):
        layer.kernel_initializer = _seeded_initializer(name, kernel_seed)
        layer.bias_initializer = keras.initializers.Zeros()
    return model


def dense_layers(model):
    """The Dense (or packed Dense) layers of ``model``, input to output."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense | PackedDense)]


def variable_values(variables):
    """The values of Keras variables as NumPy arrays.

    Reads each variable's backend value: converting the Keras variable (or a
    ``tf.Variable``) with ``np.array`` goes through an ``__array__`` that
    lacks NumPy 2's ``copy`` keyword, a DeprecationWarning per variable.
    """
    if keras.backend.backend() == "tensorflow":
        return [variable.value.numpy() for variable in variables]
    return [keras.ops.convert_to_numpy(variable.value) for variable in variables]


def get_dense_weights(model):
    """Kernels and biases of the Dense layers as two lists of NumPy arrays."""
    layers = dense_layers(model)
    return variable_values(layer.kernel for layer in layers), variable_values(layer.bias for layer in layers)


def set_dense_weights(model, coefs, intercepts):
    """Load kernels and biases into the Dense layers of ``model``."""
    layers = dense_layers(model)
    assign_values(
        [v for layer in layers for v in (layer.kernel, layer.bias)],
        [w for pair in zip(coefs, intercepts, strict=True) for w in pair],
    )


def get_member_scales(model):
    """A packed ensemble's input and output scales of each layer (two lists of NumPy arrays), or None."""
    layers = dense_layers(model)
    if not isinstance(layers[0], PackedDense):
        return None
    input_scales = variable_values(layer.input_scale for layer in layers)
    return input_scales, variable_values(layer.output_scale for layer in layers)


def set_member_scales(model, members):
    """Load ``(input_scales, output_scales)`` into the packed layers of ``model``."""
    layers = dense_layers(model)
    assign_values(
        [v for layer in layers for v in (layer.input_scale, layer.output_scale)],
        [w for pair in zip(*members, strict=True) for w in pair],
    )
