"""A fit in a process without a backend, sent to the warm worker of the search that just ran.

``GridSearchCV(SNNClassifier(), ..., n_jobs=k)`` trains its candidates in
joblib's loky workers, which import the backend and compile the network; it
then refits the best candidate in the parent process, which has neither:
that refit paid the backend's import and a compilation again (3 s on JAX, 6
s on TensorFlow of a ~10-20 s search of digits on 2 cores). loky keeps its
workers alive after the search (for ``idle_worker_timeout``, 300 s), backend
and compiled networks included. So a plain ``fit`` in a process that has not
started the backend, while such an executor is alive, runs in one of those
workers and brings back the fitted estimator: the same computation (the same
seeds, data and code), in a process that is ready for it.

Only what behaves the same there is sent: a first-pass ``fit`` (not
``partial_fit``, not a ``warm_start`` continuation), ``verbose=0`` (a
worker's prints do not reach a notebook), an int or None ``random_state`` (a
``RandomState`` instance would advance in the worker, not here), and data
under 64 MB (it travels through a pipe). The worker's warnings are raised
again here. ``SKSNN_FIT_IN_WORKER=0`` turns it off.
"""

import os
import sys
import warnings
from numbers import Integral

_MAX_BYTES = 64 * 2**20


def _enabled():
    return os.environ.get("SKSNN_FIT_IN_WORKER", "1").strip().lower() not in {"0", "off", "false", "no"}


def _data_bytes(*arrays):
    """Bytes of the arrays as they will be pickled, or None if one is of a kind not measured here."""
    import numpy as np
    import scipy.sparse as sp

    total = 0
    for a in arrays:
        if a is None:
            continue
        if isinstance(a, np.ndarray):
            total += a.nbytes
        elif sp.issparse(a):
            total += sum(getattr(a, name).nbytes for name in ("data", "indices", "indptr") if hasattr(a, name))
        elif hasattr(a, "memory_usage"):  # pandas
            total += int(np.sum(a.memory_usage(index=True, deep=True)))  # a Series' is a number
        elif isinstance(a, list | tuple):
            total += sys.getsizeof(a) * 8  # a rough bound: lists of Python numbers or strings
        else:
            return None
    return total


def _idle_executor():
    """joblib's reusable loky executor if one is alive in this process, else None."""
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:
        return None
    executor = getattr(reusable_executor, "_executor", None)
    flags = getattr(executor, "_flags", None)
    if executor is None or flags is None or flags.shutdown or flags.broken:
        return None
    return executor


def worker_for(estimator, X, y, sample_weight, incremental):
    """The executor a ``fit`` of ``estimator`` should run in, or None to fit in this process."""
    from ._backend import backend_started

    if backend_started() or incremental or not _enabled():
        return None
    if estimator.verbose or (estimator.warm_start and hasattr(estimator, "coefs_")):
        return None
    if not (estimator.random_state is None or isinstance(estimator.random_state, Integral)):
        return None
    size = _data_bytes(X, y, sample_weight)
    if size is None or size > _MAX_BYTES:
        return None
    return _idle_executor()


def _fit_here(estimator, X, y, sample_weight):
    """In the worker: fit, and hand back the estimator and the warnings raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(X, y, sample_weight=sample_weight)
    return estimator, [(w.category, str(w.message)) for w in caught]


def fit_in(executor, estimator, X, y, sample_weight):
    """Fit a copy of ``estimator`` in ``executor``'s worker; ``estimator`` takes its fitted state."""
    fitted, caught = executor.submit(_fit_here, estimator, X, y, sample_weight).result()
    vars(estimator).clear()
    vars(estimator).update(vars(fitted))
    for category, message in caught:
        warnings.warn(message, category, stacklevel=4)
    return estimator
