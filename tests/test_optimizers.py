import keras
import numpy as np
import pytest

from sksnn import _optimizers, build_snn
from sksnn._backend import precision


def _variables(dtype, rng):
    return [keras.Variable(rng.standard_normal(shape), dtype=dtype) for shape in [(4, 3), (3,), (3, 2), (2,)]]


def _numpy(variable):
    """A variable's value (on JAX, NumPy 2 warns when it converts the Variable itself)."""
    return keras.ops.convert_to_numpy(variable.value)


PAIRS = [
    (keras.optimizers.Nadam, _optimizers.Nadam, {}),
    (keras.optimizers.Adam, _optimizers.Adam, {}),
    (keras.optimizers.Adam, _optimizers.Adam, {"amsgrad": True}),
    (keras.optimizers.AdamW, _optimizers.AdamW, {"weight_decay": 0.01}),
]


def _apply_five_steps(optimizer, dtype):
    """The weights, then the optimizer's own variables (moments, step count), after 5 eager steps."""
    variables = _variables(dtype, np.random.RandomState(0))
    optimizer.build(variables)
    for step in range(5):
        grads = [np.random.RandomState(step).standard_normal(v.shape).astype(dtype) for v in variables]
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    # sksnn's cycle length, zero (no cycles), is a variable Keras' own optimizers do not have
    cycles = [v for v in optimizer.variables if v.name == "cycle_steps"]
    assert [_numpy(v) for v in cycles] == ([0.0] if hasattr(optimizer, "cycle_steps") else [])
    return [
        keras.ops.convert_to_numpy(v) for v in variables + [v for v in optimizer.variables if v.name != "cycle_steps"]
    ]


@pytest.mark.parametrize("keras_class, our_class, params", PAIRS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_updates_equal_keras_own(keras_class, our_class, params, dtype):
    with precision(dtype):
        keras_own = _apply_five_steps(keras_class(1e-3, **params), dtype)
        ours = _apply_five_steps(our_class(1e-3, **params), dtype)
        initial = [keras.ops.convert_to_numpy(v) for v in _variables(dtype, np.random.RandomState(0))]
    for mine, theirs in zip(ours, keras_own, strict=True):
        if our_class is _optimizers.Nadam:
            # x * (1 / s) where Keras writes x / s: one rounding apart
            np.testing.assert_allclose(mine, theirs, rtol=10 * np.finfo(dtype).eps, atol=np.finfo(dtype).eps)
        else:  # Keras' own operations in Keras' order
            np.testing.assert_array_equal(mine, theirs)
    assert all(not np.allclose(after, before) for after, before in zip(ours, initial))


def test_nadam_divides_no_element_by_a_step_scalar(monkeypatch):
    # XLA compiles Keras' x / s (s a scalar of the step) into x * (1 / s) when
    # s is computed within the update, not when it comes from outside: a
    # division per element of every variable slowed the JAX epoch by ~12%.
    divisors = []
    divide = keras.ops.divide
    monkeypatch.setattr(_optimizers.ops, "divide", lambda x, y: divisors.append(np.ndim(y)) or divide(x, y))
    variables = _variables("float32", np.random.RandomState(0))
    optimizer = _optimizers.Nadam(1e-3)
    optimizer.build(variables)
    optimizer.apply([keras.ops.ones(v.shape) for v in variables], variables)
    assert divisors == [np.ndim(v) for v in variables]  # only (m_hat * lr) / (sqrt(v_hat) + epsilon)


@pytest.mark.parametrize("keras_class, our_class, params", PAIRS)
def test_trains_a_network_as_keras_own_does(keras_class, our_class, params):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((64, 5)).astype("float32")
    y = rng.randint(0, 3, 64)
    weights = []
    for optimizer in (keras_class(1e-2, **params), our_class(1e-2, **params)):
        model = build_snn(5, 3, hidden_layer_sizes=(8, 8), seed=0)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        model.fit(X, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for ours, keras_own in zip(*weights, strict=True):
        # compiled, the backend may fuse the scalar work differently: rounding apart
        # (Nadam on JAX is bit-identical: XLA multiplies by reciprocals as ours does)
        np.testing.assert_allclose(ours, keras_own, rtol=1e-5, atol=1e-6)
    assert not np.allclose(weights[0][0], build_snn(5, 3, hidden_layer_sizes=(8, 8), seed=0).get_weights()[0])


@pytest.mark.parametrize("our_class, powers_per_step", [(_optimizers.Nadam, 3), (_optimizers.Adam, 2)])
def test_the_step_scalars_are_computed_once_per_step_not_per_variable(monkeypatch, our_class, powers_per_step):
    calls = []
    power = keras.ops.power
    monkeypatch.setattr(_optimizers.ops, "power", lambda *args: calls.append(1) or power(*args))
    variables = _variables("float32", np.random.RandomState(0))
    optimizer = our_class(1e-3)
    optimizer.build(variables)
    for _ in range(2):
        optimizer.apply([keras.ops.ones(v.shape) for v in variables], variables)
    # Nadam: decay^t, decay^(t+1), beta_2^t; Adam: beta_1^t, beta_2^t -- for all 4 variables at once
    assert len(calls) == 2 * powers_per_step


@pytest.mark.parametrize("our_class, params", [(c, p) for _, c, p in PAIRS])
def test_cosine_cycles_move_the_rate_from_twice_its_value_to_zero_and_restart(our_class, params):
    # The cycled optimizer against the same one at a constant rate, set by hand
    # before each step to learning_rate * (1 + cos(pi * (t mod P) / P)): the same
    # weights, step after step, across two restarts (AdamW's decoupled decay
    # follows the rate too). Keras keeps the rate in float32: one rounding apart.
    period, rate, dtype = 4, 1e-2, "float64"
    with precision(dtype):
        cycled, by_hand = our_class(rate, **params), our_class(rate, **params)
        weights = [_variables(dtype, np.random.RandomState(0)) for _ in range(2)]
        cycled.build(weights[0])
        by_hand.build(weights[1])
        assert _optimizers.set_learning_rate_cycles(cycled, period)
        for step in range(2 * period + 2):
            by_hand.learning_rate = rate * (1 + np.cos(np.pi * (step % period) / period))
            grads = [np.random.RandomState(step).standard_normal(v.shape) for v in weights[0]]
            cycled.apply([keras.ops.convert_to_tensor(g) for g in grads], weights[0])
            by_hand.apply([keras.ops.convert_to_tensor(g) for g in grads], weights[1])
            for ours, expected in zip(weights[0], weights[1], strict=True):
                np.testing.assert_allclose(_numpy(ours), _numpy(expected), rtol=1e-7)
        # its own rate stays the user's: the cycles scale it inside the step
        assert float(_numpy(cycled.learning_rate)) == pytest.approx(rate)
        # no cycles: the constant rate again
        assert _optimizers.set_learning_rate_cycles(cycled, 0)
        before = [_numpy(v) for v in weights[0]]
        by_hand.learning_rate = rate
        grads = [keras.ops.ones(v.shape, dtype=dtype) for v in weights[0]]
        cycled.apply(grads, weights[0])
        by_hand.apply(grads, weights[1])
        for ours, expected, old in zip(weights[0], weights[1], before, strict=True):
            np.testing.assert_allclose(_numpy(ours), _numpy(expected), rtol=1e-7)
            assert not np.allclose(_numpy(ours), old)


def test_only_the_adam_family_cycles_its_rate():
    assert not _optimizers.set_learning_rate_cycles(_optimizers.SGD(1e-3), 10)
    assert not _optimizers.set_learning_rate_cycles(_optimizers.RMSprop(1e-3), 10)
