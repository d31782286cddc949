import numpy as np
import pytest
from sklearn.base import is_classifier
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError

from sksnn import SNNClassifier, SNNRegressor, _base


def test_scaler_fitted_by_blocks_equals_one_fit():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    X = rng.standard_normal((300_000, 4)) * [1, 10, 100, 1e-3] + [5, -5, 0, 1]
    weights = rng.uniform(0, 2, 300_000)
    blocked = _base._fit_scaler(X, weights)  # 2**20 // 4 rows a block: two blocks
    whole = StandardScaler().fit(X, sample_weight=weights)
    np.testing.assert_allclose(blocked.mean_, whole.mean_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(blocked.scale_, whole.scale_, rtol=1e-10)
    np.testing.assert_allclose(blocked.n_samples_seen_, whole.n_samples_seen_)


def _interrupt_before_the_first_epoch_ends(monkeypatch):
    """Make the next fit's Ctrl-C arrive as its first epoch begins."""
    import keras

    from sksnn import _training

    def interrupt(self, epoch, logs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(_training._EpochEnd, "on_epoch_begin", interrupt, raising=False)
    assert issubclass(_training._EpochEnd, keras.callbacks.Callback)


@pytest.mark.parametrize("Estimator", [SNNClassifier, SNNRegressor])
@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_a_first_fit_interrupted_before_its_first_epoch_leaves_the_estimator_unfitted(monkeypatch, Estimator, how):
    # Before, the hooks wrote classes_ / target_scaler_ and validate_data
    # n_features_in_ as they went: check_is_fitted accepted the estimator and
    # predict raised AttributeError: coefs_.
    X, y = make_classification(40, 4, random_state=0)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    _interrupt_before_the_first_epoch_ends(monkeypatch)
    with pytest.warns(UserWarning, match="interrupted"):
        if how == "fit":
            est.fit(X, y)
        elif is_classifier(est):
            est.partial_fit(X, y, classes=[0, 1])
        else:
            est.partial_fit(X, y)
    assert vars(est) == vars(Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0))
    with pytest.raises(NotFittedError):
        est.predict(X)


@pytest.mark.parametrize("Estimator", [SNNClassifier, SNNRegressor])
def test_a_refit_interrupted_before_its_first_epoch_keeps_the_previous_model(monkeypatch, Estimator):
    X, y = make_classification(40, 4, random_state=0)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    before = {k: v for k, v in vars(est).items()}
    predicted = est.predict(X)
    names = [f"f{i}" for i in range(4)]
    import pandas as pd

    _interrupt_before_the_first_epoch_ends(monkeypatch)
    with pytest.warns(UserWarning, match="interrupted"):
        est.fit(pd.DataFrame(X[:, ::-1] * 10, columns=names), 1 - y)  # other data, named columns
    assert set(vars(est)) == set(before) and not hasattr(est, "feature_names_in_")
    assert all(vars(est)[k] is v for k, v in before.items())
    np.testing.assert_array_equal(est.predict(X), predicted)


def test_a_fit_commits_every_fitted_attribute_at_once(monkeypatch):
    # Nothing of the new fit is on the estimator before training is over: the
    # epoch callback sees the estimator as it was, plus what scikit-learn's
    # validate_data records itself (undone by _fit if the fit fails).
    from sksnn import _training

    X, y = make_classification(40, 4, random_state=0)
    est = SNNClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    seen = []
    original = _training._EpochEnd.on_epoch_end

    def record(self, epoch, logs=None):
        seen.append(sorted(vars(est)))
        return original(self, epoch, logs)

    monkeypatch.setattr(_training._EpochEnd, "on_epoch_end", record)
    est.fit(X, y)
    unfitted = sorted([*vars(SNNClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)), "n_features_in_"])
    assert len(seen) == 2 and all(names == unfitted for names in seen)
    assert {"classes_", "_label_binarizer", "coefs_", "n_features_in_", "scaler_"} <= set(vars(est))


def test_refitting_on_unnamed_columns_forgets_the_feature_names():
    import pandas as pd

    X, y = make_classification(40, 4, random_state=0)
    est = SNNRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    est.fit(pd.DataFrame(X, columns=list("abcd")), y)
    assert list(est.feature_names_in_) == list("abcd")
    est.fit(X, y)
    assert not hasattr(est, "feature_names_in_") and est.n_features_in_ == 4


@pytest.mark.parametrize("Estimator", [SNNClassifier, SNNRegressor])
def test_validation_loss_curve_is_the_loss_on_the_held_out_rows_at_each_epoch(Estimator):
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state

    classifier = Estimator is SNNClassifier
    X, y = make_classification(200, 5, n_informative=3, n_classes=3, random_state=0)
    params = {"hidden_layer_sizes": (8,), "max_iter": 6, "n_iter_no_change": 100, "random_state": 0}
    est = Estimator(**params, early_stopping=True).fit(X, y)
    assert len(est.validation_loss_curve_) == len(est.validation_scores_) == est.n_iter_ == 6
    # The rows the fit held out, drawn as it draws them (two seeds, then the split).
    rng = check_random_state(0)
    rng.randint(np.iinfo(np.int32).max, size=2)
    from sklearn.preprocessing import LabelBinarizer

    strata = LabelBinarizer().fit_transform(y).astype(bool) if classifier else None  # as MLP stratifies
    _, val = train_test_split(np.arange(200), random_state=rng, test_size=0.1, stratify=strata)
    best = int(np.argmax(est.validation_scores_))  # the epoch whose weights were kept
    if classifier:
        expected = log_loss(y[val], est.predict_proba(X[val]), labels=est.classes_)
    else:  # half the squared error on the standardized target, as the training loss
        expected = 0.5 * np.mean(((est.predict(X[val]) - y[val]) / est.target_scaler_.scale_[0]) ** 2)
    assert est.validation_loss_curve_[best] == pytest.approx(expected, rel=1e-6)
    assert Estimator(**params).fit(X, y).validation_loss_curve_ is None


@pytest.mark.parametrize("n_classes", [2, 3, 7])
@pytest.mark.parametrize("fraction", [0.1, 0.25])
@pytest.mark.parametrize("seed", [0, 1])
def test_early_stoppings_split_is_scikit_learns_stratified_split(n_classes, fraction, seed):
    # sksnn draws the split with arrays (scikit-learn's holds Python lists of
    # every row); the same random numbers in the same order give MLP's split.
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer

    from sksnn._base import _strata, _stratified_split

    rng = np.random.RandomState(seed)
    y = rng.choice(
        np.arange(n_classes) * 10, size=997, p=np.linspace(1, 3, n_classes) / np.linspace(1, 3, n_classes).sum()
    )
    ours = _stratified_split(_strata(y), fraction, np.random.RandomState(seed + 5))
    mlps = train_test_split(
        np.arange(len(y)),
        test_size=fraction,
        random_state=np.random.RandomState(seed + 5),
        stratify=LabelBinarizer().fit_transform(y).astype(bool),  # as MLPClassifier stratifies
    )
    for a, b in zip(ours, mlps, strict=True):
        np.testing.assert_array_equal(a, b)
