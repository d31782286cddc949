"""Prediction without a deep-learning framework.

A fitted Dense stack is a few matrix products; NumPy does them in well under a
millisecond for one row, where a call into Keras costs tens of milliseconds.
It also means a loaded model predicts without importing TensorFlow or JAX.
"""

from ._activations import NUMPY_ACTIVATIONS


def standardize(X, mean, scale):
    """Return ``(X - mean) / scale`` as a new array (``X`` is left untouched)."""
    out = X - mean
    out /= scale
    return out


def forward(X, coefs, intercepts, activation, out_activation):
    """Output of the Dense stack ``coefs``/``intercepts`` for the rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Already standardized input.
    coefs, intercepts : list of ndarray
        Kernel and bias of each Dense layer, input to output.
    activation : str
        Hidden activation, a key of ``NUMPY_ACTIVATIONS``.
    out_activation : str
        Output activation, a key of ``NUMPY_ACTIVATIONS``.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        A new array: the first product allocates it, so ``X`` is never modified.
    """
    hidden = NUMPY_ACTIVATIONS[activation]
    last = len(coefs) - 1
    out = X
    for i, (kernel, bias) in enumerate(zip(coefs, intercepts)):
        out = out @ kernel
        out += bias
        if i != last:
            hidden(out)
    return NUMPY_ACTIVATIONS[out_activation](out)
