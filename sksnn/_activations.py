"""Activation names shared by the NumPy inference path and the Keras graph.

Names follow :class:`~sklearn.neural_network.MLPClassifier` (``"logistic"``,
``"identity"``) so one parameter grid serves both estimators; each maps to the
Keras activation that computes the same function.
"""

import numpy as np

# Klambauer et al. (2017), eq. (2); Keras uses the same constants.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# MLP-style name -> Keras activation name.
KERAS_ACTIVATIONS = {
    "selu": "selu",
    "elu": "elu",
    "relu": "relu",
    "tanh": "tanh",
    "logistic": "sigmoid",
    "identity": "linear",
    "softmax": "softmax",
}

HIDDEN_ACTIVATIONS = frozenset({"selu", "elu", "relu", "tanh", "logistic", "identity"})


def _elu(x, alpha=1.0):
    # Whole-array operations: boolean-mask indexing was 4x slower on 100k rows.
    # exp(x) - 1, not expm1: NumPy's exp is vectorized (4.8x faster in float32,
    # 3x in float64 on 20M values) and one rounding of the result apart near
    # zero (absolute 1.4e-7 in float32, 1e-16 in float64), as training on JAX.
    negative_part = np.minimum(x, 0)
    np.exp(negative_part, out=negative_part)
    negative_part -= 1
    if alpha != 1.0:
        negative_part *= alpha
    np.maximum(x, 0, out=x)
    x += negative_part
    return x


def _selu(x):
    _elu(x, SELU_ALPHA)
    x *= SELU_SCALE
    return x


def _relu(x):
    return np.maximum(x, 0, out=x)


def _tanh(x):
    return np.tanh(x, out=x)


def _logistic(x):
    # 1 / (1 + exp(-x)), written with tanh so large |x| cannot overflow.
    np.multiply(x, 0.5, out=x)
    np.tanh(x, out=x)
    x += 1
    x *= 0.5
    return x


def _identity(x):
    return x


def _exp(x):  # the output of MLPRegressor(loss="poisson"): a log link
    return np.exp(x, out=x)


def _softmax(x):
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


# In-place NumPy versions, used by the inference path.
NUMPY_ACTIVATIONS = {
    "selu": _selu,
    "elu": _elu,
    "relu": _relu,
    "tanh": _tanh,
    "logistic": _logistic,
    "identity": _identity,
    "softmax": _softmax,
    "exp": _exp,
}
