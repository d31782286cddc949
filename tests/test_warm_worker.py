"""A fit in a process without a backend runs in the warm loky worker of the search that just ran."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from sklearn.datasets import load_iris

from sksnn import SNNClassifier, SNNRegressor, _backend, _warm_worker

SEARCH = """
import os, sys, warnings
import numpy as np
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sksnn import SNNClassifier, _backend

warnings.simplefilter("ignore", ConvergenceWarning)
os.environ["PYTHONWARNINGS"] = "ignore"
X, y = load_iris(return_X_y=True)
search = GridSearchCV(SNNClassifier(hidden_layer_sizes=(8,), max_iter=40, random_state=0), {"alpha": [1e-4, 1e-1]},
                      cv=3, n_jobs=2).fit(X, y)
print("backend started here:", _backend.backend_started())
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    SNNClassifier(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, y)  # in the worker too
print("warning raised here:", any(issubclass(w.category, ConvergenceWarning) for w in caught))
try:
    SNNClassifier().fit(np.where(X > 7, np.nan, X), y)
except ValueError as error:
    print("error raised here:", "NaN" in str(error))
np.save(sys.argv[1], search.best_estimator_.predict_proba(X))
os.environ["SKSNN_FIT_IN_WORKER"] = "0"  # the same fit here, for reference
here = SNNClassifier(**search.best_estimator_.get_params()).fit(X, y)
print("backend started here after:", _backend.backend_started())
np.save(sys.argv[2], here.predict_proba(X))
"""


def test_a_searchs_refit_runs_in_its_warm_worker_and_equals_a_fit_here(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    env.pop("SKSNN_FIT_IN_WORKER", None)
    worker, here = tmp_path / "worker.npy", tmp_path / "here.npy"
    result = subprocess.run(
        [sys.executable, "-c", SEARCH, str(worker), str(here)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "backend started here: False",  # the refit ran in a loky worker
        "warning raised here: True",  # the worker's ConvergenceWarning, raised again here
        "error raised here: True",  # validation errors too
        "backend started here after: True",
    ]
    np.testing.assert_allclose(np.load(worker), np.load(here), rtol=1e-12, atol=1e-12)


class _Executor:
    """Stands for a live loky executor."""


@pytest.fixture
def no_backend_here(monkeypatch):
    """As in a process that has not started the backend, with a live executor."""
    executor = _Executor()
    monkeypatch.setattr(_backend, "backend_started", lambda: False)
    monkeypatch.setattr(_warm_worker, "_idle_executor", lambda: executor)
    monkeypatch.delenv("SKSNN_FIT_IN_WORKER", raising=False)
    return executor


def test_a_plain_fit_of_small_data_goes_to_the_worker(no_backend_here):
    X, y = load_iris(return_X_y=True)
    assert _warm_worker.worker_for(SNNClassifier(random_state=3), X, y, None, False) is no_backend_here
    assert _warm_worker.worker_for(SNNRegressor(), X, y.astype(float), np.ones(150), False) is no_backend_here


@pytest.mark.parametrize(
    "case",
    ["partial_fit", "verbose", "random_state_instance", "warm_start_continuation", "turned_off", "large", "unknown"],
)
def test_what_would_behave_otherwise_in_a_worker_is_fitted_here(no_backend_here, monkeypatch, case):
    X, y = load_iris(return_X_y=True)
    clf, incremental = SNNClassifier(), False
    if case == "partial_fit":
        incremental = True
    elif case == "verbose":
        clf.set_params(verbose=1)  # a worker's prints do not reach a notebook
    elif case == "random_state_instance":
        clf.set_params(random_state=np.random.RandomState(0))  # it would advance there, not here
    elif case == "warm_start_continuation":
        clf.set_params(warm_start=True)
        clf.coefs_ = []
    elif case == "turned_off":
        monkeypatch.setenv("SKSNN_FIT_IN_WORKER", "0")
    elif case == "large":
        X = np.zeros((2**20, 9))  # 72 MB through a pipe
        y = np.zeros(2**20)
    else:
        X = object()
    assert _warm_worker.worker_for(clf, X, y, None, incremental) is None


def test_without_a_live_executor_or_with_a_backend_here_the_fit_is_here(monkeypatch):
    X, y = load_iris(return_X_y=True)
    monkeypatch.setattr(_backend, "backend_started", lambda: False)
    monkeypatch.setattr(_warm_worker, "_idle_executor", lambda: None)
    assert _warm_worker.worker_for(SNNClassifier(), X, y, None, False) is None
    monkeypatch.setattr(_backend, "backend_started", lambda: True)
    monkeypatch.setattr(_warm_worker, "_idle_executor", lambda: _Executor())
    assert _warm_worker.worker_for(SNNClassifier(), X, y, None, False) is None


def test_data_sizes_are_measured_for_numpy_sparse_and_pandas():
    import pandas as pd
    import scipy.sparse as sp

    X = np.zeros((100, 4))
    assert _warm_worker._data_bytes(X, np.zeros(100), None) == 3200 + 800
    assert _warm_worker._data_bytes(sp.csr_matrix(np.eye(10))) == 10 * 8 + 10 * 4 + 11 * 4
    assert _warm_worker._data_bytes(pd.DataFrame(X)) >= 3200
    assert _warm_worker._data_bytes(object()) is None
