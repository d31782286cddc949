import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_classification, make_multilabel_classification
from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.neural_network import MLPClassifier
from sklearn.utils._param_validation import InvalidParameterError

from sksnn import SNNClassifier

SMALL = {"hidden_layer_sizes": (16, 16), "max_iter": 30, "random_state": 0}


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def fitted_iris(iris):
    X, y = iris
    return SNNClassifier(hidden_layer_sizes=(16, 16), batch_size=16, max_iter=40, random_state=0).fit(X, y)


def test_multiclass_fit_predict_proba(iris, fitted_iris):
    X, y = iris
    proba = fitted_iris.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(fitted_iris.classes_, [0, 1, 2])
    np.testing.assert_array_equal(fitted_iris.predict(X), fitted_iris.classes_[proba.argmax(axis=1)])
    assert fitted_iris.score(X, y) > 0.9
    assert fitted_iris.out_activation_ == "softmax"
    assert fitted_iris.n_layers_ == 4 and fitted_iris.n_outputs_ == 3
    assert len(fitted_iris.loss_curve_) == fitted_iris.n_iter_
    assert fitted_iris.loss_ == fitted_iris.loss_curve_[-1]
    assert fitted_iris.t_ == 150 * fitted_iris.n_iter_
    assert fitted_iris.loss_curve_[-1] < fitted_iris.loss_curve_[0]
    np.testing.assert_allclose(np.exp(fitted_iris.predict_log_proba(X[:5])), proba[:5], rtol=1e-6)


@pytest.mark.parametrize(
    "labels", [np.array(["no", "yes"]), np.array([False, True]), np.array([-3, 7])], ids=["str", "bool", "int"]
)
def test_binary_labels_of_any_type(labels):
    X, y = make_classification(n_samples=120, n_features=5, random_state=0)
    y = labels[y]
    clf = SNNClassifier(**SMALL).fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    proba = clf.predict_proba(X)
    assert proba.shape == (120, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert set(clf.predict(X)) <= set(labels)
    assert clf.predict(X).dtype == labels.dtype
    assert clf.score(X, y) > 0.8


def test_multilabel_indicator_targets():
    X, Y = make_multilabel_classification(n_samples=150, n_features=8, n_classes=4, random_state=0)
    clf = SNNClassifier(hidden_layer_sizes=(32,), batch_size=16, max_iter=30, random_state=0).fit(X, Y)
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    # per-label accuracy, against scikit-learn's MLP with the same settings
    mlp = MLPClassifier(hidden_layer_sizes=(32,), batch_size=16, max_iter=30, random_state=0).fit(X, Y)
    assert (clf.predict(X) == Y).mean() >= (mlp.predict(X) == Y).mean() - 0.05


def test_column_vector_y_warns_like_sklearn(iris):
    X, y = iris
    with pytest.warns(DataConversionWarning):
        SNNClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(X, y.reshape(-1, 1))


def test_partial_fit_needs_classes_then_accepts_subsets(iris):
    X, y = iris
    clf = SNNClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 50
    clf.partial_fit(X[50:], y[50:])
    assert clf.t_ == 150
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X[:3], np.array([0, 1, 5]))


def test_partial_fit_continues_the_optimizer(iris):
    X, y = iris
    clf = SNNClassifier(hidden_layer_sizes=(16,), batch_size=16, random_state=0)
    losses = [clf.partial_fit(X, y, classes=[0, 1, 2]).loss_ for _ in range(15)]
    assert losses[-1] < losses[0] * 0.7


def test_warm_start_continues_from_fitted_weights(iris):
    X, y = iris
    clf = SNNClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
        first_coef = clf.coefs_[0].copy()
        first_loss = clf.loss_
        clf.fit(X, y)
    assert not np.array_equal(first_coef, clf.coefs_[0])
    assert clf.loss_ < first_loss
    assert len(clf.loss_curve_) == 10


def test_early_stopping_keeps_best_validation_weights():
    X, y = make_classification(n_samples=300, n_features=10, random_state=0)
    clf = SNNClassifier(
        hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=3, max_iter=200, random_state=0
    ).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_ < 200
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # partial_fit and early stopping do not mix, as in MLP
    with pytest.raises(ValueError, match="early_stopping"):
        clf.partial_fit(X, y)


def test_class_weight_balanced_favours_the_minority_class():
    X, y = make_classification(n_samples=400, n_features=6, weights=[0.9, 0.1], class_sep=0.5, random_state=0)
    plain = SNNClassifier(**SMALL).fit(X, y)
    balanced = SNNClassifier(**SMALL, class_weight="balanced").fit(X, y)
    assert (balanced.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_class_weight_with_unknown_label_is_an_error(iris):
    X, y = iris
    with pytest.raises(ValueError, match="class_weight"):
        SNNClassifier(hidden_layer_sizes=(4,), max_iter=1, class_weight={0: 1, 9: 2}).fit(X, y)


def test_random_state_reproducible_and_seed_dependent(iris):
    X, y = iris
    a = SNNClassifier(**SMALL).fit(X, y).predict_proba(X)
    b = SNNClassifier(**SMALL).fit(X, y).predict_proba(X)
    c = SNNClassifier(**{**SMALL, "random_state": 1}).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_does_not_change_global_random_state(iris):
    # The legacy global generator is what this test is about (NPY002).
    X, y = iris
    np.random.seed(5)  # noqa: NPY002
    expected = np.random.rand()  # noqa: NPY002
    np.random.seed(5)  # noqa: NPY002
    SNNClassifier(**SMALL).fit(X, y)
    assert np.random.rand() == expected  # noqa: NPY002


def test_float32_input_trains_in_float32(iris):
    X, y = iris
    clf = SNNClassifier(**SMALL).fit(X.astype(np.float32), y)
    assert clf.coefs_[0].dtype == np.float32
    clf64 = SNNClassifier(**SMALL).fit(X, y)
    assert clf64.coefs_[0].dtype == np.float64


def test_pandas_feature_names_are_kept_and_checked(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = SNNClassifier(**SMALL).fit(frame, y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["b", "a", "c", "d"]])


def test_clear_errors_for_bad_input(iris):
    X, y = iris
    with pytest.raises(NotFittedError):
        SNNClassifier().predict(X)
    with pytest.raises(InvalidParameterError):
        SNNClassifier(dropout=1.0).fit(X, y)
    with pytest.raises(InvalidParameterError):
        SNNClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        SNNClassifier(hidden_layer_sizes=(4, 0)).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        SNNClassifier().fit(np.where(X > 7, np.nan, X), y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        SNNClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="features"):
        SNNClassifier(**SMALL).fit(X, y).predict(X[:, :3])


def test_the_output_layer_starts_at_zero_by_default_and_as_drawn_on_request():
    from sklearn.datasets import make_classification

    X, y = make_classification(60, 5, random_state=0)
    still = {"learning_rate_init": 1e-12, "max_iter": 1, "random_state": 0, "hidden_layer_sizes": (8,)}
    default = SNNClassifier(**still).fit(X, y)
    assert np.abs(default.coefs_[-1]).max() < 1e-9  # ~ at its zero start
    np.testing.assert_allclose(default.predict_proba(X), 0.5, atol=1e-6)
    drawn = SNNClassifier(output_initializer="lecun_normal", **still).fit(X, y)
    assert drawn.coefs_[-1].std() > 0.1
    np.testing.assert_allclose(drawn.coefs_[0], default.coefs_[0])  # the hidden layers are drawn alike


@pytest.mark.parametrize("solver", ["nadam", "lbfgs"])
def test_label_smoothing_trains_towards_the_smoothed_labels(iris, solver):
    # Trained to convergence on iris, the training rows' largest probability
    # centres on the smoothed target of their class, 1 - 0.3 + 0.3 / 3 = 0.8;
    # with label_smoothing=0 (MLP's loss) it goes to 1.
    X, y = iris
    params = {"solver": solver, "alpha": 0.0, "max_iter": 300, "tol": 1e-4, "random_state": 0}
    params["hidden_layer_sizes"] = (16,)
    if solver == "nadam":
        params.update(learning_rate_init=1e-2, batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lbfgs' ConvergenceWarning
        smoothed = SNNClassifier(label_smoothing=0.3, **params).fit(X, y).predict_proba(X).max(axis=1)
        sharp = SNNClassifier(label_smoothing=0.0, **params).fit(X, y).predict_proba(X).max(axis=1)
    assert np.median(smoothed) == pytest.approx(0.8, abs=0.02) and smoothed.max() < 0.9
    assert np.median(sharp) > 0.99


def test_label_smoothing_of_a_binary_target_is_towards_one_half():
    X, y = make_classification(200, 5, class_sep=3.0, random_state=0)
    params = {"alpha": 0.0, "max_iter": 300, "tol": 1e-4, "learning_rate_init": 1e-2, "batch_size": 32}
    params["random_state"] = 0
    proba = SNNClassifier(label_smoothing=0.4, hidden_layer_sizes=(16,), **params).fit(X, y).predict_proba(X)
    # the smoothed targets are 0.2 and 0.8
    assert np.median(proba.max(axis=1)) == pytest.approx(0.8, abs=0.02) and proba.max() < 0.9
