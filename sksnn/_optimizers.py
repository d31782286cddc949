"""Keras' optimizers as sksnn trains with them: scalars once a step, no all-reduce of one replica.

Each minibatch solver's optimizer is Keras' own class. On TensorFlow, none
of them all-reduces the gradients of a single replica (:class:`_OneReplica`:
Keras' all-reduce kept every traced train step alive). Nadam, Adam and AdamW
also compute their per-step scalars once per step, not once per variable:
Keras' ``update_step`` of these optimizers recomputes the step's scalar
factors (powers of the betas and of the decay, casts, the momentum-cache
product) for every variable: ~35 of Nadam's ~50 operations. Tracing them for
the 42 variables of a (100,) * 20 network was three quarters of TensorFlow's
trace of the train step (cProfile), paid by the first fit of every
architecture (and by XLA's compile on JAX). Here they are computed for the
first variable of a step and reused by the others. Every operation on a
variable's tensors is Keras' own, in Keras' order: Adam's and AdamW's updates
are bit-identical to Keras'. Nadam multiplies by the reciprocals of its three
step scalars where Keras divides by them, as XLA compiles Keras' own Nadam:
bit-identical to it in training on JAX, one rounding apart elsewhere
(tests/test_optimizers.py).

Nadam, Adam and AdamW can also move their learning rate in cosine cycles with
warm restarts (:class:`_CosineCycles`, off unless a fit sets the cycle's
length): the rate is then a function of the step count inside the compiled
step, on both backends, with nothing traced again when a fit turns it on.
"""

import math

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import keras  # noqa: E402
from keras import ops  # noqa: E402

from ._network import numpy_zeros  # noqa: E402


class _OneReplica:
    """Gradients of one replica go to the update as they are (TensorFlow), not through an all-reduce.

    Keras' TensorFlow optimizer sums the gradients over replicas with
    ``ReplicaContext.all_reduce`` even under TensorFlow's default strategy,
    where the sum is of one replica. In a traced step that call registers a
    ``tf.custom_gradient`` in TensorFlow's global gradient registry, which
    nothing ever removes and whose closure holds the traced graph: every new
    architecture kept its whole train step alive, ~6 MB each in a long search
    (tests/test_trainer.py). Under a distribution strategy Keras' all-reduce
    runs as before. On JAX this method is not called.
    """

    def _all_reduce_sum_gradients(self, grads_and_vars):
        import tensorflow as tf

        if tf.distribute.has_strategy():
            return super()._all_reduce_sum_gradients(grads_and_vars)
        return list(grads_and_vars)


class _ZerosFromNumpy:
    """The optimizer's zero-initialized variables (moments, momenta) start from NumPy zeros.

    Keras' "zeros" initializer compiles a kernel for each new shape on JAX,
    in every new process (see ``_network.numpy_zeros``).
    """

    def add_variable(self, shape, initializer="zeros", *args, **kwargs):
        if isinstance(initializer, str) and initializer == "zeros":
            initializer = numpy_zeros
        return super().add_variable(shape, initializer, *args, **kwargs)


class _ScalarsOncePerStep:
    """Keeps the factors of the step being applied; subclasses compute them."""

    _factors = None  # (dtype, factors) of the step being applied

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        # Keras calls update_step for each variable from here (Nadam first
        # advances its momentum-cache product): the factors belong to this step.
        self._factors = None
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._factors = None

    def _step_factors(self, dtype, learning_rate):
        if self._factors is None or self._factors[0] != dtype:
            self._factors = (dtype, self._compute_step_factors(dtype, learning_rate))
        return self._factors[1]


class _CosineCycles:
    """The learning rate in cosine cycles of ``cycle_steps`` steps, with warm restarts (0: a constant rate).

    At step ``t`` of a cycle of ``P`` steps the rate is ``learning_rate * (1 +
    cos(pi * (t mod P) / P))``: from twice ``learning_rate`` down to zero, then
    back at the top (Loshchilov & Hutter 2017's SGDR, cycles of one length),
    ``learning_rate`` on average over a cycle. ``cycle_steps`` is an
    optimizer variable, so the compiled step and its cache serve fits with
    and without cycles, of any length; each fit sets it
    (``set_learning_rate_cycles``).
    """

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.cycle_steps = self.add_variable(shape=(), initializer="zeros", name="cycle_steps")

    def _apply_weight_decay(self, variables):
        # AdamW's decoupled decay is weight_decay * learning_rate a step (Keras
        # multiplies them in each backend's own method): it follows the cycles,
        # as it follows a Keras schedule of the rate. Exactly Keras' without.
        if self.weight_decay is None or not variables:
            return super()._apply_weight_decay(variables)
        weight_decay, dtype = self.weight_decay, variables[0].dtype
        self.weight_decay = ops.cast(weight_decay, dtype) * self._cycle_factor(dtype)
        try:
            super()._apply_weight_decay(variables)
        finally:
            self.weight_decay = weight_decay

    def _cycle_factor(self, dtype):
        """The step's factor of the learning rate: exactly 1 without cycles."""
        period = ops.cast(self.cycle_steps, dtype)
        length = ops.maximum(period, 1.0)  # no division by 0 when off
        position = ops.mod(ops.cast(self.iterations, dtype), length) / length
        return ops.where(period > 0, 1.0 + ops.cos(math.pi * position), ops.ones((), dtype))


def set_learning_rate_cycles(optimizer, steps):
    """Cycles of ``steps`` steps for ``optimizer``'s rate (0: constant); False if it has none."""
    if not isinstance(optimizer, _CosineCycles):
        return False
    optimizer.cycle_steps.assign(float(steps))
    return True


class Nadam(_OneReplica, _ZerosFromNumpy, _ScalarsOncePerStep, _CosineCycles, keras.optimizers.Nadam):
    """:class:`keras.optimizers.Nadam`, with the scalar work of a step done once."""

    def _compute_step_factors(self, dtype, learning_rate):
        # As Nadam.update_step computes them (casting the betas as it does: on
        # TensorFlow a Python float becomes float32 first).
        local_step = ops.cast(self.iterations + 1, dtype)
        next_step = ops.cast(self.iterations + 2, dtype)
        decay = ops.cast(0.96, dtype)
        beta_1 = ops.cast(self.beta_1, dtype)
        beta_2 = ops.cast(self.beta_2, dtype)
        u_t = beta_1 * (1.0 - 0.5 * (ops.power(decay, local_step)))
        u_t_1 = beta_1 * (1.0 - 0.5 * (ops.power(decay, next_step)))
        u_product_t = ops.cast(self._u_product, dtype)
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = ops.power(beta_2, local_step)
        return {
            "lr": ops.cast(learning_rate, dtype) * self._cycle_factor(dtype),
            "one_minus_beta_1": 1 - beta_1,
            "one_minus_beta_2": 1 - beta_2,
            "u_t_1": u_t_1,
            "one_minus_u_t": 1 - u_t,
            # Nadam divides every element by these three scalars; XLA compiles
            # Keras' own update into multiplications by their reciprocals, but
            # not this one's (the scalars come from outside the update), and a
            # division costs several multiplications: the JAX epoch was ~12%
            # slower than Keras' Nadam with divisions here.
            "reciprocal_of_one_minus_u_product_t_1": 1.0 / (1 - u_product_t_1),
            "reciprocal_of_one_minus_u_product_t": 1.0 / (1 - u_product_t),
            "reciprocal_of_one_minus_beta_2_power": 1.0 / (1 - beta_2_power),
        }

    def update_step(self, gradient, variable, learning_rate):
        f = self._step_factors(variable.dtype, learning_rate)
        gradient = ops.cast(gradient, variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), f["one_minus_beta_1"]))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), f["one_minus_beta_2"]))
        m_hat = ops.add(
            ops.multiply(ops.multiply(f["u_t_1"], m), f["reciprocal_of_one_minus_u_product_t_1"]),
            ops.multiply(ops.multiply(f["one_minus_u_t"], gradient), f["reciprocal_of_one_minus_u_product_t"]),
        )
        v_hat = ops.multiply(v, f["reciprocal_of_one_minus_beta_2_power"])
        self.assign_sub(variable, ops.divide(ops.multiply(m_hat, f["lr"]), ops.add(ops.sqrt(v_hat), self.epsilon)))


class _AdamUpdate(_ScalarsOncePerStep, _CosineCycles):
    """Adam's update_step (shared by Adam and AdamW), scalars once per step."""

    def _compute_step_factors(self, dtype, learning_rate):
        # As Adam.update_step computes them.
        lr = ops.cast(learning_rate, dtype) * self._cycle_factor(dtype)
        local_step = ops.cast(self.iterations + 1, dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)
        return {"alpha": lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)}

    def update_step(self, gradient, variable, learning_rate):
        alpha = self._step_factors(variable.dtype, learning_rate)["alpha"]
        gradient = ops.cast(gradient, variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[self._get_variable_index(variable)]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))


class Adam(_OneReplica, _ZerosFromNumpy, _AdamUpdate, keras.optimizers.Adam):
    """:class:`keras.optimizers.Adam`, with the scalar work of a step done once."""


class AdamW(_OneReplica, _ZerosFromNumpy, _AdamUpdate, keras.optimizers.AdamW):
    """:class:`keras.optimizers.AdamW`, with the scalar work of a step done once."""


class SGD(_OneReplica, _ZerosFromNumpy, keras.optimizers.SGD):
    """:class:`keras.optimizers.SGD`, without the all-reduce of one replica."""


class RMSprop(_OneReplica, _ZerosFromNumpy, keras.optimizers.RMSprop):
    """:class:`keras.optimizers.RMSprop`, without the all-reduce of one replica."""
