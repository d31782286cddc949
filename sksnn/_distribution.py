"""Data-parallel training: how a train step splits each batch over the devices the user chose.

On JAX, the user's ``keras.distribution.DataParallel`` (one machine or
several, with ``jax.distributed``): :class:`DataParallel` places a chunk's
batches split over the mesh and XLA partitions the compiled call. On
TensorFlow, the scope of the user's ``tf.distribute.MirroredStrategy``:
:class:`StrategyReplicas` runs each step once per replica on its share of
the rows, with that share of the batch's loss. :func:`data_parallel` says
which applies to a fit (part of the pool's key, see ``_trainer``).
"""

from ._backend import start_backend

start_backend()  # before Keras starts the backend

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from ._losses import weighted_loss_sum  # noqa: E402


class DataParallel:
    """A batch split over the devices of the user's ``keras.distribution.DataParallel`` (JAX).

    Keras places the network's variables as the distribution says (replicated
    for DataParallel) when they are created; sksnn's chunk call then gets
    each batch's rows split over the mesh's batch axis and everything else
    replicated, and XLA partitions the compiled step (GSPMD): each device
    computes its rows, the gradients and the loss are summed across devices.
    The same global batches give the single-device result up to the order of
    those sums. In a multi-process run (``jax.distributed``), every process
    fits the same X and the same batches, and gives its share of each batch's
    rows (``jax.make_array_from_process_local_data``).
    """

    def __init__(self, distribution):
        import jax

        self.key = (type(distribution).__name__, distribution.device_mesh.devices.shape)
        self.key += (tuple(distribution.device_mesh.devices.ravel()),)
        self.batch_axis = distribution.get_data_layout((1,)).axes[0]
        by_name = {f"{d.platform}:{d.id}": d for d in jax.devices()}
        mesh = distribution.device_mesh
        # Keras' mesh holds device names ("cpu:0"), or the devices themselves (Keras 3.7)
        devices = [d if isinstance(d, jax.Device) else by_name[str(d).lower()] for d in mesh.devices.ravel()]
        devices = np.array(devices).reshape(mesh.devices.shape)
        self.mesh = jax.sharding.Mesh(devices, mesh.axis_names)
        self.replicas = int(np.prod([mesh.shape[i] for i, n in enumerate(mesh.axis_names) if n == self.batch_axis]))

    def place(self, chunk, rule, limits):
        """The chunk's batches split along their rows (axis 1), the rest replicated."""
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        rows = NamedSharding(self.mesh, PartitionSpec(None, self.batch_axis))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        x, y, sample_weight, active, epoch_end = chunk

        processes, process = jax.process_count(), jax.process_index()

        def split(a):
            # Every process fits the same X and draws the same batches (same
            # seed); each contributes its share of every batch's rows.
            a = np.asarray(a)
            if processes > 1:
                share = a.shape[1] // processes
                a = a[:, process * share : (process + 1) * share]
            return jax.make_array_from_process_local_data(rows, a)

        chunk = (split(x), split(y), split(sample_weight), *jax.device_put((active, epoch_end), replicated))
        return chunk, jax.device_put(rule, replicated), jax.device_put(limits, replicated)


class StrategyReplicas:
    """A batch split over the replicas of the user's ``tf.distribute.MirroredStrategy`` (TensorFlow).

    (``OneDeviceStrategy`` too: one replica, the whole batch.)

    The network's variables are mirrored on every device (they are created
    under the strategy's scope, which the fit runs in). Each train step runs
    once per replica (``strategy.run``) on its share of the batch's rows; the
    loss each replica differentiates is its rows' share of the global batch's
    loss (its weighted sum over the batch's summed sample weight, all-reduced,
    plus its share of the L2 penalty), so the gradients Keras' optimizer sums
    across replicas are those of the whole batch on one device.
    """

    def __init__(self, strategy):
        self.strategy = strategy
        self.replicas = strategy.num_replicas_in_sync
        # A network's mirrored variables belong to the strategy they were made
        # under: the pool gives it to fits under that strategy only (a pooled
        # network holds its strategy, so the id is not reused meanwhile).
        self.key = (type(strategy).__name__, id(strategy), tuple(strategy.extended.worker_devices))

    def run(self, step, x, y, sample_weight):
        """``step((x, y, sample_weight))`` on each replica, with its share of the rows."""
        import tensorflow as tf

        def replica_step():
            context = tf.distribute.get_replica_context()
            share = tf.shape(x)[0] // self.replicas
            rows = slice(context.replica_id_in_sync_group * share, (context.replica_id_in_sync_group + 1) * share)
            step((x[rows], y[rows], sample_weight[rows]))

        self.strategy.run(replica_step)

    def replica_loss(self, network, y, y_pred, sample_weight):
        """A replica's share of the batch's loss (TensorFlow strategy): the replicas' gradients sum to the batch's.

        Its rows' weighted loss over the whole batch's summed weight
        (:func:`weighted_loss_sum`), plus its share of the penalty. The first
        replica records the batch's loss in the loss tracker's sums (the
        others add zero).
        """
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        weight = ops.ones(ops.shape(y_pred)[:1], y_pred.dtype) if sample_weight is None else sample_weight
        total_weight = context.all_reduce(tf.distribute.ReduceOp.SUM, ops.sum(ops.cast(weight, y_pred.dtype)))
        loss = weighted_loss_sum(network.data_loss, y, y_pred, weight) / total_weight
        if network.penalized:
            loss = loss + network.penalty(loss.dtype) / total_weight / self.replicas
        batch_loss = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.stop_gradient(loss))
        first = ops.cast(ops.equal(context.replica_id_in_sync_group, 0), loss.dtype)
        # TensorFlow's own assign_add: Keras' (up to 3.8 or so) assigns
        # ``variable + value``, which a mirrored metric variable sums over
        # the replicas (its old value counted once per replica).
        network.loss_tracker.total.value.assign_add(batch_loss * total_weight * first)
        network.loss_tracker.count.value.assign_add(total_weight * first)
        return loss


def data_parallel():
    """The user's data-parallel distribution (``keras.distribution.set_distribution``) on JAX, or None.

    On TensorFlow, the scope of the user's ``tf.distribute.MirroredStrategy``
    (or ``OneDeviceStrategy``) a fit runs in. Keras' other distributions and
    TensorFlow's other strategies are not supported: a fit under them raises.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.distribute.has_strategy():
            return None
        strategy = tf.distribute.get_strategy()
        if not isinstance(strategy, (tf.distribute.MirroredStrategy, tf.distribute.OneDeviceStrategy)):
            raise ValueError(
                "sksnn trains under tf.distribute.MirroredStrategy only (one machine, several devices), "
                f"not {type(strategy).__name__}. For several machines use the JAX backend with "
                "keras.distribution.DataParallel and jax.distributed."
            )
        return StrategyReplicas(strategy)
    if keras.backend.backend() != "jax":
        return None
    distribution = keras.distribution.distribution()
    if distribution is None:
        return None
    if not isinstance(distribution, keras.distribution.DataParallel):
        raise ValueError(
            f"sksnn trains under keras.distribution.DataParallel only, not {type(distribution).__name__}: "
            "its networks are small enough to hold whole on each device."
        )
    return DataParallel(distribution)
