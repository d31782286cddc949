"""The training loop on TensorFlow: the compiled chunk of train steps, and what TensorFlow keeps of it.

One ``tf.function`` (a ``tf.while_loop`` over a chunk's slots) runs Keras'
``train_step`` batch after batch on the network's variables and applies
MLP's stopping rule at each epoch's end (:func:`chunk_trainer`), its traced
form (and, XLA-compiled, its program) kept on disk
(``_compilation_cache.StoredGraphFunction``); in the
scope of a user's ``tf.distribute.MirroredStrategy`` each step runs once per
replica (``_distribution.StrategyReplicas``). The loop is XLA-compiled only
for fits whose work repays it: TensorFlow never frees what XLA compiled.
:func:`release_caches` frees the functions TensorFlow keeps of networks the
pool dropped. What both backends share is ``_trainer``; JAX's loop is
``_jax_trainer``.
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import contextlib  # noqa: E402

from ._compilation_cache import StoredGraphFunction  # noqa: E402

# The hidden activations the training network computes otherwise than Keras:
# none (TensorFlow's Selu is one fused kernel).
TRAINING_ACTIVATIONS = {}


def chunk_trainer(network, costly):
    """A :class:`ChunkTrainer` of ``network``'s chunk loop, XLA-compiled when ``costly``.

    ``costly``: the fit's training work exceeds what a compilation costs.
    XLA's steps are faster, but TensorFlow never frees what XLA compiled
    (``device_compilation_cache.h``: no eviction), ~20 MB a network, so only
    such fits use it, and a long search over small fits stays in the graph
    executor. XLA compiles for one device: a strategy's replicas run in the
    graph executor.
    """
    xla = costly and network.data_parallel is None
    if xla not in network.chunk_functions:
        network.chunk_functions[xla] = _chunk_function(network, xla)
    return ChunkTrainer(network.chunk_functions[xla])


def _chunk_function(network, xla):
    import tensorflow as tf

    dtype = network.loss_tracker.dtype
    mirrored = network.data_parallel

    def train_sksnn_chunk(chunk, rule, limits):
        x, y, sample_weight, active, epoch_end = chunk
        tol, patience, apply_rule = limits
        slots = tf.shape(active)[0]

        def train_slot(i):
            if mirrored is None:
                network.train_step((x[i], y[i], sample_weight[i]))
            else:
                mirrored.run(network.train_step, x[i], y[i], sample_weight[i])
            return tf.constant(True)

        def reset_loss():  # as Keras' fit, as an epoch begins
            network.loss_tracker.reset_state()
            return tf.constant(True)

        def slot(i, best, count, stopped, losses, ended):
            run = active[i] & ~stopped
            tf.cond(run, lambda: train_slot(i), lambda: tf.constant(False))
            loss = network.loss_tracker.result()
            ends = run & epoch_end[i]
            # MLP's _update_no_improvement_count, as TrainingProgress.update
            count_after = tf.where(loss > best - tol, count + 1, tf.zeros_like(count))
            stop = ~tf.math.is_finite(loss) | (apply_rule & (count_after > patience))
            best = tf.where(ends, tf.minimum(best, loss), best)
            count = tf.where(ends, count_after, count)
            stopped = stopped | (ends & stop)
            tf.cond(ends, reset_loss, lambda: tf.constant(False))
            return i + 1, best, count, stopped, losses.write(i, loss), ended.write(i, ends)

        start = (
            tf.constant(0),
            *rule,
            tf.TensorArray(dtype, size=slots),
            tf.TensorArray(tf.bool, size=slots),
        )
        _, best, count, stopped, losses, ended = tf.while_loop(lambda i, *_: i < slots, slot, start)
        return (best, count, stopped), losses.stack(), ended.stack()

    # XLA: TensorFlow's graph executor ran a (100, 100) float64 step in
    # ~1.9 ms (one kernel launch per op, no oneDNN for float64), XLA in
    # ~1.3 ms. Its compilation costs ~1 s more a shape than tracing, which
    # the faster steps of a large enough fit repay (see chunk_trainer).
    # No autograph: the loop is written with TensorFlow's own control flow,
    # and autograph's conversion of this function's source (parsing and
    # rewriting it) cost ~0.3 s of every process's first fit.
    function = tf.function(train_sksnn_chunk, jit_compile=xla, reduce_retracing=True, autograph=False)
    if mirrored is not None or network.pool_key is None:
        return function
    # The traced loop of each shape is kept on disk: a new process that trains
    # a shape any process trained before does not trace it again (nor, with
    # XLA, compile it again).
    return StoredGraphFunction(function, ("train_chunk", network.pool_key, xla), network.traced_variables(), xla=xla)


class ChunkTrainer:
    """Trains chunks of batches on a network whose variables the compiled call updates.

    Called with ``(chunk, rule, limits)``, it returns ``(rule, losses, ends)``
    (see ``_trainer.TrainingNetwork.chunk_trainer``). The call runs without
    Grappler (:func:`_without_grappler`), and returns once the chunk is
    trained (not ``asynchronous``).
    """

    asynchronous = False

    def __init__(self, function):
        self._function = function

    def __call__(self, chunk, rule, limits):
        with _without_grappler():
            return self._function(chunk, rule, limits)

    def sync(self):
        """Make the network's variables hold what training reached (here they always do)."""

    def reload(self):
        """Take up changes made to the network's variables since the last call (here nothing to do)."""


_without_grappler_options = {}  # the thread's options (serialized config, executor) -> the same without Grappler


@contextlib.contextmanager
def _without_grappler():
    """The calling thread's function calls run without Grappler, TensorFlow's graph optimizer, for the block.

    Grappler rewrites a function's graph when the function is first run
    (constant folding, arithmetic, layout and fusion passes), which cost more
    of a small fit than its rewrites save on a chunk of Dense steps in the
    graph executor: a new process's first fit of iris 0.67 -> 0.60 s (its
    first chunk call 0.43 -> 0.37 s), warm steps unchanged (digits CV and
    breast_cancer with (100,) * 20, float64 and float32: 0.94-1.01x), losses
    bit-identical. Only sksnn's own calls run without it: the options are
    the thread's (``context.function_call_options``; TensorFlow's
    ``tf.config.optimizer.set_experimental_options`` would set them for the
    whole process), and are restored after the call.
    """
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    ctx = context.context()
    saved = ctx.function_call_options
    key = (saved.config_proto_serialized, saved.executor_type)
    if key not in _without_grappler_options:
        config = config_pb2.ConfigProto()
        config.ParseFromString(saved.config_proto_serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        options = context.FunctionCallOptions(executor_type=saved.executor_type, config_proto=config)
        _without_grappler_options[key] = options
    ctx.function_call_options = _without_grappler_options[key]
    try:
        yield
    finally:
        ctx.function_call_options = saved


def release_caches(dropped, pool_size):
    """Free what TensorFlow keeps of networks the pool let go; True if it did.

    TensorFlow's eager kernel cache keeps every function it ran instantiated
    (its optimized graph and executor) after the function is deleted: ~1.3 MB
    a small network. Clearing it (as Keras' ``clear_session`` does) makes the
    functions still alive instantiate again at their next call (~0.2 s each),
    so it is cleared once ``pool_size`` networks have been dropped: a pooled
    network pays that at most once per ``pool_size`` new ones.
    """
    if dropped < pool_size:
        return False
    from tensorflow.python.eager import context

    context.context().clear_kernel_cache()
    return True
