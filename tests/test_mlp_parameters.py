"""MLP's parameters, with MLP's meaning: each checked against MLPClassifier/MLPRegressor on the same data.

The exact comparisons start both estimators from the same weights: each is
fitted one epoch, MLP is given sksnn's weights (and its loss history, so the
stopping rules see the same past), then both continue with ``warm_start``,
which starts a fresh solver on both sides. Full batches in a fixed order,
float64, no scaling: every later update must be the same, up to rounding.
"""

import inspect
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sksnn import SNNClassifier, SNNRegressor, _trainer


def _data(poisson=False):
    X, y = make_regression(n_samples=64, n_features=5, noise=5.0, random_state=0)
    X /= X.std(axis=0)
    if poisson:
        y = np.random.RandomState(0).poisson(np.exp(0.8 * X[:, 0] + 0.3)).astype(float)
    else:
        y /= y.std()
    return X, y


def _continue_from_the_same_weights(params, epochs, poisson=False):
    """``(sksnn, mlp)`` after ``epochs`` warm-started epochs from the same weights."""
    X, y = _data(poisson)
    common = dict(
        hidden_layer_sizes=(7,),
        activation="relu",  # exact on both backends (XLA's fused tanh on JAX is ~1e-9 off NumPy's)
        batch_size=len(y),
        shuffle=False,
        random_state=0,
        **{"alpha": 1e-4, **params},  # MLP's default (sksnn's is 1e-2)
    )
    snn = SNNRegressor(standardize=False, **common)
    mlp = MLPRegressor(**common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        snn.set_params(max_iter=1).fit(X, y)
        mlp.set_params(max_iter=1).fit(X, y)
        mlp.coefs_ = [c.copy() for c in snn.coefs_]
        mlp.intercepts_ = [b.copy() for b in snn.intercepts_]
        mlp.loss_curve_, mlp.best_loss_ = list(snn.loss_curve_), snn.best_loss_
        assert mlp._no_improvement_count == snn._no_improvement_count
        snn.set_params(warm_start=True, max_iter=epochs).fit(X, y)
        mlp.set_params(warm_start=True, max_iter=epochs).fit(X, y)
    return snn, mlp


def _assert_same_fit(snn, mlp, rtol=1e-10):
    # Keras keeps the learning rate in a float32 variable, and on TensorFlow
    # casts Python floats (momentum, betas) through float32: the values here
    # are exact in float32, except the rates a schedule computes (rtol 1e-6).
    # The weights are MLP's to rounding on both backends; the loss JAX reports
    # is ~1e-9 off the loss of those weights (TensorFlow's is exact).
    assert snn.n_iter_ == mlp.n_iter_
    np.testing.assert_allclose(snn.loss_curve_, mlp.loss_curve_, rtol=max(rtol, 1e-7))
    for ours, theirs in zip(snn.coefs_ + snn.intercepts_, mlp.coefs_ + mlp.intercepts_, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol)


LR = 2.0**-4
# float32-exact stand-ins for MLP's defaults momentum=0.9, beta_1=0.9, beta_2=0.999
MOMENTUM, BETA_1, BETA_2 = 0.875, 0.875, 1 - 2.0**-10


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "sgd", "learning_rate_init": LR, "momentum": MOMENTUM},  # with Nesterov's, as by default
        {"solver": "sgd", "learning_rate_init": LR, "momentum": 0.5, "nesterovs_momentum": False},
        {"solver": "sgd", "learning_rate_init": LR, "momentum": 0.0},
        {"solver": "adam", "learning_rate_init": LR / 8, "beta_1": BETA_1, "beta_2": BETA_2},
        {"solver": "adam", "learning_rate_init": LR / 8, "beta_1": 0.5, "beta_2": 0.75, "epsilon": 1e-3},
        # a schedule is ignored by adam, as by MLP
        {"solver": "adam", "learning_rate_init": LR / 8, "beta_1": 0.5, "beta_2": 0.75, "learning_rate": "invscaling"},
    ],
    ids=str,
)
def test_solver_updates_are_mlps(params):
    snn, mlp = _continue_from_the_same_weights({"alpha": 1e-3, **params}, epochs=8)
    _assert_same_fit(snn, mlp)


def test_invscaling_learning_rate_is_mlps():
    params = {"solver": "sgd", "momentum": MOMENTUM, "learning_rate_init": 0.2, "learning_rate": "invscaling"}
    params["power_t"] = 0.3
    snn, mlp = _continue_from_the_same_weights(params, epochs=8)
    _assert_same_fit(snn, mlp, rtol=1e-6)
    # the schedule ran: a constant 0.2 ends elsewhere
    constant, _ = _continue_from_the_same_weights({**params, "learning_rate": "constant"}, epochs=8)
    assert np.abs(constant.coefs_[0] - snn.coefs_[0]).max() > 1e-3


def test_adaptive_learning_rate_divides_by_five_and_stops_as_mlp():
    # tol so large that no epoch improves: with n_iter_no_change=1 the rate
    # falls by 5 every second epoch (1e-5, 2e-6, 4e-7), and training stops
    # when it is at most 1e-6: after 6 epochs on both sides, not 50.
    params = {"solver": "sgd", "momentum": MOMENTUM, "learning_rate": "adaptive", "learning_rate_init": 1e-5}
    params["tol"] = 1e9
    snn, mlp = _continue_from_the_same_weights({**params, "n_iter_no_change": 1}, epochs=50)
    assert mlp.n_iter_ == 6
    _assert_same_fit(snn, mlp, rtol=1e-6)


def test_adaptive_learning_rate_says_what_mlp_says(capsys):
    params = {"solver": "sgd", "learning_rate": "adaptive", "learning_rate_init": 1e-5, "tol": 1e9}
    X, y = _data()
    SNNRegressor(hidden_layer_sizes=(3,), n_iter_no_change=1, max_iter=50, verbose=True, **params).fit(X, y)
    ours = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("Iteration")]
    MLPRegressor(hidden_layer_sizes=(3,), n_iter_no_change=1, max_iter=50, verbose=True, **params).fit(X, y)
    theirs = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("Iteration")]
    assert ours == theirs and len(ours) == 3
    assert ours[0].endswith("Setting learning rate to 0.000002") and ours[-1].endswith("too small. Stopping.")


MLP_HAS_POISSON = "loss" in MLPRegressor().get_params()  # scikit-learn >= 1.7


@pytest.mark.skipif(not MLP_HAS_POISSON, reason="MLPRegressor(loss='poisson') is new in scikit-learn 1.7")
def test_poisson_loss_is_mlps():
    params = {"loss": "poisson", "solver": "sgd", "momentum": 0.5, "learning_rate_init": LR / 8}
    snn, mlp = _continue_from_the_same_weights(params, 8, poisson=True)
    assert snn.out_activation_ == mlp.out_activation_ == "exp"
    assert snn.target_scaler_ is None  # counts keep their scale
    _assert_same_fit(snn, mlp)
    X, _ = _data(poisson=True)
    np.testing.assert_allclose(snn.predict(X), mlp.predict(X), rtol=1e-10)
    assert (snn.predict(X) > 0).all()


def test_poisson_refuses_negative_targets():
    X, y = _data()
    with pytest.raises(ValueError, match="negative"):
        SNNRegressor(loss="poisson", max_iter=2).fit(X, y)


def test_poisson_fits_counts_better_than_a_constant():
    from sklearn.metrics import mean_poisson_deviance

    X, y = _data(poisson=True)
    reg = SNNRegressor(loss="poisson", hidden_layer_sizes=(16,), max_iter=100, random_state=0).fit(X, y)
    constant = mean_poisson_deviance(y, np.full_like(y, y.mean()))
    assert mean_poisson_deviance(y, reg.predict(X)) < 0.8 * constant


@pytest.mark.parametrize("solver", ["nadam", "adam", "adamw", "rmsprop"])
def test_moment_parameters_reach_the_keras_optimizer(solver):
    _trainer._POOL.clear()
    X, y = _data()
    params = {"beta_1": 0.5, "beta_2": 0.75, "epsilon": 0.125} if solver != "rmsprop" else {"epsilon": 0.125}
    SNNRegressor(hidden_layer_sizes=(3,), solver=solver, max_iter=1, **params).fit(X, y)
    (trainer,) = [t for _, t in _trainer._POOL._idle]
    for name, value in params.items():
        assert getattr(trainer.optimizer, name) == value


def test_epsilon_default_is_mlps_not_keras():
    assert SNNClassifier().epsilon == MLPClassifier().epsilon == 1e-8


def test_every_mlp_parameter_is_accepted_with_mlps_default():
    # A grid written for MLP sets only names sksnn knows; where sksnn keeps
    # MLP's default (all but the architecture, the activation, the solver,
    # alpha, early_stopping ('auto', whose True and False are MLP's) and the
    # classifier's tol, chosen on the UCI benchmarks: docs/defaults.md).
    differs = {"hidden_layer_sizes", "activation", "solver", "alpha", "max_fun", "early_stopping"}
    for ours, theirs in [(SNNClassifier(), MLPClassifier()), (SNNRegressor(), MLPRegressor())]:
        mlp_params = theirs.get_params()
        missing = set(mlp_params) - set(ours.get_params()) - {"max_fun"}
        assert not missing
        classifier_differs = {"tol"} if isinstance(ours, SNNClassifier) else set()
        for name in set(mlp_params) - differs - classifier_differs:
            assert ours.get_params()[name] == mlp_params[name], name
        assert ours.alpha == 1e-2 and theirs.alpha == 1e-4
        assert ours.early_stopping == "auto" and theirs.early_stopping is False
    assert SNNClassifier().tol == 3e-4 and SNNRegressor().tol == MLPRegressor().tol == 1e-4


@pytest.mark.parametrize(
    "params", [{"momentum": 1.5}, {"beta_1": 1.0}, {"beta_2": -0.1}, {"epsilon": 0.0}, {"power_t": -1.0}]
)
def test_out_of_range_parameters_fail_as_in_mlp(params):
    X, y = _data()
    with pytest.raises(ValueError) as mlp_error:
        MLPRegressor(**params).fit(X, y)
    with pytest.raises(ValueError) as our_error:
        SNNRegressor(**params).fit(X, y)
    name = next(iter(params))
    assert f"'{name}' parameter of SNNRegressor must be" in str(our_error.value)
    assert str(our_error.value).split(" must be ")[1] == str(mlp_error.value).split(" must be ")[1]


def test_int_parameters_work_where_mlp_takes_floats():
    X, y = _data()
    _trainer._POOL.clear()
    reg = SNNRegressor(hidden_layer_sizes=(4,), solver="sgd", momentum=0, beta_1=0, epsilon=1, max_iter=2).fit(X, y)
    assert np.isfinite(reg.loss_)


# ------------------------------------------------------------------ lbfgs
def _lbfgs_pair(estimators, X, y, max_iter, **params):
    """``(sksnn, mlp)``: L-BFGS from the same weights (sksnn's after one iteration), ``max_iter`` more."""
    common = dict(hidden_layer_sizes=(6,), activation="relu", solver="lbfgs", random_state=0, **params)
    snn, mlp = estimators[0](standardize=False, **common), estimators[1](**common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        snn.set_params(max_iter=1).fit(X, y)
        mlp.set_params(max_iter=1).fit(X, y)
    mlp.coefs_ = [c.copy() for c in snn.coefs_]
    mlp.intercepts_ = [b.copy() for b in snn.intercepts_]
    snn.set_params(warm_start=True, max_iter=max_iter).fit(X, y)
    mlp.set_params(warm_start=True, max_iter=max_iter).fit(X, y)
    return snn, mlp


@pytest.mark.parametrize("alpha", [0.0, 1e-2])
def test_lbfgs_iterates_are_mlps(alpha):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        snn, mlp = _lbfgs_pair((SNNRegressor, MLPRegressor), X, y, max_iter=15, alpha=alpha)
    assert snn.n_iter_ == mlp.n_iter_ == 15
    np.testing.assert_allclose(snn.loss_, mlp.loss_, rtol=1e-7)
    for ours, theirs in zip(snn.coefs_ + snn.intercepts_, mlp.coefs_ + mlp.intercepts_, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(
    "sample_weight" not in inspect.signature(MLPClassifier.fit).parameters,
    reason="MLP's sample_weight is new in scikit-learn 1.7",
)
def test_lbfgs_classifier_with_sample_weights_is_mlps():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    snn = SNNClassifier(solver="lbfgs", standardize=False, label_smoothing=0.0)  # MLP's loss
    mlp = MLPClassifier(solver="lbfgs")
    common = dict(hidden_layer_sizes=(5,), activation="tanh", random_state=0, alpha=1e-3)
    snn.set_params(**common), mlp.set_params(**common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        snn.set_params(max_iter=1).fit(X, y, sample_weight=weights)
        mlp.set_params(max_iter=1).fit(X, y, sample_weight=weights)
        mlp.coefs_, mlp.intercepts_ = [c.copy() for c in snn.coefs_], [b.copy() for b in snn.intercepts_]
        snn.set_params(warm_start=True, max_iter=10).fit(X, y, sample_weight=weights)
        mlp.set_params(warm_start=True, max_iter=10).fit(X, y, sample_weight=weights)
    # tanh: XLA's on JAX is ~1e-9 off NumPy's, so compare the loss and the predictions
    np.testing.assert_allclose(snn.loss_, mlp.loss_, rtol=1e-5)
    np.testing.assert_allclose(snn.predict_proba(X), mlp.predict_proba(X), atol=1e-4)


def test_lbfgs_stops_at_max_iter_with_mlps_warning_and_max_fun():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):  # MLP's words, of each version
        reg = SNNRegressor(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=3).fit(X, y)
    assert reg.n_iter_ == 3 and not hasattr(reg, "loss_curve_")
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        SNNRegressor(solver="lbfgs", hidden_layer_sizes=(4,), max_iter=100, max_fun=5).fit(X, y)


def test_lbfgs_fits_small_data_well():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    clf = SNNClassifier(solver="lbfgs", hidden_layer_sizes=(10,), random_state=0, max_iter=500).fit(X, y)
    assert clf.score(X, y) > 0.97


def test_lbfgs_has_no_partial_fit_as_in_mlp():
    ours, theirs = SNNClassifier(solver="lbfgs"), MLPClassifier(solver="lbfgs")
    assert not hasattr(ours, "partial_fit") and not hasattr(theirs, "partial_fit")
    with pytest.raises(AttributeError) as our_error:
        getattr(ours, "partial_fit")  # noqa: B009
    with pytest.raises(AttributeError) as mlp_error:
        getattr(theirs, "partial_fit")  # noqa: B009
    assert str(our_error.value).replace("SNNClassifier", "") == str(mlp_error.value).replace("MLPClassifier", "")
