import keras
import numpy as np
import pytest

from sksnn import build_snn


def test_build_snn_is_dense_selu_lecun_with_one_output_layer():
    model = build_snn(10, 3, hidden_layer_sizes=(20, 20, 20), seed=0)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(model.layers) == len(dense) == 4
    assert [layer.units for layer in dense] == [20, 20, 20, 3]
    for layer in dense[:-1]:
        assert layer.activation is keras.activations.selu
        assert isinstance(layer.kernel_initializer, keras.initializers.LecunNormal)
    # The output layer comes once, after the loop (the source article's snippet
    # put it inside the loop).
    assert dense[-1].activation is keras.activations.softmax
    assert dense[-1].name == "output"


def test_dropout_is_alpha_dropout_after_each_hidden_layer():
    model = build_snn(5, 1, hidden_layer_sizes=(8, 8), dropout=0.1, output_activation="logistic", seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "AlphaDropout", "Dense", "AlphaDropout", "Dense"]
    assert model.layers[-1].activation is keras.activations.sigmoid


def test_lecun_normal_weights_have_variance_one_over_fan_in():
    model = build_snn(400, 2, hidden_layer_sizes=(300,), seed=0)
    kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
    assert kernel.var() == pytest.approx(1 / 400, rel=0.05)
    assert abs(kernel.mean()) < 0.01


def test_seed_makes_the_network_reproducible():
    first = build_snn(6, 2, hidden_layer_sizes=(5,), seed=3).get_weights()
    second = build_snn(6, 2, hidden_layer_sizes=(5,), seed=3).get_weights()
    other = build_snn(6, 2, hidden_layer_sizes=(5,), seed=4).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], other[0])


def test_selu_stack_self_normalizes_through_depth():
    # Standardized inputs through 20 untrained SELU/LeCun layers keep mean ~0 and
    # variance ~1; the same stack with ReLU/He does not stay there.
    rng = np.random.RandomState(0)
    X = rng.standard_normal((2000, 100)).astype("float32")
    snn = build_snn(100, 1, hidden_layer_sizes=(100,) * 20, output_activation="identity", seed=0)
    activations = X
    for layer in snn.layers[:-1]:
        activations = keras.ops.convert_to_numpy(layer(activations))
    assert abs(activations.mean()) < 0.15
    assert 0.7 < activations.std() < 1.3


@pytest.mark.parametrize("dropout", [0.0, 0.1])
@pytest.mark.parametrize("initializer", ["lecun_normal", "he_normal", "glorot_uniform"])
def test_initial_values_equal_a_built_networks_variables(dropout, initializer):
    # Pooled networks are re-initialized from these values instead of a new build.
    from sksnn._network import initial_values

    spec = {"hidden_layer_sizes": (7, 5), "kernel_initializer": initializer, "dropout": dropout}
    built = build_snn(4, 3, dtype="float64", seed=11, **spec).variables
    values = initial_values(4, 3, dtype="float64", seed=11, **spec)
    assert len(values) == len(built)
    for variable, value in zip(built, values):
        # (JAX without 64-bit mode holds the float64 values in float32)
        actual = keras.ops.convert_to_numpy(variable.value)
        np.testing.assert_array_equal(actual, np.asarray(value).astype(actual.dtype))


@pytest.mark.parametrize(
    "initializer", ["lecun_normal", "lecun_uniform", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform"]
)
def test_numpy_kernels_follow_the_keras_initializers_distribution(initializer):
    # Variance-scaling kernels are drawn with NumPy (no compile per shape on JAX):
    # same spread and same bounds as Keras' own draw.
    from sksnn._network import _kernel_values

    shape = (300, 200)
    ours = _kernel_values(initializer, shape, "float64", seed=0)
    keras_own = keras.ops.convert_to_numpy(keras.initializers.get(initializer)(shape, dtype="float64"))
    assert ours.shape == shape and ours.dtype == np.float64
    assert ours.std() == pytest.approx(keras_own.std(), rel=0.02)
    assert np.abs(ours).max() == pytest.approx(np.abs(keras_own).max(), rel=0.02)  # truncation / uniform limit
    assert abs(ours.mean()) < 0.05 * ours.std()
    np.testing.assert_array_equal(ours, _kernel_values(initializer, shape, "float64", seed=0))
    assert not np.array_equal(ours, _kernel_values(initializer, shape, "float64", seed=1))


def test_built_layers_report_the_initializer_their_kernels_came_from():
    model = build_snn(6, 2, hidden_layer_sizes=(5, 4), kernel_initializer="he_uniform", seed=3)
    configs = [keras.layers.Dense.from_config(layer.get_config()).kernel_initializer for layer in model.layers]
    assert all(isinstance(init, keras.initializers.HeUniform) for init in configs)
    assert len({init.seed for init in configs}) == 3  # one seed per layer, fixed by the network's seed


def test_the_output_layer_may_start_at_zero_leaving_the_hidden_layers_as_drawn():
    from sksnn._network import initial_values

    spec = {"hidden_layer_sizes": (7, 5), "kernel_initializer": "lecun_normal", "dropout": 0.0}
    drawn = initial_values(4, 3, dtype="float64", seed=11, **spec)
    zeroed = initial_values(4, 3, dtype="float64", seed=11, output_initializer="zeros", **spec)
    for before, after in zip(drawn[:-2], zeroed[:-2]):
        np.testing.assert_array_equal(before, after)
    assert drawn[-2].std() > 0.1 and not zeroed[-2].any() and zeroed[-2].shape == (5, 3)
    model = build_snn(4, 3, dtype="float64", seed=11, output_initializer="zeros", **spec)
    assert isinstance(model.layers[-1].kernel_initializer, keras.initializers.Zeros)
    assert isinstance(model.layers[0].kernel_initializer, keras.initializers.LecunNormal)
    assert not keras.ops.convert_to_numpy(model.layers[-1].kernel.value).any()
