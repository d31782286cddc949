import numpy as np
import pytest

from sksnn import SNNClassifier, SNNRegressor
from sksnn._activations import HIDDEN_ACTIVATIONS


@pytest.mark.parametrize("activation", sorted(HIDDEN_ACTIVATIONS))
def test_numpy_forward_pass_matches_keras(activation):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    clf = SNNClassifier(hidden_layer_sizes=(8, 8), activation=activation, max_iter=5, random_state=0).fit(X, y)
    keras_proba = np.asarray(clf.model_(clf.scaler_.transform(X).astype(np.float32)))
    np.testing.assert_allclose(clf.predict_proba(X), keras_proba, rtol=1e-5, atol=1e-6)


def test_regressor_model_outputs_standardized_target():
    rng = np.random.RandomState(1)
    X = rng.standard_normal((50, 3))
    y = 1000 + 50 * X[:, 0]
    reg = SNNRegressor(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    raw = np.asarray(reg.model_(reg.scaler_.transform(X).astype(np.float32)))
    expected = reg.target_scaler_.inverse_transform(raw).ravel()
    np.testing.assert_allclose(reg.predict(X), expected, rtol=1e-5)


def test_predict_leaves_input_untouched_and_needs_no_backend_call():
    X = np.random.RandomState(0).standard_normal((30, 3))
    y = np.arange(30) % 2
    clf = SNNClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)
    X_copy = X.copy()
    clf.predict_proba(X)
    np.testing.assert_array_equal(X, X_copy)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_threaded_forward_equals_one_block(monkeypatch, dtype):
    # Many rows go through in cache-sized blocks on several threads; the result
    # must be the one-block result, row for row, whatever the block size.
    from sksnn import _inference

    rng = np.random.RandomState(0)
    sizes = [5, 7, 7, 3]
    coefs = [rng.standard_normal((a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    intercepts = [rng.standard_normal(b).astype(dtype) for b in sizes[1:]]
    X = rng.standard_normal((1001, 5)).astype(dtype)
    mean, scale = rng.standard_normal(5).astype(dtype), rng.uniform(0.5, 2, 5).astype(dtype)
    whole = _inference.forward(X, coefs, intercepts, "selu", "softmax", mean, scale)
    monkeypatch.setattr(_inference, "_block_rows", lambda *args: 64)
    blocked = _inference.forward(X, coefs, intercepts, "selu", "softmax", mean, scale)
    assert blocked.dtype == whole.dtype == dtype
    np.testing.assert_allclose(blocked, whole, rtol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(_inference.forward(X, coefs, intercepts, "selu", "softmax", mean, scale), blocked)


def test_import_and_loaded_predict_need_no_backend(tmp_path):
    # `import sksnn` and predicting with an unpickled model load neither Keras
    # nor a backend: the NumPy forward pass is all predict needs.
    import subprocess
    import sys

    import joblib

    X = np.random.RandomState(0).standard_normal((40, 3))
    clf = SNNClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, np.arange(40) % 2)
    joblib.dump(clf, tmp_path / "clf.joblib")
    script = (
        "import sys, joblib, numpy as np\n"
        "import sksnn\n"
        "assert 'keras' not in sys.modules, 'import sksnn loaded keras'\n"
        f"clf = joblib.load({str(tmp_path / 'clf.joblib')!r})\n"
        "clf.predict_proba(np.zeros((1, 3)))\n"
        "loaded = [m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_blocks_are_sized_by_the_widest_of_the_input_and_the_layers():
    from sksnn import _inference

    coefs = [np.zeros((8, 100)), np.zeros((100, 1))]
    narrow = _inference._block_rows(coefs, np.float32, 8)
    assert narrow == _inference._block_rows(coefs, np.float32, 100) == 2**21 // 400  # the layers decide
    assert _inference._block_rows(coefs, np.float32, 1700) == 2**21 // 6800  # an embedded input decides


def test_blocked_forward_holds_blas_to_one_thread_through_a_controller_made_once(monkeypatch):
    # Each pass used to make a threadpool_limits, which walks every shared
    # library loaded (4-5 ms a pass with a backend loaded, at every epoch of early stopping).
    import sys

    import threadpoolctl

    from sksnn import _inference

    made, seen = [], []

    class CountedController(threadpoolctl.ThreadpoolController):
        def __init__(self):
            if sys._getframe(1).f_globals["__name__"] == _inference.__name__:  # (threadpool_info makes its own)
                made.append(self)
            super().__init__()

    def blas_threads():
        return {info["num_threads"] for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"}

    block = _inference._forward_block

    def spied_block(*args):
        seen.append(blas_threads())
        return block(*args)

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", CountedController)
    monkeypatch.setattr(_inference, "_blas_controller", None)
    monkeypatch.setattr(_inference, "_forward_block", spied_block)
    monkeypatch.setattr(_inference, "_block_rows", lambda *args: 64)
    rng = np.random.RandomState(0)
    coefs = [rng.standard_normal((5, 7)), rng.standard_normal((7, 2))]
    intercepts = [np.zeros(7), np.zeros(2)]
    X = rng.standard_normal((300, 5))
    before = blas_threads()
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # two threads, whatever the machine has
        outputs = [_inference.forward(X, coefs, intercepts, "selu", "softmax") for _ in range(3)]
        assert blas_threads() == {2}  # restored after each pass
    assert blas_threads() == before
    assert len(made) == 1
    assert len(seen) == 3 * 5 and all(threads == {1} for threads in seen)  # 5 blocks of 64 rows a pass
    np.testing.assert_array_equal(outputs[0], outputs[2])
