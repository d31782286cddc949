"""The 'lbfgs' solver: MLP's full-batch L-BFGS-B, with the loss and its gradient computed on the backend.

``scipy.optimize.minimize(method="L-BFGS-B")`` moves one flat float64 vector
of every kernel and bias, with MLP's options (``maxiter=max_iter``,
``maxfun=max_fun``, ``gtol=tol``) and MLP's convergence warning. Each
evaluation runs the Dense stack over the whole training set and returns MLP's
penalized loss (``_losses.LOSSES`` plus ``alpha / 2 * ||W||^2 / sum(w)``)
and its gradient, in one compiled function of the backend (``jax.jit``, or a
``tf.function``), traced once per shape and reused by later fits. AlphaDropout
is not applied: L-BFGS needs a deterministic objective.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import functools  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from keras import ops  # noqa: E402
from sklearn.utils.optimize import _check_optimize_result  # noqa: E402

from ._activations import KERAS_ACTIVATIONS  # noqa: E402
from ._losses import LOSSES, weighted_loss_sum  # noqa: E402


def _first_layer(x, kernel, bias, standardization):
    """``standardize(x) @ kernel + bias``; a sparse x (with its standardization) stays sparse."""
    if standardization is None:
        return ops.add(ops.matmul(x, kernel), bias)
    mean, scale = standardization
    # ((x - mean) / scale) @ W == x @ (W / scale) - (mean / scale) @ W
    folded = kernel / ops.expand_dims(scale, 1)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        product = tf.sparse.sparse_dense_matmul(x, folded)
    else:
        product = x @ folded  # a jax.experimental.sparse.BCOO
    return product - ops.matmul(ops.expand_dims(mean, 0), folded) + bias


def _objective(weights, x, y, sample_weight, alpha, total_weight, standardization, *, activation, data_loss):
    """MLP's penalized loss of the Dense stack ``weights`` = [kernel, bias, kernel, bias, ...] (logits out)."""
    hidden = keras.activations.get(KERAS_ACTIVATIONS[activation])
    n_layers = len(weights) // 2
    out = _first_layer(x, weights[0], weights[1], standardization)
    for i in range(1, n_layers):  # the hidden activation, then the next layer: the last gives logits
        out = ops.add(ops.matmul(hidden(out), weights[2 * i]), weights[2 * i + 1])
    loss = weighted_loss_sum(data_loss, y, out, sample_weight) / total_weight
    squared_norm = sum(ops.sum(ops.square(kernel)) for kernel in weights[0::2])
    return loss + 0.5 * alpha * squared_norm / total_weight


@functools.lru_cache(maxsize=16)
def _loss_and_gradient(backend, activation, loss, dtype):
    """A compiled ``f(weights, x, y, sample_weight, alpha, total_weight, standardization) -> (loss, gradients)``."""
    objective = functools.partial(_objective, activation=activation, data_loss=LOSSES[loss](dtype))
    if backend == "jax":
        import jax

        return jax.jit(jax.value_and_grad(objective))
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def loss_and_gradient(weights, *data):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            value = objective(weights, *data)
        return value, tape.gradient(value, weights)

    return loss_and_gradient


class LbfgsProgress:
    """What an L-BFGS fit reports, in the shape of ``_stopping.TrainingProgress``."""

    stopped_early = False
    best_weights = None

    def __init__(self, n_iter, loss, previous_t):
        self.n_iter = n_iter
        self.loss = loss
        self.diverged = not np.isfinite(loss)
        self.t = previous_t

    def fitted_attributes(self):
        # As MLP's lbfgs: no loss curve, no stopping state; t_ is the stochastic solvers' count.
        return {"n_iter_": self.n_iter, "loss_": self.loss, "t_": self.t}


def _sparse_tensor(X):
    """A CSR matrix as the backend's sparse tensor."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        coo = X.tocoo()
        indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
        return tf.sparse.reorder(tf.sparse.SparseTensor(indices, coo.data, coo.shape))
    from jax.experimental import sparse

    return sparse.BCOO.from_scipy_sparse(X)


def fit_lbfgs(
    weights, X, Y, sample_weight, *, activation, loss, alpha, max_iter, max_fun, tol, previous_t=0, standardization=None
):
    """Minimize MLP's loss over ``weights`` (the initial [kernel, bias, ...]) on the whole of ``X``, ``Y``.

    A dense ``X`` is standardized already; a sparse one (CSR) comes with its
    ``standardization`` ``(mean, scale)`` (or None), applied on the backend
    without densifying it. Returns ``(LbfgsProgress, (coefs, intercepts))``.
    """
    dtype = X.dtype
    shapes = [w.shape for w in weights]
    bounds = np.cumsum([0] + [int(np.prod(s)) for s in shapes])
    compute = _loss_and_gradient(keras.backend.backend(), activation, loss, dtype.name)
    total_weight = float(X.shape[0] if sample_weight is None else sample_weight.sum())
    sw = np.ones(X.shape[0], dtype=dtype) if sample_weight is None else sample_weight.astype(dtype, copy=False)
    x = _sparse_tensor(X) if sp.issparse(X) else ops.convert_to_tensor(X)
    data = (x, *(ops.convert_to_tensor(a) for a in (Y.astype(dtype, copy=False), sw)))
    constants = (
        ops.convert_to_tensor(np.asarray(alpha, dtype)),
        ops.convert_to_tensor(np.asarray(total_weight, dtype)),
        None if standardization is None else tuple(ops.convert_to_tensor(v) for v in standardization),
    )

    def unpack(flat):
        return [flat[a:b].reshape(s).astype(dtype) for a, b, s in zip(bounds[:-1], bounds[1:], shapes)]

    def loss_and_gradient(flat):
        value, gradients = compute([ops.convert_to_tensor(w) for w in unpack(flat)], *data, *constants)
        flat_gradient = np.concatenate([np.ravel(ops.convert_to_numpy(g)) for g in gradients])
        return float(ops.convert_to_numpy(value)), flat_gradient.astype(np.float64)

    result = scipy.optimize.minimize(
        loss_and_gradient,
        np.concatenate([np.ravel(w) for w in weights]).astype(np.float64),
        method="L-BFGS-B",
        jac=True,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )
    n_iter = _check_optimize_result("lbfgs", result, max_iter)  # MLP's ConvergenceWarning
    fitted = unpack(result.x)
    return LbfgsProgress(n_iter, float(result.fun), previous_t), (fitted[0::2], fitted[1::2])
