"""With a backend that sees a GPU: training runs there and predicts as the GPU's network does.

Skipped where the backend has no GPU (CI, this project's machines); run on a GPU
machine with e.g. ``KERAS_BACKEND=jax pytest tests/test_gpu.py``. For the whole
suite on a GPU set ``JAX_DEFAULT_MATMUL_PRECISION=highest``: by default the GPU
multiplies float32 in TF32 and test_inference's 1e-5 comparisons of NumPy with
Keras fail by ~1e-3 (measured on an H200; they pass with full precision).
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification

from sksnn import SNNClassifier
from sksnn._backend import gpu_devices


def _device_kind(variable, backend):
    value = variable.value
    if backend == "jax":
        return {device.platform for device in value.devices()}
    if backend == "tensorflow":
        return {"gpu" if "GPU" in value.device else "cpu"}
    return {"gpu" if value.device.type == "cuda" else "cpu"}


@pytest.fixture(scope="module")
def backend():
    name, gpus = gpu_devices()
    if not gpus:
        pytest.skip(f"the {name} backend sees no GPU")
    return name


@pytest.fixture(scope="module")
def data():
    return make_classification(2000, 20, n_informative=10, n_classes=3, random_state=0)


def test_the_network_lives_on_the_gpu_and_numpy_predictions_match_it(backend, data):
    X, y = data
    clf = SNNClassifier(hidden_layer_sizes=(64,) * 4, max_iter=10, random_state=0).fit(X.astype(np.float32), y)
    assert all(_device_kind(w, backend) == {"gpu"} for w in clf.model_.weights)
    on_gpu = np.asarray(clf.model_(clf.scaler_.transform(X).astype(np.float32)))
    # NumPy computes in full float32; a GPU may multiply float32 in TF32 (10-bit mantissa)
    np.testing.assert_allclose(clf.predict_proba(X), on_gpu, atol=5e-3)
    assert np.mean(clf.predict(X) == clf.classes_[on_gpu.argmax(axis=1)]) > 0.99
    assert clf.score(X, y) > 0.6  # 3 classes: it learned


def test_float64_data_trains_in_float64_on_the_gpu(backend, data):
    X, y = data
    clf = SNNClassifier(hidden_layer_sizes=(64,) * 4, max_iter=10, random_state=0).fit(X, y)
    assert all(coef.dtype == np.float64 for coef in clf.coefs_)
    assert np.isfinite(clf.loss_curve_).all() and clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(X, y) > 0.6
