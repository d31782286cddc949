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
