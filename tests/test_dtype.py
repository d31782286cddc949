"""The ``dtype`` the network trains in, apart from X's dtype (which fitted attributes and predictions keep)."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from sksnn import SNNClassifier, SNNRegressor, _base

X, Y_CLASS = make_classification(n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0)
Y_REG = make_regression(n_samples=120, n_features=6, noise=1.0, random_state=0)[1]
TINY = dict(hidden_layer_sizes=(8, 8), max_iter=5, batch_size=32, random_state=0)


def _target(Estimator):
    return Y_CLASS if Estimator is SNNClassifier else Y_REG


def _float32_values(arrays):
    """Whether every value of ``arrays`` is a float32 number."""
    return all(np.array_equal(a, a.astype(np.float32).astype(a.dtype)) for a in arrays)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", [SNNClassifier, SNNRegressor])
def test_float32_training_keeps_x_dtype_in_fitted_attributes_and_predictions(Estimator):
    y = _target(Estimator)
    model = Estimator(**TINY, dtype="float32").fit(X, y)
    own = Estimator(**TINY, dtype=None).fit(X, y)
    for fitted in (model, own):
        assert {w.dtype for w in (*fitted.coefs_, *fitted.intercepts_)} == {np.dtype(np.float64)}
    predict = model.predict_proba if Estimator is SNNClassifier else model.predict
    assert predict(X).dtype == np.float64
    # The network trained in float32: its weights are float32 numbers; None trained in X's float64.
    assert _float32_values(model.coefs_ + model.intercepts_)
    assert not _float32_values(own.coefs_ + own.intercepts_)
    np.testing.assert_allclose(model.loss_curve_, own.loss_curve_, rtol=1e-3)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", [SNNClassifier, SNNRegressor])
def test_float32_network_of_float64_x_trains_as_on_float32_x(Estimator):
    # The chunks are cast, not X: the same fit as X given in float32, up to
    # where the standardization rounds (in X's dtype, before the cast).
    y = _target(Estimator)
    cast = Estimator(**TINY, dtype="float32").fit(X, y)
    own = Estimator(**TINY).fit(X.astype(np.float32), y)
    assert own.coefs_[0].dtype == np.float32 and cast.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(cast.loss_curve_, own.loss_curve_, rtol=1e-5)
    for a, b in zip(cast.coefs_, own.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", [SNNClassifier, SNNRegressor])
def test_float32_network_continues_in_partial_fit_and_warm_start(Estimator):
    y = _target(Estimator)
    model = Estimator(**TINY, dtype=np.float32).fit(X, y)
    first = [w.copy() for w in model.coefs_]
    model.partial_fit(X, y)
    model.set_params(warm_start=True).fit(X, y)
    assert len(model.loss_curve_) == 5 + 1 + 5
    assert model.coefs_[0].dtype == np.float64 and _float32_values(model.coefs_ + model.intercepts_)
    assert not all(np.array_equal(a, b) for a, b in zip(first, model.coefs_))


def test_float32_network_with_embedding_and_early_stopping():
    # The in-step embedding's constants and the validation rows meet a float32 network.
    Xb, yb = make_regression(n_samples=1200, n_features=5, noise=5.0, random_state=1)
    params = dict(hidden_layer_sizes=(16,), max_iter=8, random_state=0)
    model = SNNRegressor(**params, dtype="float32").fit(Xb, yb)
    own = SNNRegressor(**params, dtype="float64").fit(Xb, yb)
    assert model.embedding_ is not None and len(model.validation_scores_) == model.n_iter_
    assert _float32_values(model.coefs_) and not _float32_values(own.coefs_)
    np.testing.assert_allclose(model.validation_scores_, own.validation_scores_, rtol=1e-4)
    assert model.score(Xb, yb) > 0.9


def test_lbfgs_trains_in_x_dtype():
    model = SNNRegressor(**{**TINY, "solver": "lbfgs"}, dtype="float32").fit(X, Y_REG)
    assert model.coefs_[0].dtype == np.float64 and not _float32_values(model.coefs_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("Estimator", [SNNClassifier, SNNRegressor])
def test_auto_trains_float32_from_the_rule_rows_and_in_x_dtype_below(Estimator):
    rows = _base.AUTO_FLOAT32_ROWS
    Xb, yb = make_classification(n_samples=rows, n_features=4, n_informative=2, random_state=2)
    yb = yb if Estimator is SNNClassifier else Xb @ [1.0, -2.0, 0.5, 3.0]
    params = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, numerical_embedding=None)
    large = Estimator(**params).fit(Xb, yb)
    small = Estimator(**params).fit(Xb[: rows - 1], yb[: rows - 1])
    assert large.get_params()["dtype"] == small.get_params()["dtype"] == "auto"
    assert _float32_values(large.coefs_) and not _float32_values(small.coefs_)
    # a float32 X trains in float32 at any size
    assert Estimator(**params).fit(Xb[:50].astype(np.float32), yb[:50]).coefs_[0].dtype == np.float32
