"""Starting the Keras backend and asking it what it runs on.

What sksnn sets as the backend starts (its CPU thread count, a quiet
start, JAX's compilation cache, a quick exit), the precision a fit computes
in (and a mean that keeps it, ``exact_mean``), and the devices the backend sees.
Nothing here imports Keras or a backend at module level: ``import sksnn``
stays cheap. The modules that import Keras call :func:`start_backend` first.

Quiet: TensorFlow's C++ side writes ~15-30 lines to stderr on a CPU machine
(oneDNN, CUDA probing with an E-level ``cuInit`` line, CPU features, a
``Not handling type DT_DOUBLE`` per float64 op traced), none of them about the
user's model; and after five architectures, a Python warning that the
train function retraces (each new architecture traces it once, by design),
which is filtered out. Unless the user configured TensorFlow's logging
(``TF_CPP_MIN_LOG_LEVEL`` set), sksnn sets its level to 2 (errors only) and
starts TensorFlow, including its device probing, with file descriptor 2 sent
to ``/dev/null``: what it prints there comes before that setting is read.
Child processes (joblib's workers, multiprocessing, dask) inherit the
variable sksnn set; sksnn also records that it set it, and which value
(``SKSNN_SET_TF_CPP_MIN_LOG_LEVEL``), so a child starts as quietly as its
parent, while a value the user set (or changed) is still the user's.

The compilation cache: see ``_compilation_cache``, opened here (on
TensorFlow, with the directory of XLA's programs set as TensorFlow starts).

Import: the backend's import runs with Python's garbage collector paused,
and what it made frozen afterwards (:func:`_collector_paused`): the
collector's full walks of the ~450,000 objects a backend brings cost ~1 s of
every process's first fit.

Exit: Python's collections at interpreter shutdown walk every object still
alive, and a backend brings ~450,000 of them (TensorFlow): ~1 s of every
process's exit. Once the backend started, sksnn freezes the collector as the
process exits (``gc.freeze`` in an ``atexit`` hook): shutdown then skips those
collections' walk; memory goes back to the system with the process.

Threads: TensorFlow and JAX (XLA) each start a thread pool as large as the machine.
Under ``GridSearchCV(n_jobs=k)`` every joblib worker would then run that many
threads: k times too many, and slower than ``n_jobs=1``. joblib's workers set
``OMP_NUM_THREADS`` to their share of the cores; sksnn gives the backend the
same number. ``SKSNN_NUM_THREADS`` overrides it (``0`` or unset with no
``OMP_NUM_THREADS``: the backend's own default).
"""

import atexit
import contextlib
import gc
import json
import os
import sys


def thread_limit():
    """The thread count asked for through the environment, or None."""
    for name in ("SKSNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
        if value == "0" and name == "SKSNN_NUM_THREADS":
            return None
    return None


_started = False


def backend_started():
    """Whether this process started the backend (through :func:`start_backend`)."""
    return _started


def start_backend():
    """Prepare the backend before Keras imports it: its threads, and a quiet start (once a process)."""
    global _started
    if _started:
        return
    backend = _keras_backend()
    check_supported(backend)
    _started = True
    on_tensorflow = backend == "tensorflow"
    quiet = on_tensorflow and "tensorflow" not in sys.modules and not _tf_log_level_set_by_user()
    importing = "keras" not in sys.modules
    if on_tensorflow:
        from ._compilation_cache import xla_programs_directory

        xla_programs = xla_programs_directory(_stderr_to_devnull)  # read by TensorFlow as it lists its devices
    else:
        xla_programs = contextlib.nullcontext()
    with _collector_paused() if importing else contextlib.nullcontext(), xla_programs:  # see the module's docstring
        if not quiet:
            limit_backend_threads()
            if on_tensorflow:
                import tensorflow as tf

                tf.config.list_physical_devices()
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ[_QUIET_MARKER] = _QUIET_LEVEL
            with _stderr_to_devnull():
                import tensorflow as tf

                limit_backend_threads()
                tf.config.list_physical_devices()  # probes CUDA, which logs an error without a driver
        if on_tensorflow:
            from ._compilation_cache import enable_for_tensorflow

            _hush_keras_retracing_warning()
            enable_for_tensorflow()
        if backend == "jax":
            from ._compilation_cache import enable_for_jax

            enable_for_jax()
        import keras  # noqa: F401  (the backend's import: the modules that called this import Keras next)
    atexit.register(gc.freeze)  # see the module's docstring: a faster exit


@contextlib.contextmanager
def _collector_paused():
    """Python's garbage collector off for the block, then the objects made so far frozen, then on again.

    Importing a backend creates ~450,000 objects (TensorFlow), which made
    Python's collector run ~6 full collections during the import, each
    walking every object made so far: 0.8-1.2 s of TensorFlow's import. The
    modules, functions and classes a backend brings live as long as the
    process: ``gc.freeze`` moves them to the permanent generation, which no
    later collection walks either (CPython's documentation gives the same
    disable, freeze, enable sequence for long-lived objects before a fork).
    Reference counting frees frozen objects as before; only a reference
    cycle among objects alive at the backend's import, which becomes garbage
    later, stays until the process ends (``gc.unfreeze`` gives it back to
    the collector).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


# The backends sksnn trains on: its compiled training loop exists for these two.
SUPPORTED_BACKENDS = ("tensorflow", "jax")


def check_supported(backend):
    """Raise a clear error, before Keras imports anything, when ``backend`` is not one sksnn trains on."""
    if backend not in SUPPORTED_BACKENDS:
        raise RuntimeError(
            f"sksnn trains on Keras' {' or '.join(repr(b) for b in SUPPORTED_BACKENDS)} backend, and Keras is set "
            f"to {backend!r} (KERAS_BACKEND, or 'backend' in ~/.keras/keras.json). Choose one before sksnn or Keras "
            "is imported, for example KERAS_BACKEND=jax python script.py, or os.environ['KERAS_BACKEND'] = "
            "'tensorflow' at the top of the script. Prediction, loading and ONNX export need no backend."
        )


# TensorFlow's C++ log level sksnn sets (errors only), and the variable that says sksnn set it.
_QUIET_LEVEL = "2"
_QUIET_MARKER = "SKSNN_SET_TF_CPP_MIN_LOG_LEVEL"


def _tf_log_level_set_by_user():
    """Whether ``TF_CPP_MIN_LOG_LEVEL`` is the user's: set, and not to the value sksnn recorded setting."""
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    return level is not None and level != os.environ.get(_QUIET_MARKER)


class _KerasRetracing:
    """A logging filter: drops TensorFlow's "triggered tf.function retracing" warning about the train functions."""

    def filter(self, record):
        message = record.getMessage()
        ours = "TensorFlowTrainer." in message or "train_sksnn_chunk" in message
        return not ("triggered tf.function retracing" in message and ours)


def _hush_keras_retracing_warning():
    """Keep TensorFlow from warning, in a search over architectures, that the train step retraces.

    Every new architecture is a new network whose train function is traced
    once, by design (the pool reuses it for the next fit of that shape);
    TensorFlow counts those traces across networks and, after five, warns on
    stderr about "excessive retracing" of the function. Only that warning
    about sksnn's and Keras' own train functions is dropped, not the user's.
    """
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(isinstance(f, _KerasRetracing) for f in logger.filters):
        logger.addFilter(_KerasRetracing())


@contextlib.contextmanager
def _stderr_to_devnull():
    """Send file descriptor 2 (C and C++ code's stderr) to ``/dev/null`` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def limit_backend_threads():
    """Apply :func:`thread_limit` to the backend; call before Keras is imported."""
    limit = thread_limit()
    if limit is None:
        return
    backend = _keras_backend()
    if backend == "jax" and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (
                f"{flags} --xla_cpu_multi_thread_eigen={'true' if limit > 1 else 'false'} "
                f"intra_op_parallelism_threads={limit}"
            ).strip()
    elif backend == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(limit)
            tf.config.threading.set_inter_op_parallelism_threads(limit)
        except RuntimeError:  # TensorFlow already ran something: its pools are fixed
            pass


def _keras_backend():
    """The backend Keras will pick, found as Keras finds it, without importing it."""
    if "keras" in sys.modules:  # Keras chose already (its config may have been changed in code)
        return sys.modules["keras"].backend.backend()
    if "KERAS_BACKEND" in os.environ:
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    try:
        with open(os.path.join(home, "keras.json")) as config:
            return json.load(config).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def precision(dtype):
    """A context in which the backend computes in ``dtype``.

    JAX computes in 32 bits unless 64-bit types are enabled; they are enabled
    for float64 networks only (the estimators' ``dtype``), and only within
    the fit, so the user's JAX configuration stays as it was.
    """
    import keras

    if dtype == "float64" and keras.backend.backend() == "jax":
        try:
            from jax import enable_x64
        except ImportError:  # older JAX has it in jax.experimental only
            from jax.experimental import enable_x64

        return enable_x64(True)
    return contextlib.nullcontext()


def exact_mean(x, axis):
    """``keras.ops.mean(x, axis)``, computed in ``x``'s own dtype.

    Keras' JAX ``mean`` computes in ``result_type(x.dtype, "float32")``, and
    Keras' type lattice maps 64-bit types to 32-bit ones when JAX starts
    without 64-bit types (as sksnn starts it): float64 losses and a packed
    ensemble's mean were rounded to float32 (~1e-8). A sum over the axis,
    divided by its static length, keeps the dtype on every backend.
    """
    from keras import ops

    return ops.sum(x, axis=axis) / x.shape[axis]


def gpu_devices():
    """The backend's name and the GPUs it sees (an empty list: none)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return backend, [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return backend, [d.name for d in tf.config.list_physical_devices("GPU")]
    import torch

    return backend, [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
