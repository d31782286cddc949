"""Hostile inputs, divergence, interruption and concurrency.

Every bad input gets a scikit-learn style error (type and a message naming the
problem) or a documented safe result; nothing reaches Keras half-checked.
"""

import threading

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from sksnn import SNNClassifier, SNNRegressor

TINY = {"hidden_layer_sizes": (4,), "max_iter": 2, "random_state": 0}
rng = np.random.RandomState(0)
X = rng.standard_normal((30, 3))
Y_CLASS = np.arange(30) % 3
Y_REG = X[:, 0] + 0.1 * rng.standard_normal(30)


def _with(value, row=0, col=0, dtype=None):
    out = X.astype(dtype or X.dtype)
    out[row, col] = value
    return out


# (id, estimator class, X, y, fit keyword arguments, exception type, message pattern)
BAD_FIT_INPUTS = [
    ("nan-feature", SNNClassifier, _with(np.nan), Y_CLASS, {}, ValueError, "NaN"),
    ("inf-feature", SNNRegressor, _with(np.inf), Y_REG, {}, ValueError, "infinity"),
    ("complex-features", SNNClassifier, X + 1j, Y_CLASS, {}, ValueError, "[Cc]omplex"),
    ("string-features", SNNClassifier, X.astype(str).astype(object) + "x", Y_CLASS, {}, ValueError, "convert"),
    ("object-features", SNNRegressor, np.array([[{}, 1.0]] * 30, dtype=object), Y_REG, {}, TypeError, "dict"),
    ("empty-X", SNNClassifier, X[:0], Y_CLASS[:0], {}, ValueError, "0 sample"),
    ("no-features", SNNRegressor, X[:, :0], Y_REG, {}, ValueError, "0 feature"),
    ("1d-X", SNNClassifier, X[:, 0], Y_CLASS, {}, ValueError, "Expected 2D array"),
    ("3d-X", SNNRegressor, X[:, :, None], Y_REG, {}, ValueError, "dim 3"),
    ("y-wrong-length", SNNClassifier, X, Y_CLASS[:-1], {}, ValueError, "inconsistent numbers of samples"),
    ("continuous-y-classifier", SNNClassifier, X, Y_REG, {}, ValueError, "Unknown label type"),
    ("nan-in-y-regressor", SNNRegressor, X, np.where(Y_REG > 1, np.nan, Y_REG), {}, ValueError, "NaN"),
    ("inf-in-y-regressor", SNNRegressor, X, np.where(Y_REG > 1, np.inf, Y_REG), {}, ValueError, "infinity"),
    ("nan-in-sparse-X", SNNClassifier, "sparse with NaN", Y_CLASS, {}, ValueError, "NaN"),
    ("sample-weight-shape", SNNRegressor, X, Y_REG, {"sample_weight": np.ones(29)}, ValueError, "sample_weight"),
    (
        "sample-weight-2d",
        SNNClassifier,
        X,
        Y_CLASS,
        {"sample_weight": np.ones((30, 2))},
        ValueError,
        "(?i)sample.weight",
    ),
    ("sample-weight-negative", SNNRegressor, X, Y_REG, {"sample_weight": -np.ones(30)}, ValueError, "[Nn]egative"),
    ("sample-weight-all-zero", SNNClassifier, X, Y_CLASS, {"sample_weight": np.zeros(30)}, ValueError, "non-zero"),
    ("sample-weight-nan", SNNRegressor, X, Y_REG, {"sample_weight": np.full(30, np.nan)}, ValueError, "NaN"),
]


@pytest.mark.parametrize(
    "estimator, X_bad, y_bad, fit_kwargs, error, match", [case[1:] for case in BAD_FIT_INPUTS],
    ids=[case[0] for case in BAD_FIT_INPUTS],
)  # fmt: skip
def test_bad_fit_input_gives_a_clear_error(estimator, X_bad, y_bad, fit_kwargs, error, match):
    if isinstance(X_bad, str):  # sparse input is accepted, NaN in it is not
        X_bad = pytest.importorskip("scipy.sparse").csr_matrix(np.where(X > 1, np.nan, X))
    est = estimator(**TINY)
    with pytest.raises(error, match=match):
        est.fit(X_bad, y_bad, **fit_kwargs)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


BAD_PARAMETERS = [
    {"hidden_layer_sizes": (0,)},
    {"hidden_layer_sizes": (4, -1)},
    {"hidden_layer_sizes": "wide"},
    {"hidden_layer_sizes": (4.5,)},
    {"alpha": -1.0},
    {"alpha": "none"},
    {"learning_rate_init": 0.0},
    {"learning_rate_init": -0.1},
    {"dropout": 1.0},
    {"dropout": -0.1},
    {"activation": "swish"},
    {"kernel_initializer": "zeros"},
    {"solver": "newton"},
    {"validation_fraction": 0.0, "early_stopping": True},
    {"validation_fraction": 1.0},
    {"max_iter": 0},
    {"batch_size": 0},
    {"batch_size": "big"},
    {"tol": -1.0},
    {"n_iter_no_change": 0},
    {"shuffle": "yes"},
    {"random_state": "seed"},
    {"standardize": 1.5},
    {"early_stopping": "always"},
    {"numerical_embedding": "periodic"},
    {"numerical_embedding": True},
    {"n_bins": 1},
    {"n_bins": 0},
    {"n_bins": -4},
    {"n_bins": 16.5},
    {"n_bins": "many"},
    {"dtype": "float16"},
    {"dtype": np.float16},
    {"dtype": "double"},
]


@pytest.mark.parametrize("estimator", [SNNClassifier, SNNRegressor])
@pytest.mark.parametrize("params", BAD_PARAMETERS, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
def test_parameters_out_of_range_or_of_wrong_type(estimator, params):
    name = next(iter(params))
    with pytest.raises((InvalidParameterError, ValueError), match=name):
        estimator(**{**TINY, **params}).fit(X, Y_CLASS if estimator is SNNClassifier else Y_REG)


def test_classifier_specific_bad_inputs():
    for smoothing in (1.0, -0.1):
        with pytest.raises(InvalidParameterError, match="label_smoothing"):
            SNNClassifier(**TINY, label_smoothing=smoothing).fit(X, Y_CLASS)
    with pytest.raises(InvalidParameterError, match="class_weight"):
        SNNClassifier(**TINY, class_weight="most").fit(X, Y_CLASS)
    with pytest.raises(ValueError, match="class_weight"):
        SNNClassifier(**TINY, class_weight={0: 1, 9: 2}).fit(X, Y_CLASS)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        SNNClassifier(**TINY).partial_fit(X, Y_CLASS)
    clf = SNNClassifier(**TINY).partial_fit(X, Y_CLASS, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, Y_CLASS + 1)
    with pytest.raises(ValueError, match="3 features"):
        clf.predict(X[:, :2])
    with pytest.raises(ValueError, match="3 features"):
        clf.predict_proba(np.hstack([X, X]))


def test_single_class_gives_the_documented_safe_result():
    # As scikit-learn's estimator checks allow: fit, then always predict that class.
    clf = SNNClassifier(**TINY).fit(X, np.full(30, "only"))
    np.testing.assert_array_equal(clf.classes_, ["only"])
    np.testing.assert_array_equal(clf.predict(X), np.full(30, "only"))
    np.testing.assert_array_equal(clf.predict_proba(X), np.ones((30, 1)))


def test_early_stopping_on_too_little_data_is_a_clear_error():
    for est, y in ((SNNClassifier, Y_CLASS[:6]), (SNNRegressor, Y_REG[:6])):
        with pytest.raises(ValueError, match="validation"):
            est(**TINY, early_stopping=True).fit(X[:6], y)


def test_extreme_magnitudes_and_constant_columns_are_handled():
    # Standardization makes both harmless: the network sees the same numbers.
    big = X * 1e150
    clf_big = SNNClassifier(**TINY).fit(big, Y_CLASS)
    clf = SNNClassifier(**TINY).fit(X, Y_CLASS)
    np.testing.assert_allclose(clf_big.predict_proba(big), clf.predict_proba(X), rtol=1e-6, atol=1e-9)
    constant = np.hstack([X, np.full((30, 1), 5.0)])
    reg = SNNRegressor(**TINY).fit(constant, Y_REG)
    assert np.isfinite(reg.predict(constant)).all()
    assert reg.scaler_.scale_[-1] == 1.0  # zero variance: scaled by 1, as StandardScaler does
    # A spread too small for the dtype (subnormal in float32, found by hypothesis) counts as constant.
    subnormal = np.array([[0.0], [4.6e-42], [4.6e-42], [0.0]] * 5, dtype=np.float32)
    clf = SNNClassifier(**TINY).fit(subnormal, np.arange(20) % 2)
    assert clf.scaler_.scale_[0] == 1.0 and np.isfinite(clf.predict_proba(subnormal)).all()


@pytest.mark.parametrize("estimator", [SNNClassifier, SNNRegressor])
def test_divergence_stops_with_an_error_and_keeps_no_nan_model(estimator):
    y = Y_CLASS if estimator is SNNClassifier else Y_REG
    # A float64 loss stays finite far longer than the float32 one Keras reported before: 1e30 makes sure.
    sgd = {"solver": "sgd", "momentum": 0.0}
    est = estimator(hidden_layer_sizes=(8, 8), learning_rate_init=1e30, max_iter=20, random_state=0, **sgd)
    with pytest.raises(ValueError, match="diverged|non-finite"):
        est.fit(X, y)
    with pytest.raises(NotFittedError):
        est.predict(X)
    # With warm_start, a divergent refit leaves the previous model as it was.
    est = estimator(**TINY, warm_start=True).fit(X, y)
    before = est.predict(X)
    est.set_params(learning_rate_init=1e30, max_iter=20, **sgd)
    with pytest.raises(ValueError, match="diverged|non-finite"):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict(X), before)


@pytest.mark.parametrize("warm_start", [False, True])
def test_keyboard_interrupt_leaves_a_consistent_usable_model(monkeypatch, warm_start):
    from sksnn import _training

    est = SNNClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0, warm_start=warm_start).fit(X, Y_CLASS)
    previous = {"n_iter_": est.n_iter_, "proba": est.predict_proba(X)}
    assert est.n_iter_ == 3
    calls = {"n": 0}
    original = _training._EpochEnd.on_epoch_end

    def interrupt_on_third_epoch(self, epoch, logs=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    monkeypatch.setattr(_training._EpochEnd, "on_epoch_end", interrupt_on_third_epoch)
    est.set_params(max_iter=10)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(X, Y_CLASS)
    # As MLP counts them: n_iter_ is this fit's completed epochs; loss_curve_
    # and t_ add up over warm-started fits. The weights are those reached.
    previous_epochs = previous["n_iter_"] if warm_start else 0
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == previous_epochs + 2 and est.loss_ == est.loss_curve_[-1]
    assert est.t_ == 30 * (previous_epochs + 2)
    assert np.isfinite(est.predict_proba(X)).all()
    assert est.predict_proba(X).shape == previous["proba"].shape


@pytest.mark.parametrize("n_rows", [1, 40_000])  # one-row path and blocked, threaded path
def test_concurrent_predicts_equal_serial_predicts(n_rows):
    from concurrent.futures import ThreadPoolExecutor

    clf = SNNClassifier(hidden_layer_sizes=(16, 16), max_iter=2, random_state=0).fit(X, Y_CLASS)
    batches = [np.random.RandomState(i).standard_normal((n_rows, 3)) for i in range(8)]
    serial = [clf.predict_proba(b) for b in batches]
    barrier = threading.Barrier(4)

    def predict(batch):
        barrier.wait(timeout=30)  # all four threads predict at the same time
        return clf.predict_proba(batch)

    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(predict, batches[:4])) + list(pool.map(clf.predict_proba, batches[4:]))
    for expected, got in zip(serial, concurrent):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("estimator", [SNNClassifier, SNNRegressor])
def test_float_parameters_given_as_ints_fit_as_the_floats_do_on_a_new_network_shape(estimator):
    # Keras' optimizers refused learning_rate_init=1 on a network shape not yet
    # trained in the process (a pooled network took it): a grid's outcome
    # depended on the order of its fits.
    from sksnn import _trainer

    as_ints = {"learning_rate_init": 1, "alpha": 1, "tol": 0}
    fitted = []
    for params in (as_ints, {k: float(v) for k, v in as_ints.items()}):
        _trainer._POOL.clear()  # a new shape: the network is built and compiled with these values
        est = estimator(hidden_layer_sizes=(5, 3), max_iter=2, random_state=0, solver="sgd", **params)
        fitted.append(est.fit(X, Y_CLASS))
    for a, b in zip(fitted[0].coefs_, fitted[1].coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the scaler's variance overflows: that is the point
def test_inputs_too_large_to_standardize_get_mlps_message_and_the_cause():
    # Before: "Lower learning_rate_init, or keep standardize=True", which was True.
    X_huge = np.abs(X) / np.abs(X).max() * 1e308  # finite; their squares are not
    with pytest.raises(ValueError) as error:
        SNNClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X_huge, Y_CLASS)
    message = str(error.value)
    assert message.startswith("Solver produced non-finite parameter weights. The input data may contain large")
    assert "scaler's statistics overflow" in message and "keep standardize" not in message


def test_a_diverging_learning_rate_is_named_as_the_likely_cause():
    with pytest.raises(ValueError, match="non-finite parameter weights.*lower learning_rate_init may help"):
        SNNRegressor(hidden_layer_sizes=(8,), learning_rate_init=1e12, solver="sgd", max_iter=20).fit(X, X[:, 0])


@pytest.mark.parametrize("params", [{"verbose": 3}, {"validation_fraction": 0.0}, {"verbose": np.int64(2)}])
def test_values_mlp_accepts_are_accepted(params, capsys):
    from sklearn.neural_network import MLPClassifier

    MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, **params).fit(X, Y_CLASS)  # the reference accepts them
    clf = SNNClassifier(**{**TINY, **params}).fit(X, Y_CLASS)
    printed = capsys.readouterr().out
    assert clf.n_iter_ == TINY["max_iter"]
    assert ("Iteration 1, loss = " in printed) == bool(params.get("verbose"))
