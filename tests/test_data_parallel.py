"""Data-parallel training over several devices (two virtual CPU devices here) equals single-device training.

JAX: under the user's ``keras.distribution.DataParallel``; TensorFlow: in the
scope of the user's ``tf.distribute.MirroredStrategy``.
"""

import os
import subprocess
import sys

import keras
import pytest

jax_only = pytest.mark.skipif(keras.backend.backend() != "jax", reason="keras.distribution.DataParallel on JAX")

TWO_DEVICES = """
import contextlib, os, sys, warnings
warnings.simplefilter("ignore")
import keras
if keras.backend.backend() == "tensorflow":
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    def on_two_devices():
        return strategy.scope()
    def devices_of(variable):
        return len(variable.value.values)
else:
    import jax
    assert len(jax.devices()) == 2, jax.devices()
    @contextlib.contextmanager
    def on_two_devices():
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
        try:
            yield
        finally:
            keras.distribution.set_distribution(None)
    def devices_of(variable):
        return len(variable.value.sharding.device_set)
import numpy as np
from sklearn.datasets import make_classification, make_regression
from sksnn import SNNClassifier, SNNRegressor, _trainer

X, y = make_classification(300, 8, n_classes=3, n_informative=5, random_state=0)
weights = np.random.RandomState(0).uniform(0.5, 2.0, 300)


def fit(parallel, make, data, calls=1):
    with on_two_devices() if parallel else contextlib.nullcontext():
        model = make()
        for _ in range(calls):
            model = model.partial_fit(*data) if calls > 1 else model.fit(*data[:2], sample_weight=data[2])
        return model


cases = {
    "batches, sample weights": (lambda: SNNClassifier(hidden_layer_sizes=(16, 16), batch_size=64, max_iter=20,
                                                      random_state=0), (X, y, weights), 1),
    "one batch an epoch": (lambda: SNNClassifier(hidden_layer_sizes=(16,), max_iter=20, batch_size=300,
                                                 random_state=0), (X, y, None), 1),
    "early stopping": (lambda: SNNClassifier(hidden_layer_sizes=(16, 16), batch_size=64, max_iter=60,
                                             early_stopping=True, random_state=0), (X, y, weights), 1),
    "partial_fit": (lambda: SNNRegressor(hidden_layer_sizes=(16,), batch_size=32, random_state=0),
                    make_regression(300, 8, random_state=0), 3),
    "packed ensemble": (lambda: SNNClassifier(hidden_layer_sizes=(16, 16), n_members=4, batch_size=64,
                                              max_iter=20, random_state=0), (X, y, weights), 1),
    # full-batch, on one device (a Keras loss under a TensorFlow strategy halved it)
    "lbfgs": (lambda: SNNClassifier(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=30, random_state=0),
              (X, y, weights), 1),
}
for name, (make, data, calls) in cases.items():
    one, two = fit(False, make, data, calls), fit(True, make, data, calls)
    weights_of = lambda m: m.coefs_ + m.intercepts_ + (m.member_input_scales_ or []) + (m.member_output_scales_ or [])
    gap = max(np.abs(a - b).max() for a, b in zip(weights_of(one), weights_of(two)))
    loss_gap = abs(one.loss_ - two.loss_)
    print(f"{name}: epochs {one.n_iter_} {two.n_iter_}, largest weight gap {gap:.1e}, loss gap {loss_gap:.1e}")
    assert one.n_iter_ == two.n_iter_ and gap < 1e-10 and loss_gap < 1e-10, name
split = [t for _, t in _trainer._POOL._idle if t.data_parallel is not None]
print("networks on two devices:", {devices_of(t.trainable_variables[0]) for t in split})
with on_two_devices():
    try:
        SNNClassifier(batch_size=65, max_iter=2).fit(X, y)
    except ValueError as error:
        print("odd batch:", "multiple of 2" in str(error))
"""


def test_two_devices_train_as_one(tmp_path):
    # JAX: keras.distribution.DataParallel; TensorFlow: tf.distribute.MirroredStrategy
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    result = subprocess.run(
        [sys.executable, "-c", TWO_DEVICES], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "networks on two devices: {2}" in result.stdout
    assert "odd batch: True" in result.stdout


@jax_only
def test_a_distribution_other_than_data_parallel_is_refused():
    import jax
    from sklearn.datasets import load_iris

    from sksnn import SNNClassifier

    mesh = keras.distribution.DeviceMesh((1,), ["model"], devices=jax.devices()[:1])
    layout_map = keras.distribution.LayoutMap(mesh)
    keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="model"))
    try:
        with pytest.raises(ValueError, match="DataParallel only, not ModelParallel"):
            SNNClassifier(max_iter=1).fit(*load_iris(return_X_y=True))
    finally:
        keras.distribution.set_distribution(None)


TF_STRATEGIES = """
import os, warnings
warnings.simplefilter("ignore")
import tensorflow as tf
from sklearn.datasets import load_iris
from sksnn import SNNClassifier

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
)
X, y = load_iris(return_X_y=True)
plain = SNNClassifier(max_iter=5, batch_size=50, random_state=0).fit(X, y)
with tf.distribute.OneDeviceStrategy("/cpu:1").scope():
    one = SNNClassifier(max_iter=5, batch_size=50, random_state=0).fit(X, y)
weights = zip(plain.coefs_ + plain.intercepts_, one.coefs_ + one.intercepts_)
print("one device:", all((a == b).all() for a, b in weights))
with tf.distribute.experimental.CentralStorageStrategy(["/cpu:0", "/cpu:1"]).scope():
    try:
        SNNClassifier(max_iter=1).fit(X, y)
    except ValueError as error:
        print("refused:", "MirroredStrategy only" in str(error) and "CentralStorageStrategy" in str(error))
"""


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute")
def test_tensorflow_one_device_strategy_trains_and_other_strategies_are_refused_clearly():
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-c", TF_STRATEGIES], capture_output=True, text=True, env=env, timeout=300)
    assert "one device: True" in result.stdout, result.stderr[-2000:]
    assert "refused: True" in result.stdout, result.stderr[-2000:]


PROCESS = """
import os, sys, warnings
warnings.simplefilter("ignore")
import jax
process_id, port, out, case = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
if process_id >= 0:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
import keras
import numpy as np
from sklearn.datasets import make_classification
from sksnn import SNNClassifier

X, y = make_classification(400, 8, random_state=0)  # every process fits the same X
if case == "changed" and process_id == 1:  # ... but this one, whose rows of a batch are its own
    X[:10] += 3.0
if process_id >= 0:
    assert len(jax.devices()) == 2 and len(jax.local_devices()) == 1
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
early_stopping = case == "same"  # (validation rows are scored by each process on its own X)
clf = SNNClassifier(
    hidden_layer_sizes=(16, 16), batch_size=64, max_iter=15, early_stopping=early_stopping, random_state=0
)
clf.fit(X, y)
np.save(out, np.concatenate([c.ravel() for c in clf.coefs_ + clf.intercepts_]))
"""


def _two_processes(tmp_path, case):
    """The weights of a one-process fit, then those of each of two processes fitting together."""
    import socket

    import jax
    import numpy as np

    if not hasattr(jax.config, "jax_cpu_collectives_implementation"):
        pytest.skip("this JAX has no CPU collectives across processes")
    with socket.socket() as probe:  # a free port on loopback for the coordinator
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("XLA_FLAGS", None)
    paths = {i: str(tmp_path / f"{case}{i}.npy") for i in (-1, 0, 1)}
    subprocess.run([sys.executable, "-c", PROCESS, "-1", port, paths[-1], case], env=env, timeout=300, check=True)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS, str(i), port, paths[i], case],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in (0, 1)
    ]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err.decode()[-2000:]
    return tuple(np.load(paths[i]) for i in (-1, 0, 1))


@jax_only
def test_two_processes_on_localhost_train_as_one(tmp_path):
    import numpy as np

    one, first, second = _two_processes(tmp_path, "same")
    np.testing.assert_array_equal(first, second)  # every process ends with the same model
    np.testing.assert_allclose(first, one, rtol=0, atol=1e-12)  # the one-process model


@jax_only
def test_two_processes_learn_from_each_others_rows(tmp_path):
    # Two processes each fitting alone would also equal the one-process fit of
    # the same X; here process 1 changes rows of its X, and process 0, whose X
    # is the one-process fit's, ends with process 1's model, not with that fit.
    import numpy as np

    one, first, second = _two_processes(tmp_path, "changed")
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - one).max() > 1e-3
