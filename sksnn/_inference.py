"""Prediction without a deep-learning framework.

A fitted Dense stack is a few matrix products; NumPy does them in well under a
millisecond for one row, where a call into Keras costs tens of milliseconds.
It also means a loaded model predicts without importing TensorFlow or JAX.

Many rows go through the network in blocks small enough to stay in the CPU
cache: SELU's element-wise passes then cost little next to the products, and
the blocks run on several threads (NumPy releases the GIL) with BLAS held to
one thread each. On 100,000 rows of a (100,) * 20 network that took bulk
predict from 1.7x to about 0.75x MLPClassifier's time (benchmarks/speed.py).

The loss of an output (:func:`output_loss`) is computed here too, for the
validation rows of early stopping.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from ._activations import NUMPY_ACTIVATIONS
from ._blocks import rows_per_block

# Bytes of one block's widest activation: a few of them fit in a core's L2 cache.
_BLOCK_BYTES = 2**21
# threadpoolctl's limits are process-wide: two threads changing and restoring
# them at once could leave BLAS on one thread, so bulk passes take turns.
_BULK_LOCK = threading.Lock()
_blas_controller = None


def _blas_limited_to_one_thread():
    """threadpoolctl's limit of BLAS to one thread, from a controller made once a process.

    ``threadpool_limits`` walks every shared library the process loaded each
    time it is made: 0.3 ms in a bare process, 4-5 ms once JAX or TensorFlow
    are loaded, which early stopping paid at every epoch's validation pass
    (0.4 s of a 40,000-row fit). NumPy's BLAS, the one the products here
    use, is loaded with NumPy, before the first call.
    """
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController

        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


def standardize(X, mean, scale):
    """Return ``(X - mean) / scale`` as a new array (``X`` is left untouched)."""
    out = X - mean
    out /= scale
    return out


def output_loss(output, Y, sample_weight, out_activation):
    """MLP's loss of the network's ``output`` (after its activation) against encoded targets ``Y``.

    The mean over rows (weighted by ``sample_weight``) of the log loss summed
    over the labels (logistic), the categorical log loss (softmax), half
    the squared error averaged over the outputs (identity), or half the
    Poisson deviance summed over the outputs (exp), without the L2 penalty:
    the training loss's data term, as ``_losses.LOSSES`` computes it.
    """
    if out_activation == "identity":
        per_row = 0.5 * np.mean(np.square(output - Y), axis=1)
    elif out_activation == "exp":
        from scipy.special import xlogy

        per_row = np.sum(xlogy(Y, Y / output) - Y + output, axis=1)
    else:
        eps = np.finfo(output.dtype).eps
        p = np.clip(output, eps, 1 - eps)
        if out_activation == "softmax":
            per_row = -np.sum(Y * np.log(p), axis=1)
        else:
            per_row = -np.sum(Y * np.log(p) + (1 - Y) * np.log1p(-p), axis=1)
    return float(np.average(per_row, weights=sample_weight))


def _block_rows(coefs, dtype, n_inputs, n_members=1):
    # the input counts too: a block of a numerical embedding's input is n_bins times X's width;
    # a packed ensemble's activations are its members'
    widest = max(n_inputs, *(n_members * kernel.shape[1] for kernel in coefs))
    return rows_per_block(_BLOCK_BYTES, widest * np.dtype(dtype).itemsize, minimum=256)


def _dense(h, kernel, bias, members, layer):
    """``h @ kernel + bias`` as a new array; a packed ensemble's members each scale their input and output.

    With ``members = (input_scales, output_scales)``, member ``i`` computes
    ``((h_i * input_scales[layer][i]) @ kernel) * output_scales[layer][i] +
    bias[i]`` (``_network.PackedDense``): ``h`` is ``(rows, in)`` for the
    first layer (every member reads it) or ``(n_members, rows, in)``, and the
    result ``(n_members, rows, out)``.
    """
    if members is None:
        out = h @ kernel
        out += bias
        return out
    out = (h * members[0][layer][:, None, :]) @ kernel
    out *= members[1][layer][:, None, :]
    out += bias[:, None, :]
    return out


def hidden_layers(X, coefs, intercepts, hidden, keep_pre_activations=False, members=None):
    """Walk the hidden layers of the Dense stack for standardized ``X``, input to output.

    Yields each hidden layer's ``(pre-activation, activation)``; the
    pre-activation ``h @ W + b`` is None unless ``keep_pre_activations``
    (then a copy), since the activation ``hidden`` is applied in place.
    ``X`` itself is never modified. A packed ensemble (``members``, see
    :func:`_dense`) yields each member's, with a leading member axis.
    """
    out = X
    for layer, (kernel, bias) in enumerate(zip(coefs[:-1], intercepts[:-1])):
        out = _dense(out, kernel, bias, members, layer)
        pre = out.copy() if keep_pre_activations else None
        yield pre, hidden(out)


def _forward_block(X, coefs, intercepts, hidden, output, mean, scale, members):
    if members is not None and sp.issparse(X):  # (one network folds the scaler into its first layer instead)
        X = X.toarray()
    out = X if mean is None else standardize(X, mean, scale)
    for _, activation in hidden_layers(out, coefs, intercepts, hidden, members=members):
        out = activation
    out = output(_dense(out, coefs[-1], intercepts[-1], members, len(coefs) - 1))
    return out if members is None else out.mean(axis=0)  # the members' mean: the ensemble's prediction


def forward(X, coefs, intercepts, activation, out_activation, mean=None, scale=None, members=None):
    """Output of the Dense stack ``coefs``/``intercepts`` for the rows of ``X``.

    Parameters
    ----------
    X : ndarray, CSR matrix or RowSubset of shape (n_samples, n_features)
        Input, standardized already unless ``mean`` and ``scale`` are given
        (for a sparse X they are folded into the first layer: X stays sparse).
    coefs, intercepts : list of ndarray
        Kernel and bias of each Dense layer, input to output.
    activation : str
        Hidden activation, a key of ``NUMPY_ACTIVATIONS``.
    out_activation : str
        Output activation, a key of ``NUMPY_ACTIVATIONS``.
    mean, scale : ndarray of shape (n_features,), default=None
        Standardization applied to ``X`` first, block by block.
    members : tuple of two lists of ndarray, default=None
        A packed ensemble's input and output scales of each layer (then
        each intercept is ``(n_members, units)``): the output is the mean of
        the members' outputs, each after the output activation.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)
        A new array; ``X`` is never modified.
    """
    hidden = NUMPY_ACTIVATIONS[activation]
    output = NUMPY_ACTIVATIONS[out_activation]
    if sp.issparse(X) and mean is not None and members is None:
        # ((X - mean) / scale) @ W + b == X @ (W / scale) + (b - (mean / scale) @ W): X stays sparse.
        kernel = coefs[0] / scale[:, None]
        coefs = [kernel, *coefs[1:]]
        intercepts = [intercepts[0] - mean @ kernel, *intercepts[1:]]
        mean = scale = None
    rows = _block_rows(coefs, X.dtype, X.shape[1], 1 if members is None else len(members[0][0]))
    if X.shape[0] <= rows:  # (a slice: a view of an ndarray, the rows of a RowSubset)
        return _forward_block(X[: X.shape[0]], coefs, intercepts, hidden, output, mean, scale, members)

    out = np.empty((X.shape[0], coefs[-1].shape[1]), dtype=np.result_type(X.dtype, coefs[-1]))

    def run(start):
        out[start : start + rows] = _forward_block(
            X[start : start + rows], coefs, intercepts, hidden, output, mean, scale, members
        )

    starts = range(0, X.shape[0], rows)
    with _BULK_LOCK, _blas_limited_to_one_thread() as limiter:
        # As many threads as BLAS had: this respects limits set by joblib workers.
        n_threads = min(len(starts), max(1, limiter.get_original_num_threads().get("blas") or 1))
        if n_threads == 1:
            for start in starts:
                run(start)
        else:
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(run, starts))
    return out
