"""sksnn inside scikit-learn's tools: clone, Pipeline, search, CV, persistence."""

import pickle
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold, check_cv, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksnn import SNNClassifier, SNNRegressor


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[::2], y[::2]


def test_estimator_types():
    assert is_classifier(SNNClassifier()) and not is_regressor(SNNClassifier())
    assert is_regressor(SNNRegressor()) and not is_classifier(SNNRegressor())
    # so GridSearchCV and cross_val_score stratify the folds of a classifier
    assert isinstance(check_cv(3, np.array([0, 1] * 5), classifier=is_classifier(SNNClassifier())), StratifiedKFold)


def test_clone_keeps_every_parameter():
    est = SNNClassifier(
        hidden_layer_sizes=(7, 5),
        dropout=0.05,
        solver="adam",
        class_weight={0: 2.0, 1: 1.0},
        early_stopping=True,
        random_state=3,
    )
    cloned = clone(est)
    assert cloned.get_params() == est.get_params()
    assert cloned is not est


def test_pipeline_and_cross_val_score(cancer):
    X, y = cancer
    pipe = make_pipeline(
        StandardScaler(), SNNClassifier(hidden_layer_sizes=(16,), batch_size=32, max_iter=20, random_state=0)
    )
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search(cancer, n_jobs):
    X, y = cancer
    grid = {"hidden_layer_sizes": [(8,), (16, 16)], "alpha": [1e-4, 1e-2]}
    search = GridSearchCV(SNNClassifier(batch_size=32, max_iter=15, random_state=0), grid, cv=2, n_jobs=n_jobs).fit(
        X, y
    )
    assert len(search.cv_results_["params"]) == 4
    assert search.best_score_ > 0.85
    assert search.best_estimator_.hidden_layer_sizes in grid["hidden_layer_sizes"]


def test_grid_search_results_do_not_depend_on_n_jobs(cancer):
    X, y = cancer
    grid = {"alpha": [1e-4, 1e-1]}
    runs = [
        GridSearchCV(
            SNNClassifier(hidden_layer_sizes=(8,), batch_size=32, max_iter=10, random_state=0), grid, cv=2, n_jobs=n
        )
        .fit(X, y)
        .cv_results_["mean_test_score"]
        for n in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_one_param_grid_serves_mlp_and_snn(cancer):
    X, y = cancer
    grid = {
        "hidden_layer_sizes": [(16,)],
        "alpha": [1e-4, 1e-3],
        "learning_rate_init": [1e-3],
        "batch_size": [32],
        "max_iter": [20],
        "early_stopping": [False],
    }
    for est in (MLPClassifier(random_state=0), SNNClassifier(random_state=0)):
        search = GridSearchCV(
            make_pipeline(StandardScaler(), est),
            {f"{type(est).__name__.lower()}__{k}": v for k, v in grid.items()},
            cv=2,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, y)
        assert search.best_score_ > 0.85
        assert set(search.best_params_) == {f"{type(est).__name__.lower()}__{k}" for k in grid}


@pytest.mark.parametrize("Estimator,load", [(SNNClassifier, load_breast_cancer), (SNNRegressor, load_diabetes)])
def test_pickle_and_joblib_round_trips(tmp_path, Estimator, load):
    X, y = load(return_X_y=True)
    est = Estimator(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    joblib.dump(est, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    for other in (restored, loaded):
        np.testing.assert_array_equal(est.predict(X), other.predict(X))


def test_partial_fit_resumes_identically_after_pickling(cancer):
    X, y = cancer
    a = SNNClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[0, 1])
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_same_seed_same_model_across_processes(cancer, tmp_path):
    X, y = cancer
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    script = textwrap.dedent(
        f"""
        import numpy as np
        from sksnn import SNNClassifier
        X = np.load({str(tmp_path / "X.npy")!r}); y = np.load({str(tmp_path / "y.npy")!r})
        clf = SNNClassifier(hidden_layer_sizes=(8, 8), batch_size=32, max_iter=3, random_state=7).fit(X, y)
        np.save({str(tmp_path / "proba.npy")!r}, clf.predict_proba(X))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    here = SNNClassifier(hidden_layer_sizes=(8, 8), batch_size=32, max_iter=3, random_state=7).fit(X, y)
    np.testing.assert_array_equal(here.predict_proba(X), np.load(tmp_path / "proba.npy"))
