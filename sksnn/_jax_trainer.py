"""The training loop on JAX: the compiled chunk of train steps, its state, and what JAX keeps of it.

One ``jax.jit``-compiled call (``lax.scan`` over a chunk's slots) runs Keras'
stateless ``train_step`` batch after batch and applies MLP's stopping rule at
each epoch's end (:func:`chunk_trainer`); the train state goes through the
call and back to the network's variables when the estimator asks
(:class:`StatelessChunkTrainer`). The traced loop of each pooled shape is
kept on disk (``_compilation_cache.ExportedFunction``). The network's SELU
is computed with ``exp`` here (:data:`TRAINING_ACTIVATIONS`), and
:func:`release_caches` frees what JAX keeps of networks the pool dropped.
What both backends share (the network, its loss, the pool) is ``_trainer``;
TensorFlow's loop is ``_tensorflow_trainer``.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import keras  # noqa: E402
from keras import ops  # noqa: E402

from ._activations import SELU_ALPHA, SELU_SCALE  # noqa: E402
from ._compilation_cache import ExportedFunction, executables_cached  # noqa: E402


def selu_by_exp(x):
    """SELU written with ``exp(x) - 1`` where Keras' (JAX's) uses ``expm1``.

    On a CPU, XLA's float64 ``expm1`` took 81 us for 200 x 100 values against
    29 us for ``exp``: with two SELU layers, ~0.1 ms of a (100, 100) train
    step at batch 200, ~10% of it. The two differ by at most one rounding of
    the result near zero (absolute 1e-16 in float64, 6e-8 in float32), where
    ``expm1`` keeps more relative digits than a trained network can use.
    """
    return SELU_SCALE * ops.where(x > 0, x, SELU_ALPHA * (ops.exp(ops.minimum(x, 0)) - 1))


# The hidden activations the training network computes otherwise than Keras.
# The network a user gets (``model_``) and the NumPy prediction keep the
# standard definitions.
TRAINING_ACTIVATIONS = {"selu": selu_by_exp}


def chunk_trainer(network, costly):
    """A :class:`StatelessChunkTrainer` of ``network``'s compiled chunk loop (always XLA on JAX).

    ``costly`` (whether the fit's work repays an XLA compilation) decides
    nothing here: JAX compiles every loop, and frees it (:func:`release_caches`).
    """
    if True not in network.chunk_functions:
        network.chunk_functions[True] = _chunk_function(network)
    return StatelessChunkTrainer(network, network.chunk_functions[True], network.data_parallel)


def _chunk_function(network):
    import jax
    import jax.numpy as jnp

    def epoch_loss(metrics_variables):
        with keras.StatelessScope(state_mapping=list(zip(network.metrics_variables, metrics_variables))):
            return network.loss_tracker.result()

    def slot(carry, batch):
        (state, (best, count, stopped)), (tol, patience, apply_rule) = carry
        x, y, sample_weight, active, epoch_end = batch
        run = active & ~stopped
        state = jax.lax.cond(run, lambda s: network.train_step(s, (x, y, sample_weight))[1], lambda s: s, state)
        *variables, metrics_variables = state
        loss = epoch_loss(metrics_variables)
        ends = run & epoch_end
        # MLP's _update_no_improvement_count, as TrainingProgress.update
        count_after = jnp.where(loss > best - tol, count + 1, 0).astype(count.dtype)
        stop = ~jnp.isfinite(loss) | (apply_rule & (count_after > patience))
        rule = (
            jnp.where(ends, jnp.minimum(best, loss), best),
            jnp.where(ends, count_after, count),
            stopped | (ends & stop),
        )
        # Keras' fit resets the metrics as an epoch begins (a Mean: zeros)
        metrics_variables = [jnp.where(ends, jnp.zeros_like(v), v) for v in metrics_variables]
        return (((*variables, metrics_variables), rule), (tol, patience, apply_rule)), (loss, ends)

    def train_chunk(state, rule, limits, chunk):
        ((state, rule), _), (losses, ends) = jax.lax.scan(slot, ((state, rule), limits), chunk)
        return state, rule, losses, ends

    if network.run_eagerly:
        return train_chunk
    jitted = jax.jit(train_chunk, donate_argnums=0)
    if network.pool_key is None or network.data_parallel is not None:  # (an exported call runs on one device)
        return jitted
    # The traced chunk loop of each shape is kept on disk (with its
    # executable): a new process that trains a shape any process trained
    # before neither traces nor compiles it.
    return ExportedFunction(jitted, ("train_chunk", network.pool_key), donate_argnums=0)


def training_state(network):
    """The values of every variable a train step reads and writes (Keras' stateless train state)."""
    return (
        [v.value for v in network.trainable_variables],
        [v.value for v in network.non_trainable_variables],
        [v.value for v in network.optimizer.variables],
        [v.value for v in network.metrics_variables],
    )


def load_training_state(network, state):
    """Assign a train state back to the network's variables."""
    owners = (network.trainable_variables, network.non_trainable_variables, network.optimizer.variables)
    for variables, values in zip((*owners, network.metrics_variables), state):
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


class StatelessChunkTrainer:
    """Trains chunks of batches: the train state goes through each call; the variables get it back on :meth:`sync`.

    Called with ``(chunk, rule, limits)``, it returns ``(rule, losses, ends)``
    (see ``_trainer.TrainingNetwork.chunk_trainer``). The call donates the
    state it is given: until ``sync``, the network's variables hold deleted
    arrays. The call returns before JAX computes it (``asynchronous``).
    """

    asynchronous = True

    def __init__(self, network, function, parallel=None):
        self._network = network
        self._function = function
        self._parallel = parallel
        self.reload()

    def __call__(self, chunk, rule, limits):
        if self._parallel is not None:
            chunk, rule, limits = self._parallel.place(chunk, rule, limits)
        self._state, rule, losses, ends = self._function(self._state, rule, limits, chunk)
        return rule, losses, ends

    def sync(self):
        """Make the network's variables hold what training reached."""
        load_training_state(self._network, self._state)

    def reload(self):
        """Take up changes made to the network's variables since the last call."""
        self._state = training_state(self._network)


def release_caches(dropped, pool_size):
    """Free what JAX keeps of networks the pool let go; True if it did.

    JAX's tracing and lowering caches (``jax._src.util``'s LRU caches) keep
    every traced train step and its executable: ~650 MB over 180
    architectures. They are cleared whenever a network is dropped: the
    compiled functions still alive keep their own executables (the C++
    dispatch cache is not touched), so pooled networks do not compile again;
    other JAX code in the process retraces at most once. With the persistent
    compilation cache on (``_compilation_cache``), the functions read back
    from it hold ~1.5 MB a network more, which only ``jax.clear_caches``
    frees (it drops the executables of the functions still alive too): it
    runs once ``pool_size`` networks have been dropped, and the pooled
    networks then read their executables back from the cache (~0.05 s each)
    instead of compiling them.
    """
    if executables_cached() and dropped >= pool_size:
        import jax

        jax.clear_caches()
        return True
    try:
        from jax._src import util
    except ImportError:
        return not executables_cached()
    clear = getattr(util, "clear_all_caches", None)
    if clear is not None:
        clear()
    return not executables_cached()  # else the count goes on, to the next jax.clear_caches
