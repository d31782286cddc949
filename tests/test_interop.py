"""Around the estimators: metadata routing, progress output, thread limits,
distributed search with dask, and the network builder in other wrappers."""

import os
import subprocess
import sys

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.preprocessing import StandardScaler

from sksnn import SNNClassifier, build_snn

X, y = load_iris(return_X_y=True)
SMALL = {"hidden_layer_sizes": (8,), "max_iter": 5, "batch_size": 32, "random_state": 0}


def _routing_check(make, fit_params_name):
    weights = np.where(y == 2, 5.0, 0.5)
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_validate(make(), X, y, cv=cv, params={"sample_weight": weights}, return_estimator=True)
        search = GridSearchCV(make(), {f"{fit_params_name}alpha": [1e-4]}, cv=cv).fit(X, y, sample_weight=weights)
    for (train, test), fitted, score in zip(cv.split(X), routed["estimator"], routed["test_score"]):
        expected = SNNClassifier(**SMALL).fit(X[train], y[train], sample_weight=weights[train])
        np.testing.assert_array_equal(fitted.predict_proba(X[test]), expected.predict_proba(X[test]))
        assert score == expected.score(X[test], y[test], sample_weight=weights[test])
        assert score != expected.score(X[test], y[test])  # the weights did change the score
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], routed["test_score"].mean())


def _requesting_snn():
    return SNNClassifier(**SMALL).set_fit_request(sample_weight=True).set_score_request(sample_weight=True)


def test_metadata_routing_brings_sample_weight_to_fit_and_score():
    _routing_check(_requesting_snn, "")


@pytest.mark.skipif(
    sklearn.__version__.startswith("1.6."),
    reason="scikit-learn 1.6's Pipeline.score does not route sample_weight (UnsetMetadataPassedError)",
)
def test_metadata_routing_through_a_pipeline():
    from sklearn.pipeline import Pipeline

    _routing_check(lambda: Pipeline([("snn", _requesting_snn())]), "snn__")


def test_verbose_prints_mlp_lines_and_a_progress_bar(capsys):
    clf = SNNClassifier(**{**SMALL, "max_iter": 3}, verbose=True, early_stopping=True).fit(X, y)
    out = capsys.readouterr().out
    assert [line.split(",")[0] for line in out.splitlines() if line.startswith("Iteration")] == [
        f"Iteration {i}" for i in range(1, clf.n_iter_ + 1)
    ]
    assert out.count("Validation score:") == clf.n_iter_
    SNNClassifier(**{**SMALL, "max_iter": 2}, verbose=2).fit(X, y)
    out = capsys.readouterr().out
    assert "Iteration 2, loss" in out and "step" in out  # Keras' progress bar: "4/4 ... step"
    SNNClassifier(**SMALL).fit(X, y)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "env, expected", [({"OMP_NUM_THREADS": "1"}, 1), ({"OMP_NUM_THREADS": "1", "SKSNN_NUM_THREADS": "0"}, None)]
)
def test_backend_threads_follow_joblib_workers_limit(env, expected):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    probe = {
        "tensorflow": "import tensorflow as tf; print(tf.config.threading.get_intra_op_parallelism_threads())",
        "jax": "import os, re; m = re.search(r'intra_op_parallelism_threads=(\\d+)', os.environ.get('XLA_FLAGS', ''));"
        " print(m.group(1) if m else 0)",
    }[backend]
    code = f"from sksnn import SNNClassifier; import numpy as np; SNNClassifier(max_iter=1, hidden_layer_sizes=(2,))" \
        f".fit(np.eye(4), [0, 1, 0, 1]); {probe}"  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SKSNN_NUM_THREADS", "XLA_FLAGS")}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env={**clean, **env},
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert int(out.stdout.split()[-1]) == (expected or 0)


def test_grid_search_on_a_dask_cluster_equals_the_serial_search():
    distributed = pytest.importorskip("distributed")
    import joblib

    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(8,), (16,)]}
    serial = GridSearchCV(SNNClassifier(**SMALL), grid, cv=2, n_jobs=1).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster), joblib.parallel_backend("dask"):
            remote = GridSearchCV(SNNClassifier(**SMALL), grid, cv=2).fit(X, y)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
    assert remote.best_params_ == serial.best_params_


def test_build_snn_as_the_model_of_scikeras():
    wrappers = pytest.importorskip("scikeras.wrappers")
    clf = wrappers.KerasClassifier(
        model=build_snn,
        model__n_features=4,
        model__n_outputs=3,
        model__hidden_layer_sizes=(32, 32),
        model__seed=0,
        loss="sparse_categorical_crossentropy",
        optimizer="nadam",
        optimizer__learning_rate=0.01,
        epochs=30,
        batch_size=16,
        verbose=0,
        random_state=0,
    )
    clf.fit(StandardScaler().fit_transform(X), y)
    assert clf.score(StandardScaler().fit_transform(X), y) > 0.85


def test_build_snn_as_the_model_of_keras_sklearn_wrapper():
    wrappers = pytest.importorskip("keras.wrappers")

    def snn_model(X, y, hidden_layer_sizes):
        # keras.wrappers passes the data first and one-hot encodes y for classifiers.
        model = build_snn(X.shape[1], y.shape[1], hidden_layer_sizes=hidden_layer_sizes, seed=0)
        model.compile(optimizer="nadam", loss="categorical_crossentropy")
        return model

    clf = wrappers.SKLearnClassifier(
        model=snn_model,
        model_kwargs={"hidden_layer_sizes": (32, 32)},
        fit_kwargs={"epochs": 40, "batch_size": 16, "verbose": 0},
    )
    Xs = StandardScaler().fit_transform(X)
    clf.fit(Xs, y)
    assert clf.score(Xs, y) > 0.85
