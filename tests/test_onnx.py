"""ONNX export (skl2onnx converters, run by ONNX Runtime) and skops round trips."""

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.model_selection import train_test_split

from sksnn import SNNClassifier, SNNRegressor

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from skl2onnx import to_onnx  # noqa: E402
from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, Int64TensorType  # noqa: E402

import sksnn.onnx  # noqa: E402, F401  (registers the converters)

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-9}  # relative to the outputs' scale
SMALL = {"hidden_layer_sizes": (16, 16), "max_iter": 60, "random_state": 0}


def _run(onx, X):
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _assert_close(actual, expected, dtype):
    expected = np.asarray(expected, dtype=np.float64)
    scale = max(1.0, np.abs(expected).max())
    assert np.abs(np.asarray(actual, dtype=np.float64) - expected).max() <= TOLERANCE[dtype] * scale


def _held_out(X, y):
    return train_test_split(X, y, test_size=0.3, random_state=0)


def _check_classifier(clf, X_test, dtype):
    X = X_test.astype(dtype)
    labels, proba = _run(to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}}), X)
    np.testing.assert_array_equal(labels, clf.predict(X_test))
    _assert_close(proba, clf.predict_proba(X_test), dtype)
    return labels, proba


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_classifier(dtype):
    X, y = make_classification(300, 8, random_state=0)
    X_train, X_test, y_train, _ = _held_out(X, y)
    _check_classifier(SNNClassifier(**SMALL).fit(X_train, y_train), X_test, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multiclass_classifier_with_string_labels(dtype):
    X, y = make_classification(400, 8, n_informative=5, n_classes=4, random_state=0)
    names = np.array(["cat", "dog", "emu", "yak"])[y]
    X_train, X_test, y_train, _ = _held_out(X, names)
    labels, _ = _check_classifier(SNNClassifier(**SMALL).fit(X_train, y_train), X_test, dtype)
    assert set(labels) <= set(names)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multilabel_classifier(dtype):
    X, Y = make_multilabel_classification(300, 8, n_classes=3, random_state=0)
    X_train, X_test, Y_train, _ = _held_out(X, Y)
    labels, proba = _check_classifier(SNNClassifier(**SMALL).fit(X_train, Y_train), X_test, dtype)
    assert labels.shape == proba.shape == (len(X_test), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_articles_deep_network(dtype):
    X, y = make_classification(500, 20, n_informative=10, n_classes=3, random_state=0)
    X_train, X_test, y_train, _ = _held_out(X, y)
    clf = SNNClassifier(hidden_layer_sizes=(100,) * 20, max_iter=10, random_state=0).fit(X_train, y_train)
    _check_classifier(clf, X_test, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["single", "multi-output", "poisson", "no scaling"])
def test_regressor(dtype, case):
    rng = np.random.RandomState(0)
    X, y = make_regression(300, 6, n_targets=2 if case == "multi-output" else 1, noise=1.0, random_state=0)
    params = dict(SMALL)
    if case == "poisson":
        y = rng.poisson(np.exp(X[:, 0] / 2))
        params["loss"] = "poisson"
    if case == "no scaling":
        params["standardize"] = False
    X_train, X_test, y_train, _ = _held_out(X, y)
    reg = SNNRegressor(**params).fit(X_train, y_train)
    X_typed = X_test.astype(dtype)
    (prediction,) = _run(to_onnx(reg, X_typed[:1]), X_typed)
    expected = reg.predict(X_test)
    assert prediction.shape == (len(X_test), reg.n_outputs_)
    _assert_close(prediction.reshape(expected.shape), expected, dtype)


@pytest.mark.parametrize("activation", ["selu", "elu", "relu", "tanh", "logistic", "identity"])
def test_every_hidden_activation(activation):
    X, y = make_classification(200, 5, n_classes=3, n_informative=3, random_state=0)
    clf = SNNClassifier(activation=activation, **SMALL).fit(X, y)
    for dtype in (np.float32, np.float64):
        _check_classifier(clf, X, dtype)


def test_a_pipeline_with_a_column_transformer():
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "age": rng.uniform(20, 70, 300).astype(np.float32),
            "income": rng.lognormal(10, 1, 300).astype(np.float32),
            "city": rng.choice(["paris", "lyon", "nice"], 300),
        }
    )
    y = np.where(frame["age"] + 10 * (frame["city"] == "nice") > 50, "yes", "no")
    pipe = Pipeline(
        [
            ("columns", ColumnTransformer([("city", OneHotEncoder(), ["city"])], remainder="passthrough")),
            ("snn", SNNClassifier(**SMALL)),
        ]
    ).fit(frame, y)
    onx = to_onnx(pipe, frame[:1], options={id(pipe.named_steps["snn"]): {"zipmap": False}})
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {name: frame[name].to_numpy().reshape(-1, 1) for name in frame.columns}
    labels, proba = session.run(None, feeds)
    np.testing.assert_array_equal(labels, pipe.predict(frame))
    _assert_close(proba, pipe.predict_proba(frame), np.float32)


def test_classifier_options_zipmap_columns_nocl_and_class_labels():
    X, y = make_classification(200, 5, n_classes=3, n_informative=3, random_state=0)
    clf = SNNClassifier(**SMALL).fit(X, y + 10)
    X32 = X.astype(np.float32)
    labels, proba = _run(to_onnx(clf, X32[:1]), X32)  # zipmap: a dict per row, as for MLPClassifier
    assert list(proba[0]) == [10, 11, 12]
    _assert_close([[row[c] for c in (10, 11, 12)] for row in proba], clf.predict_proba(X), np.float32)
    outputs = _run(to_onnx(clf, X32[:1], options={id(clf): {"zipmap": "columns"}}), X32)
    _assert_close(np.column_stack(outputs[1:]), clf.predict_proba(X), np.float32)
    labels, _ = _run(to_onnx(clf, X32[:1], options={id(clf): {"zipmap": False, "nocl": True}}), X32)
    np.testing.assert_array_equal(labels, clf.predict(X) - 10)  # class indices
    *_, class_labels = _run(
        to_onnx(clf, X32[:1], options={id(clf): {"zipmap": False, "output_class_labels": True}}), X32
    )
    np.testing.assert_array_equal(class_labels, [10, 11, 12])


def test_what_cannot_convert_is_named():
    from sklearn.exceptions import NotFittedError

    X, y = make_classification(100, 4, random_state=0)
    reg = SNNRegressor(**SMALL).fit(X, y.astype(float))
    with pytest.raises(sksnn.onnx.OnnxConversionError, match="FloatTensorType or DoubleTensorType.*Int64TensorType"):
        to_onnx(reg, initial_types=[("X", Int64TensorType([None, 4]))])
    with pytest.raises(NotFittedError, match="SNNRegressor"):
        to_onnx(SNNRegressor(), X[:1].astype(np.float32))
    reg.set_params(activation="gelu")  # changed after fitting: the network was trained with another
    with pytest.raises(sksnn.onnx.OnnxConversionError, match="activation 'gelu'"):
        to_onnx(reg, X[:1].astype(np.float32))


def test_float_labels_which_scikit_learn_keeps_whole_convert_as_integers():
    X, y = make_classification(100, 4, random_state=0)
    clf = SNNClassifier(**SMALL).fit(X, y.astype(float) + 1.0)
    labels, _ = _run(to_onnx(clf, X[:1].astype(np.float32), options={id(clf): {"zipmap": False}}), X.astype(np.float32))
    np.testing.assert_array_equal(labels, clf.predict(X))


def test_a_model_trained_on_sparse_input_converts_for_dense_rows():
    import scipy.sparse as sp

    X, y = make_classification(200, 6, random_state=0)
    X[np.abs(X) < 0.8] = 0
    clf = SNNClassifier(**SMALL).fit(sp.csr_matrix(X), y)
    labels, proba = _run(
        to_onnx(clf, initial_types=[("X", DoubleTensorType([None, 6]))], options={id(clf): {"zipmap": False}}), X
    )
    np.testing.assert_array_equal(labels, clf.predict(sp.csr_matrix(X)))
    _assert_close(proba, clf.predict_proba(sp.csr_matrix(X)), np.float64)


FRESH = """
import sys
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
labels, proba = session.run(None, {"X": np.load(sys.argv[2])})
np.save(sys.argv[3], proba)
np.save(sys.argv[4], labels)
heavy = sorted(m for m in ("sksnn", "sklearn", "scipy", "keras", "tensorflow", "jax", "skl2onnx") if m in sys.modules)
print("imported:", heavy)
"""


def test_a_saved_onnx_file_predicts_in_a_process_with_only_numpy_and_onnxruntime(tmp_path):
    X, y = make_classification(200, 6, n_classes=3, n_informative=4, random_state=0)
    clf = SNNClassifier(**SMALL).fit(X, y)
    onx = to_onnx(clf, initial_types=[("X", FloatTensorType([None, 6]))], options={id(clf): {"zipmap": False}})
    (tmp_path / "model.onnx").write_bytes(onx.SerializeToString())
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    paths = [str(tmp_path / name) for name in ("model.onnx", "X.npy", "proba.npy", "labels.npy")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", FRESH, *paths], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "imported: []"
    np.testing.assert_array_equal(np.load(paths[3]), clf.predict(X))
    _assert_close(np.load(paths[2]), clf.predict_proba(X), np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_numerical_embedding_converts(dtype):
    X, y = make_classification(400, 6, n_informative=4, n_classes=3, random_state=0)
    X[:, 5] = X[:, 5] > 0  # a binary column: no components
    X_train, X_test, y_train, y_test = _held_out(X, y)
    embedded = {**SMALL, "numerical_embedding": "piecewise_linear", "n_bins": 8}
    clf = SNNClassifier(**embedded).fit(X_train, y_train)
    assert clf.embedding_ is not None and clf.coefs_[0].shape[0] > X.shape[1]
    X_far = np.vstack([X_test, 10 * X_test[:5], -10 * X_test[:5]])  # beyond the edges: clipped
    _check_classifier(clf, X_far, dtype)
    reg = SNNRegressor(**embedded).fit(X_train, X_train[:, 0] ** 2)
    X_typed = X_far.astype(dtype)
    (prediction,) = _run(to_onnx(reg, X_typed[:1]), X_typed)
    _assert_close(prediction.ravel(), reg.predict(X_far), dtype)


# ------------------------------------------------------------------ skops
def test_skops_round_trips_an_estimator_and_a_pipeline_trusting_only_sksnn_types(tmp_path):
    sio = pytest.importorskip("skops.io")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(200, 6, random_state=0)
    models = {
        "clf": SNNClassifier(**SMALL).fit(X, y),
        "pipe": make_pipeline(StandardScaler(), SNNRegressor(**SMALL)).fit(X, y.astype(float)),
        "embedded": SNNClassifier(numerical_embedding="piecewise_linear", **SMALL).fit(X, y),
    }
    expected_types = {
        "clf": ["sksnn._classifier.SNNClassifier"],
        "pipe": ["sksnn._regressor.SNNRegressor"],
        "embedded": ["sksnn._classifier.SNNClassifier", "sksnn._embeddings.PiecewiseLinearEncoding"],
    }
    for name, model in models.items():
        path = tmp_path / f"{name}.skops"
        sio.dump(model, path)
        untrusted = sio.get_untrusted_types(file=path)
        assert untrusted == expected_types[name]
        loaded = sio.load(path, trusted=untrusted)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


REGISTRATION = """
import numpy as np
{first}
from sklearn.datasets import load_iris
from skl2onnx import to_onnx
from sksnn import SNNClassifier
X, y = load_iris(return_X_y=True)
clf = SNNClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y)
try:
    to_onnx(clf, X[:1].astype(np.float32))
    print("converted")
except RuntimeError as error:
    print("not registered" if "SNNClassifier" in str(error) else error)
"""


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        ("import skl2onnx", "converted"),  # skl2onnx first: import sksnn registers
        ("import sksnn", "not registered"),  # sksnn first: import sksnn.onnx is the way
        ("import sksnn, sksnn.onnx", "converted"),
    ],
)
def test_registration_on_import(first, expected):
    code = "import warnings; warnings.simplefilter('ignore')\n" + REGISTRATION.format(first=first)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == expected
