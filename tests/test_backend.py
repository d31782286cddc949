import os
import subprocess
import sys

import keras
import pytest

FIT_DEFAULTS = (
    "import warnings\n"
    "from sklearn.exceptions import ConvergenceWarning\n"
    "warnings.simplefilter('ignore', ConvergenceWarning)\n"  # Python's, as MLP gives on iris: not a log
    "from sklearn.datasets import load_iris\n"
    "from sksnn import SNNClassifier\n"
    "X, y = load_iris(return_X_y=True)\n"  # float64: TensorFlow's C++ side logs about it
    "SNNClassifier(random_state=0).fit(X, y)\n"
    "import os; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n"
)


def _fresh_process(env_changes):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # conftest and CI set it
    env.update(env_changes, KERAS_BACKEND=keras.backend.backend())
    command = [sys.executable, "-c", FIT_DEFAULTS]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=True)


def test_a_default_fit_in_a_fresh_process_writes_nothing_to_stderr():
    # Before, on TensorFlow: ~15 lines (oneDNN, CUDA probing with an E-level
    # cuInit line, CPU features, "Not handling type DT_DOUBLE").
    result = _fresh_process({})
    assert result.stderr == ""
    if keras.backend.backend() == "tensorflow":  # sksnn's setting (JAX's own import sets one of its own)
        assert result.stdout.split() == ["2"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's log setting")
def test_a_log_level_the_user_set_is_left_as_it_is_and_tensorflow_speaks():
    result = _fresh_process({"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert result.stdout.split() == ["0"]
    assert result.stderr.strip()  # TensorFlow's start-up lines, unsilenced


SEARCH = (
    "from sklearn.datasets import load_breast_cancer\n"
    "from sksnn import SNNClassifier\n"
    "X, y = load_breast_cancer(return_X_y=True)\n"
    "for width in range(8, 16):\n"
    "    SNNClassifier(hidden_layer_sizes=(width,), max_iter=1, random_state=0).fit(X, y)\n"
)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's retracing warning")
def test_a_search_over_architectures_writes_nothing_to_stderr():
    # Before: after five new architectures TensorFlow warned that Keras'
    # multi_step_on_iterator "triggered tf.function retracing".
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", SEARCH], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    assert result.stderr == ""


WORKERS = """
import multiprocessing, os, sys, warnings
warnings.simplefilter("ignore")  # Python's warnings (ConvergenceWarning): not the logs under test
os.environ["PYTHONWARNINGS"] = "ignore"


def fit_small():
    from sklearn.datasets import load_iris
    from sksnn import SNNClassifier

    X, y = load_iris(return_X_y=True)
    return SNNClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y).n_iter_


if __name__ == "__main__":
    from sklearn.datasets import load_iris
    from sklearn.model_selection import GridSearchCV
    from sksnn import SNNClassifier

    X, y = load_iris(return_X_y=True)
    fit_small()  # the parent starts the backend first: its workers inherit what it set
    workers = sys.argv[1]
    if workers == "loky":
        GridSearchCV(SNNClassifier(max_iter=2), {"alpha": [1e-4, 1e-2]}, cv=2, n_jobs=2).fit(X, y)
    elif workers == "multiprocessing":
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            assert pool.apply(fit_small) == 2
    else:
        from dask.distributed import Client, LocalCluster

        with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with Client(cluster) as client:
                assert client.submit(fit_small).result() == 2
    print("done")
"""


def _workers_run(tmp_path, workers, env_changes):
    script = tmp_path / "workers.py"
    script.write_text(WORKERS)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "SKSNN_SET_TF_CPP_MIN_LOG_LEVEL")}
    env.update(env_changes, KERAS_BACKEND=keras.backend.backend())
    command = [sys.executable, str(script), workers]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=True, cwd=tmp_path)


@pytest.mark.parametrize("workers", ["loky", "multiprocessing", "dask"])
def test_workers_start_as_quietly_as_their_parent(tmp_path, workers):
    # Before, on TensorFlow: each loky worker wrote absl's pre-init warning,
    # "Could not find cuda drivers" and an E-level cuInit line: it took the
    # TF_CPP_MIN_LOG_LEVEL its parent's sksnn had set for the user's own setting.
    if workers == "dask":
        pytest.importorskip("dask.distributed")
    result = _workers_run(tmp_path, workers, {})
    assert result.stdout.split()[-1] == "done"
    assert result.stderr == ""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's log setting")
def test_a_log_level_the_user_set_reaches_the_workers_as_the_users(tmp_path):
    result = _workers_run(tmp_path, "loky", {"TF_CPP_MIN_LOG_LEVEL": "0"})
    # the parent and both workers speak: TensorFlow's start-up line once a process
    assert result.stderr.count("cuda drivers") + result.stderr.count("cpu_feature_guard") >= 3


def test_sksnn_tells_its_own_log_setting_from_the_users(monkeypatch):
    from sksnn import _backend

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv(_backend._QUIET_MARKER, raising=False)
    assert not _backend._tf_log_level_set_by_user()
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # inherited from a parent in which sksnn set it
    monkeypatch.setenv(_backend._QUIET_MARKER, "2")
    assert not _backend._tf_log_level_set_by_user()
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # changed since: the user's
    assert _backend._tf_log_level_set_by_user()
    monkeypatch.delenv(_backend._QUIET_MARKER)  # set with no sign of sksnn: the user's
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    assert _backend._tf_log_level_set_by_user()


EXIT = """
import atexit, gc, sys
atexit.register(lambda: print(gc.get_freeze_count()))  # runs after sksnn's hook
if sys.argv[1] == "collector off":
    gc.disable()
if sys.argv[1] == "keras first":
    import keras
from sklearn.datasets import load_iris
from sksnn import SNNClassifier
X, y = load_iris(return_X_y=True)
print(gc.get_freeze_count())
SNNClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y)
print(gc.get_freeze_count())
print(gc.isenabled())
"""


def _frozen_counts(case):
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", EXIT, case], capture_output=True, text=True, timeout=300, check=True
    )
    before, after, enabled, at_exit = result.stdout.split()
    return int(before), int(after), enabled == "True", int(at_exit)


def test_the_backend_imports_with_the_collector_paused_and_its_objects_frozen():
    # The collector's full walks during TensorFlow's import cost ~1 s; the
    # backend's objects live as long as the process: frozen, later collections skip them.
    before, after, enabled, at_exit = _frozen_counts("default")
    assert before == 0 and after > 100_000 and enabled  # the collector is on again
    assert at_exit > after  # and everything is frozen as the process exits: a faster shutdown
    before, after, enabled, _ = _frozen_counts("collector off")
    assert after > 100_000 and not enabled  # the user's choice stays


def test_a_backend_the_user_imported_first_is_left_to_the_collector():
    before, after, enabled, at_exit = _frozen_counts("keras first")
    assert before == after == 0 and enabled  # nothing to gain: sksnn imported nothing
    assert at_exit > 0  # the exit's freeze still applies


UNSUPPORTED = (
    "import numpy as np\n"
    "from sksnn import SNNClassifier\n"
    "X = np.arange(20.0).reshape(10, 2)\n"
    "est = SNNClassifier(max_iter=1)\n"
    "for attempt in range(2):\n"  # the error is the same each time: nothing is left half-started
    "    try:\n"
    "        est.fit(X, np.arange(10) % 2)\n"
    "    except RuntimeError as error:\n"
    "        print(error)\n"
    "import sys; print('keras' in sys.modules)\n"
)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_an_unsupported_backend_is_named_at_fit_with_how_to_choose_one(backend):
    env = {**os.environ, "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", UNSUPPORTED], capture_output=True, text=True, env=env, timeout=300)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert len(lines) == 3 and lines[0] == lines[1] and lines[2] == "False"  # Keras was never imported
    assert f"set to '{backend}'" in lines[0] and "'tensorflow' or 'jax'" in lines[0] and "KERAS_BACKEND=jax" in lines[0]
