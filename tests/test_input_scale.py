"""The learned input scale (``learned_input_scale``): a factor per input, trained, folded into ``coefs_[0]``."""

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from sksnn import SNNClassifier, SNNRegressor, _trainer
from sksnn._backend import precision
from sksnn._inference import forward, output_loss
from sksnn._network import variable_values

Xr, yr = make_regression(300, 6, noise=5.0, random_state=0)
X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
SPEC = dict(kernel_initializer="lecun_normal", output_initializer="lecun_normal", dropout=0.0, activation="selu")


@pytest.mark.filterwarnings("error::DeprecationWarning")
@pytest.mark.parametrize("n_members", [1, 3])
@pytest.mark.parametrize("components", [None, ([0, 0, 2], np.random.RandomState(1).uniform(0.5, 1.5, (4, 3)))])
def test_the_trained_factors_are_folded_into_the_first_kernel_and_start_again_at_one(n_members, components):
    # What the training network computes with learned factors c (x * c
    # through the first layer) is what the folded weights compute in NumPy;
    # the weights loaded back reproduce it with every factor at 1.
    spec = dict(SPEC, hidden_layer_sizes=(8, 8), n_members=n_members)
    with (
        precision("float64"),
        _trainer.trainer_for(
            spec, n_features=5, n_outputs=2, loss="squared_error", solver="adam", solver_params={},
            learning_rate=1e-3, alpha=0.0, dtype="float64", seed=0, work_rows=100, components=components,
            input_scale=True,
        ) as trainer,
    ):  # fmt: skip
        factor = trainer.input_scale_factor

        def outputs():  # the members' mean of the two real outputs
            return np.asarray(trainer(x)).reshape(7, n_members, -1)[..., :2].mean(axis=1)

        assert np.allclose(variable_values([factor])[0] * _trainer.INPUT_SCALE_SPEED, 1.0)  # every factor starts at 1
        assert any(v is factor for v in trainer.trainable_variables)
        x = np.random.RandomState(0).standard_normal((7, trainer.input_width))
        x[:, 5:] = 0.0  # padding columns
        before = outputs()
        factor.assign(np.random.RandomState(2).uniform(0.2, 3.0, factor.shape) / _trainer.INPUT_SCALE_SPEED)
        scaled = outputs()
        assert np.abs(scaled - before).max() > 1e-3  # the factors change what the network computes
        coefs, intercepts, members = trainer.dense_weights()
        network_input = _network_input(x[:, :5], components)
        np.testing.assert_allclose(forward(network_input, coefs, intercepts, "selu", "identity", members=members),
                                   scaled, rtol=1e-10, atol=1e-12)  # fmt: skip
        trainer.load_dense_weights(coefs, intercepts, members)
        assert np.allclose(variable_values([factor])[0] * _trainer.INPUT_SCALE_SPEED, 1.0)
        np.testing.assert_allclose(outputs(), scaled, rtol=1e-10, atol=1e-12)


def _network_input(x, components):
    """The data's inputs of the network: X's columns, then the embedding's components (as ``TrainingNetwork.call``)."""
    if components is None:
        return x
    column, (scale, shift, out_scale, out_shift) = components
    return np.hstack([x, np.clip(x[:, column] * scale + shift, 0, 1) * out_scale + out_shift])


@pytest.mark.filterwarnings("error::DeprecationWarning")  # reading the factors is quiet (NumPy 2's __array__)
def test_a_fit_learns_the_factors_and_the_fitted_network_computes_its_own_loss():
    params = dict(hidden_layer_sizes=(16,), batch_size=30, max_iter=30, random_state=0)
    plain = SNNRegressor(**params).fit(Xr, yr)
    scaled = SNNRegressor(**params, learned_input_scale=True).fit(Xr, yr)
    assert [w.shape for w in scaled.coefs_] == [w.shape for w in plain.coefs_]
    assert np.abs(scaled.coefs_[0] - plain.coefs_[0]).max() > 1e-3
    assert scaled.score(Xr, yr) > 0.95 and plain.score(Xr, yr) > 0.95
    # One full batch from the fitted weights at a vanishing learning rate:
    # the epoch's loss is the loss of the fitted (folded) network.
    scaled.set_params(warm_start=True, max_iter=1, batch_size=len(Xr), alpha=0.0, shuffle=False,
                      learning_rate_init=1e-12, early_stopping=False)  # fmt: skip
    Y = scaled.target_scaler_.transform(yr.reshape(-1, 1)) if scaled.target_scaler_ is not None else yr[:, None]
    inputs = scaled.scaler_.transform(Xr)
    expected = output_loss(forward(inputs, scaled.coefs_, scaled.intercepts_, "selu", "identity"), Y, None, "identity")
    with pytest.warns(ConvergenceWarning):
        scaled.fit(Xr, yr)
    assert scaled.loss_ == pytest.approx(expected, rel=1e-6)


def test_partial_fit_and_warm_start_continue_from_the_folded_weights():
    est = SNNClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0, learned_input_scale=True)
    est.partial_fit(X, y, classes=[0, 1, 2])
    first = est.loss_
    for _ in range(5):
        est.partial_fit(X, y)
    assert est.t_ == 6 * len(X) and est.loss_ < first
    warm = SNNClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0, warm_start=True,
                         learned_input_scale=True)  # fmt: skip
    with pytest.warns(Warning):
        warm.fit(X, y)
    loss = warm.loss_
    with pytest.warns(Warning):
        warm.fit(X, y)
    assert warm.loss_ < loss  # continued, not restarted


def test_the_pool_compiles_a_network_of_its_own_for_the_scale():
    _trainer._POOL.clear()
    for learned in (False, True, False, True):
        with pytest.warns(Warning):
            SNNRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0, learned_input_scale=learned).fit(Xr, yr)
    idle = [key for key, _ in _trainer._POOL._idle]
    assert len(idle) == 2 and {key[-1] for key in idle} == {False, True}


def test_lbfgs_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="learned_input_scale=True learns with a minibatch solver"):
        SNNRegressor(solver="lbfgs", learned_input_scale=True).fit(Xr, yr)
    with pytest.raises(InvalidParameterError, match="learned_input_scale"):
        SNNRegressor(learned_input_scale="yes").fit(Xr, yr)


@pytest.mark.parametrize(
    ("Estimator", "value", "rows", "learns"),
    [
        (SNNRegressor, "auto", 1000, True),
        (SNNRegressor, "auto", 999, False),
        (SNNClassifier, "auto", 1000, False),
        (SNNClassifier, True, 50, True),
        (SNNRegressor, False, 1000, False),
    ],
)
def test_auto_learns_the_scale_in_regression_from_1000_rows(monkeypatch, Estimator, value, rows, learns):
    asked = []
    original = _trainer.trainer_for

    def recording(*args, **kwargs):
        asked.append(kwargs["input_scale"])
        return original(*args, **kwargs)

    monkeypatch.setattr(_trainer, "trainer_for", recording)  # (imported by the fit)
    make = make_regression if Estimator is SNNRegressor else make_classification
    Xa, ya = make(rows, 4, random_state=0)
    with pytest.warns(Warning):
        Estimator(hidden_layer_sizes=(8,), max_iter=1, random_state=0, learned_input_scale=value).fit(Xa, ya)
    assert asked == [learns]
    assert SNNRegressor().learned_input_scale == "auto" and SNNClassifier().learned_input_scale is False


def test_auto_is_no_error_with_lbfgs():
    est = SNNRegressor(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with pytest.warns(Warning):
        est.fit(*make_regression(1000, 4, random_state=0))
    assert est.learned_input_scale == "auto" and est.n_iter_ >= 1
