import numpy as np
import pytest
from sklearn.datasets import make_regression

from sksnn import SNNRegressor

SMALL = {"hidden_layer_sizes": (32, 32), "max_iter": 60, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    return X, y


def test_predictions_are_in_the_targets_original_units(data):
    X, y = data
    y_big = 1e6 + 1e4 * y
    reg = SNNRegressor(**SMALL).fit(X, y_big)
    pred = reg.predict(X)
    assert pred.shape == (200,)
    assert abs(pred.mean() - y_big.mean()) < 0.1 * y_big.std()
    assert reg.score(X, y_big) > 0.9
    np.testing.assert_allclose(reg.target_scaler_.mean_, [y_big.mean()])
    assert reg.out_activation_ == "identity"


def test_two_dimensional_targets(data):
    X, y = data
    Y = np.column_stack([y, -2 * y + 5])
    reg = SNNRegressor(**SMALL).fit(X, Y)
    assert reg.n_outputs_ == 2
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.9


def test_without_standardization_there_are_no_scalers(data):
    X, y = data
    reg = SNNRegressor(**{**SMALL, "max_iter": 5}, standardize=False).fit(X, y / 100)
    assert reg.scaler_ is None and reg.target_scaler_ is None
    assert np.isfinite(reg.predict(X)).all()


def test_partial_fit_one_epoch_per_call(data):
    X, y = data
    reg = SNNRegressor(hidden_layer_sizes=(16,), batch_size=20, random_state=0)
    losses = [reg.partial_fit(X, y).loss_ for _ in range(10)]
    assert reg.n_iter_ == 1 and reg.t_ == 2000
    assert losses[-1] < losses[0]


def test_divergence_raises_a_clear_error():
    rng = np.random.RandomState(0)
    X = rng.standard_normal((100, 3)) * 1e150
    y = rng.standard_normal(100) * 1e150
    with pytest.raises(ValueError, match="diverged|non-finite"):
        SNNRegressor(hidden_layer_sizes=(4,), max_iter=5, standardize=False, random_state=0).fit(X, y)
