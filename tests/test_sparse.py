"""Sparse X (CSR, CSC, ...) wherever MLP takes it: fit, partial_fit, predict, early stopping, lbfgs.

A sparse X is never densified whole: batches are densified when drawn, and
prediction folds the standardization into the first layer.
"""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sksnn import SNNClassifier, SNNRegressor


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=240, n_features=30, n_informative=8, random_state=0)
    X[np.random.RandomState(1).rand(*X.shape) < 0.7] = 0.0  # mostly zeros
    return X, y


def _same_fit(dense, sparse, rtol=1e-9):
    for ours, theirs in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array])
def test_a_sparse_fit_is_the_dense_fit(data, container):
    X, y = data
    params = dict(hidden_layer_sizes=(12,), max_iter=5, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = SNNClassifier(**params).fit(X, y)
        sparse = SNNClassifier(**params).fit(container(X), y)
    _same_fit(dense, sparse)
    np.testing.assert_allclose(sparse.scaler_.mean_, dense.scaler_.mean_)
    np.testing.assert_allclose(sparse.scaler_.scale_, dense.scaler_.scale_)
    # prediction multiplies the sparse matrix: the same probabilities as for dense rows
    np.testing.assert_allclose(sparse.predict_proba(container(X)), dense.predict_proba(X), rtol=1e-10)


def test_sparse_shuffled_training_learns(data):
    X, y = data
    clf = SNNClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0).fit(sp.csr_matrix(X), y)
    dense = SNNClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0).fit(X, y)
    assert clf.score(sp.csr_matrix(X), y) > 0.75  # classes are balanced: 0.5 by chance
    assert clf.score(X, y) == clf.score(sp.csr_matrix(X), y)
    assert abs(clf.score(X, y) - dense.score(X, y)) < 0.05


def test_sparse_partial_fit_and_early_stopping(data):
    X, y = data
    Xs = sp.csr_matrix(X)
    dense, sparse = SNNClassifier(hidden_layer_sizes=(8,), shuffle=False, random_state=0), None
    sparse = SNNClassifier(hidden_layer_sizes=(8,), shuffle=False, random_state=0)
    for _ in range(3):
        dense.partial_fit(X, y, classes=[0, 1])
        sparse.partial_fit(Xs, y, classes=[0, 1])
    _same_fit(dense, sparse)
    params = dict(hidden_layer_sizes=(8,), early_stopping=True, max_iter=8, shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = SNNClassifier(**params).fit(X, y)
        sparse = SNNClassifier(**params).fit(Xs, y)
    assert sparse.validation_scores_ == dense.validation_scores_
    np.testing.assert_allclose(sparse.validation_loss_curve_, dense.validation_loss_curve_, rtol=1e-9)


def test_sparse_lbfgs_is_dense_lbfgs(data):
    X, y = data
    params = dict(solver="lbfgs", hidden_layer_sizes=(6,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = SNNRegressor(**params).fit(X, X[:, 0] + y)
        sparse = SNNRegressor(**params).fit(sp.csr_matrix(X), X[:, 0] + y)
    assert sparse.n_iter_ == dense.n_iter_
    _same_fit(dense, sparse, rtol=1e-6)


def test_sparse_without_standardization(data):
    X, y = data
    params = dict(hidden_layer_sizes=(8,), max_iter=3, shuffle=False, random_state=0, standardize=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = SNNRegressor(**params).fit(X, y.astype(float))
        sparse = SNNRegressor(**params).fit(sp.csr_matrix(X), y.astype(float))
    _same_fit(dense, sparse)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-10)


MEMORY_SCRIPT = """
import json, resource, sys
import numpy as np, scipy.sparse as sp
from sksnn import SNNClassifier
rng = np.random.RandomState(0)
n, d, per_row = 50_000, 20_000, 20  # 0.1% density
columns = np.sort(rng.randint(0, d, size=(n, per_row)), axis=1).ravel()
X = sp.csr_matrix((rng.standard_normal(n * per_row), columns, np.arange(0, n * per_row + 1, per_row)), shape=(n, d))
y = rng.randint(0, 2, 50_000)
SNNClassifier(hidden_layer_sizes=(8,), max_iter=1).fit(X[:300], y[:300])  # the backend's start
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
clf = SNNClassifier(hidden_layer_sizes=(32,), max_iter=1, random_state=0).fit(X, y)
clf.predict(X)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (after - before) / 1024, "dense_mb": X.shape[0] * X.shape[1] * 8 / 2**20}))
"""


@pytest.mark.slow
def test_a_fit_on_an_8_gb_sparse_matrix_stays_small():
    # 50,000 x 20,000 at 0.1% density: 12 MB sparse, 7,600 MB dense
    done = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["dense_mb"] > 7000
    assert report["growth_mb"] < 1024, report
