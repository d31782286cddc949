"""The persistent compilation cache: what one process traced and compiled, the next one loads.

Every new process (a script, a notebook kernel, each joblib worker of a
search) would otherwise trace and compile the training step again, 1-1.5 s a
network on 2 CPU cores, more than a whole fit of a small data set. sksnn
keeps these entries on disk, shared by every process of the machine:

- JAX: XLA's executables, through JAX's own persistent compilation cache
  (sksnn hands it this store in place of JAX's file cache);
- JAX: the traced and lowered training function of each compiled shape
  (``jax.export``, :class:`ExportedFunction`, see ``_jax_trainer``), so that
  a new process neither traces nor compiles a shape any process compiled
  before;
- TensorFlow: the traced training function of each shape (its
  FunctionDefs, :class:`StoredGraphFunction`, see ``_tensorflow_trainer``),
  so that a new process does not trace it again; and for the XLA-compiled
  ones, the programs TensorFlow's XLA writes to its persistent cache, handed
  to it through a directory private to the process
  (:func:`xla_programs_directory`, :class:`_KeepsXlaPrograms`), so that a new
  process does not compile them again either.

Owns where the cache lives and when it is on (:func:`settings`), and the
store (:class:`FileStore`): one file an entry, written atomically (a
temporary file renamed into place, so that concurrent writers of one entry
each leave a whole file and readers never see half of one), read back only
when its checksum holds (a truncated or corrupted entry is a miss: the
caller compiles again and the entry is rewritten), its total size bounded
(least recently used entries go first).

Settings, read when the backend starts:

- ``SKSNN_COMPILATION_CACHE``: unset or empty, the user's cache directory
  (``platformdirs.user_cache_dir("sksnn")``, e.g. ``~/.cache/sksnn`` on
  Linux); ``0``/``off``/``false``/``no``, no cache; anything else, the
  directory to use.
- ``SKSNN_COMPILATION_CACHE_MB``: the size bound, 1024 MB unless set.

The executable cache is on only for JAX >= 0.6: on JAX 0.4.30 to 0.5.3, CPU
executables read back from the cache crashed the process or trained to NaN
(heap corruption, 5-6 of 7 fresh processes here; 0 of 7 from 0.6.0 on), so
there sksnn leaves JAX's cache off. A ``jax_compilation_cache_dir`` the user
set is left to JAX, as configured.
"""

import contextlib
import functools
import hashlib
import os
import tempfile
import weakref

_OFF = frozenset({"0", "off", "false", "no"})
_DEFAULT_MB = 1024
_SUFFIX = ".sksnn"
_MAGIC = b"sksnn-cache-1\n"
_DIGEST = hashlib.sha256
_DIGEST_SIZE = _DIGEST().digest_size

# The first JAX whose CPU executables read back from the cache run correctly (see the docstring).
JAX_EXECUTABLE_CACHE_FROM = "0.6.0"


def settings():
    """``(directory or None, size bound in bytes)`` from the environment; None: the cache is off."""
    value = os.environ.get("SKSNN_COMPILATION_CACHE", "").strip()
    if value.lower() in _OFF:
        return None, 0
    directory = value or _default_directory()
    try:
        megabytes = float(os.environ.get("SKSNN_COMPILATION_CACHE_MB", _DEFAULT_MB))
    except ValueError:
        megabytes = _DEFAULT_MB
    if megabytes <= 0:
        return None, 0
    return os.path.abspath(os.path.expanduser(directory)), int(megabytes * 2**20)


def _default_directory():
    import platformdirs

    return platformdirs.user_cache_dir("sksnn", appauthor=False)


class FileStore:
    """Entries of bytes under string keys, one file each, in ``directory``, at most ``max_bytes`` in all.

    Every method swallows the file system's errors (a full disk, a directory
    that cannot be written, a file another process is replacing): the cache
    then misses, and the caller compiles.
    """

    def __init__(self, directory, max_bytes):
        self.directory = directory
        self.max_bytes = max_bytes
        self._written = 0  # bytes written by this process since it last checked the bound
        self.hits = self.misses = 0  # this process's reads: found whole, or not (absent, corrupted)

    def _path(self, key):
        # Keys may hold any character (JAX's have a module name); the file name is their digest.
        return os.path.join(self.directory, hashlib.sha256(key.encode()).hexdigest()[:40] + _SUFFIX)

    def get(self, key):
        """The entry's bytes, or None if it is absent, truncated or corrupted (then it is removed)."""
        path = self._path(key)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except OSError:
            self.misses += 1
            return None
        header = len(_MAGIC) + _DIGEST_SIZE
        value = data[header:]
        if data[: len(_MAGIC)] != _MAGIC or data[len(_MAGIC) : header] != _DIGEST(value).digest():
            with contextlib.suppress(OSError):
                os.remove(path)
            self.misses += 1
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        self.hits += 1
        return value

    def put(self, key, value):
        """Write the entry; a concurrent writer of the same key leaves a whole file too (last one wins)."""
        value = bytes(value)
        if len(value) > self.max_bytes:
            return
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError:
            return
        if not _write_whole(self._path(key), _MAGIC + _DIGEST(value).digest() + value):
            return
        self._written += len(value)
        if self._written > self.max_bytes // 16:  # check the bound now and then, not on every write
            self._written = 0
            self.evict()

    def evict(self):
        """Remove the least recently used entries until the store holds at most ``max_bytes``."""
        entries = []
        try:
            with os.scandir(self.directory) as scan:
                for entry in scan:
                    if entry.name.endswith(_SUFFIX):
                        with contextlib.suppress(OSError):
                            stat = entry.stat()
                            entries.append((stat.st_mtime, stat.st_size, entry.path))
        except OSError:
            return
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                os.remove(path)  # a reader that opened it still reads it whole (POSIX)
            total -= size

    def __len__(self):
        try:
            return sum(1 for name in os.listdir(self.directory) if name.endswith(_SUFFIX))
        except OSError:
            return 0


def _write_whole(path, data):
    """Write ``data`` to ``path`` through a temporary file renamed into place: readers see all of it or none."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".writing-", suffix=".tmp")
    except OSError:
        return False
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        return False
    return True


_store = None  # the FileStore of this process once the backend started with the cache on
_executables = False  # whether JAX's executables go through it


def store():
    """This process's :class:`FileStore`, or None when the cache is off (or the backend has not started)."""
    return _store


def executables_cached():
    """Whether JAX's compiled executables are kept in (and read back from) the store."""
    return _executables


def enable_for_jax():
    """Open the store and hand it to JAX as its persistent compilation cache; call as the backend starts.

    Returns the store, or None when the cache is off. JAX's own settings win:
    a cache directory the user configured is left as it is (sksnn's store
    then keeps only its exported functions), and on JAX < 0.6 the executables
    are not cached (see the module's docstring).
    """
    global _executables
    if _open_store() is None:
        return None
    import jax
    from sklearn.utils.fixes import parse_version

    if (
        parse_version(jax.__version__) < parse_version(JAX_EXECUTABLE_CACHE_FROM)
        or jax.config.jax_compilation_cache_dir
    ):
        return _store
    try:
        from jax._src import compilation_cache
        from jax._src.compilation_cache_interface import CacheInterface
    except ImportError:  # JAX moved its internals: no executable cache, and no harm
        return _store
    if getattr(compilation_cache, "_cache", None) is not None:
        return _store  # JAX opened a cache of its own already
    adapter = type("SksnnJaxCache", (CacheInterface,), {"get": _jax_get, "put": _jax_put})()
    adapter._path = _store.directory
    with compilation_cache._cache_initialized_mutex:
        compilation_cache._cache = adapter
        compilation_cache._cache_initialized = True
    jax.config.update("jax_compilation_cache_dir", _store.directory)
    _executables = True
    # JAX writes only what took a second to compile; sksnn's steps take 0.3-1.5 s,
    # and a small executable is read back faster than compiled.
    if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return _store


def enable_for_tensorflow():
    """Open the store for TensorFlow's traced functions; call as the backend starts. The store, or None when off."""
    return _open_store()


def _open_store():
    """This process's :class:`FileStore` as :func:`settings` say, or None when the cache is off."""
    global _store
    directory, max_bytes = settings()
    if directory is None:
        return None
    _store = FileStore(directory, max_bytes)
    return _store


def _jax_get(self, key):
    return _store.get("xla:" + key)


def _jax_put(self, key, value):
    _store.put("xla:" + key, value)


class _ResolvedPerSignature:
    """A function whose first call with each signature decides what runs it (``_resolve``), kept for the next calls."""

    def __init__(self):
        self._calls = {}  # signature -> the callable that runs it

    def __call__(self, *args):
        signature = self._signature(args)
        call = self._calls.get(signature)
        if call is None:
            call = self._calls[signature] = self._resolve(args, signature)
        return call(*args)


def _committed(value):
    """Whether ``value`` is a JAX array committed to its device (JAX < 0.4.31 names it ``_committed`` only)."""
    import jax

    if not isinstance(value, jax.Array):
        return False
    return bool(getattr(value, "committed", getattr(value, "_committed", False)))


class ExportedFunction(_ResolvedPerSignature):
    """A jitted function whose traced and lowered form (``jax.export``) is kept in the store.

    Called like the jitted function. The first call with a new signature
    (the shapes and dtypes of the arguments) reads the function's exported
    form from the store, or traces, exports and stores it; either way it then
    runs ``jax.jit(exported.call)``, whose executable JAX's persistent cache
    holds too: in a new process, a signature any process compiled before is
    neither traced nor compiled. ``key`` names what the signature does not
    say: everything that changes the traced function (for the training
    networks, ``_trainer.trainer_for``'s pool key); the versions, sksnn's
    training sources and JAX's tracing configuration are added here.

    Without a store, or if exporting fails, the jitted function runs as it is.
    """

    def __init__(self, jitted, key, donate_argnums=()):
        super().__init__()
        self._jitted = jitted
        self._key = key
        self._donate_argnums = donate_argnums

    def _signature(self, args):
        import jax

        leaves, tree = jax.tree_util.tree_flatten(args)
        return str(tree), tuple((tuple(leaf.shape), str(leaf.dtype)) for leaf in leaves)

    def _resolve(self, args, signature):
        import jax
        from jax import export  # a submodule to import on JAX 0.4.30

        if _store is None:
            return self._jitted
        key = "export:" + repr((self._key, _tracing_environment(), signature))
        exported = None
        blob = _store.get(key)
        if blob is not None:
            with contextlib.suppress(Exception):  # a blob of another version: export again
                exported = export.deserialize(bytearray(blob))
        if exported is None:
            try:
                shapes = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), args)
                exported = export.export(self._jitted)(*shapes)
                _store.put(key, exported.serialize())
            except Exception:  # what jax.export cannot express: run the function as it is
                return self._jitted
        call = jax.jit(exported.call, donate_argnums=self._donate_argnums)
        device = jax.devices()[0]

        def on_device(*args):
            # Arguments committed to the device, as the call's outputs are: an
            # exported call lowers (compiles) once for uncommitted arguments
            # and again for committed ones (the state it returned). Only the
            # leaves not committed yet go through device_put: the train state
            # a call returned is most of them, and putting it again cost ~0.4 ms
            # a call (5% of a 40,000-row fit's time).
            leaves, tree = jax.tree_util.tree_flatten(args)
            new = [i for i, leaf in enumerate(leaves) if not _committed(leaf)]
            for i, leaf in zip(new, jax.device_put([leaves[i] for i in new], device)):
                leaves[i] = leaf
            return call(*jax.tree_util.tree_unflatten(tree, leaves))

        return on_device


_SOURCES = (
    "_trainer.py",
    "_jax_trainer.py",
    "_tensorflow_trainer.py",
    "_losses.py",
    "_distribution.py",
    "_network.py",
    "_optimizers.py",
    "_activations.py",
    "_compilation_cache.py",
    "_backend.py",  # exact_mean enters the traced step
)
_versions = None
_sources = None


def _sources_digest():
    """A digest of sksnn's training modules: a changed one (a development checkout) traces anew."""
    global _sources
    if _sources is None:  # once a process
        digest = hashlib.sha256()
        here = os.path.dirname(os.path.abspath(__file__))
        for name in _SOURCES:
            with open(os.path.join(here, name), "rb") as source:
                digest.update(source.read())
        _sources = digest.hexdigest()
    return _sources


def _tracing_environment():
    """What, besides a function's key and signature, decides what tracing it produces."""
    global _versions
    import jax
    import keras

    if _versions is None:  # once a process
        import jaxlib

        from ._version import __version__

        _versions = (__version__, _sources_digest(), jax.__version__, jaxlib.__version__, keras.__version__)
    try:
        from jax._src.config import trace_context

        # the configuration JAX's own jit cache keys on (x64 included), less what names objects by address
        tracing_config = tuple(repr(v) for v in trace_context() if " at 0x" not in repr(v))
    except Exception:
        tracing_config = (jax.config.jax_default_matmul_precision, jax.config.jax_numpy_dtype_promotion)
    return (
        *_versions,
        jax.default_backend(),
        bool(jax.config.jax_enable_x64),
        keras.config.floatx(),
        keras.config.epsilon(),
        tracing_config,
    )


class StoredGraphFunction(_ResolvedPerSignature):
    """A ``tf.function`` whose traced form (its FunctionDefs) is kept in the store (TensorFlow, graph executor).

    Called like the function. The first call with a new signature reads the
    traced function from the store and registers it with TensorFlow under
    fresh names (:func:`_register_under_fresh_names`), or traces it and stores it;
    a function read back runs as a ``StatefulPartitionedCall`` of the live
    variables' handles, in the order the trace captured them (``variables``:
    every variable the function may capture, in an order that depends only on
    the network's architecture). Tracing Keras' train step and its loop is
    most of a TensorFlow process's first fit (~0.3 s of iris' 0.6 s). ``key``
    names what the signature does not say (the pool's key); the versions,
    sksnn's training sources and Keras' configuration are added here.

    Anything that does not hold (no store, an entry that does not parse, a
    capture that is not one of ``variables``, variables of other shapes or
    dtypes) means tracing, as without a cache.

    ``xla``: the function is XLA-compiled (``jit_compile=True``). TensorFlow's
    XLA keys a compiled program on the function's name, so such a function
    is registered under a name that depends only on its entry's key, and run
    as read back even in the process that traced it; the program XLA writes
    for it is kept in the store too (:class:`_KeepsXlaPrograms`).
    """

    def __init__(self, function, key, variables, xla=False):
        super().__init__()
        self._function = function
        self._key = key
        self._variables = list(variables)
        self._xla = xla

    def _signature(self, args):
        import tensorflow as tf

        return repr(tf.nest.map_structure(lambda _: 0, args)), tuple(_leaf_spec(a) for a in tf.nest.flatten(args))

    def _resolve(self, args, signature):
        if _store is None:
            return self._function
        key = "tf-function:" + repr((self._key, _tensorflow_environment(), signature))
        blob = _store.get(key)
        if blob is not None:
            with contextlib.suppress(Exception):  # an entry that does not load: trace again
                return self._run_read_back(blob, key)
        with contextlib.suppress(Exception):  # what cannot be stored runs as it is
            blob = self._trace_and_serialize(args)
            _store.put(key, blob)
            if self._xla:  # under the names the next process gives it: XLA's program then matches
                return self._run_read_back(blob, key)
        return self._function

    def _run_read_back(self, blob, key):
        if not self._xla:
            return self._read_back(blob)
        suffix = "_sksnn_" + hashlib.sha256(key.encode()).hexdigest()[:16]
        call = self._read_back(blob, suffix=suffix)
        if not call.function_name.endswith(suffix):  # the name was taken in this process: XLA compiles it here
            return call
        return _KeepsXlaPrograms(call, key, fallback=self._function)

    def _trace_and_serialize(self, args):
        import json

        import tensorflow as tf

        concrete = self._function.get_concrete_function(*args)
        position = {id(_handle(v)): i for i, v in reversed(list(enumerate(self._variables)))}
        captures = [position[id(c)] for c in concrete.captured_inputs]  # KeyError: not a variable of ours
        library = concrete.graph.as_graph_def().library
        library.function.append(concrete.function_def)
        header = {
            "main": concrete.function_def.signature.name,
            "captures": captures,
            "capture_specs": [_variable_spec(self._variables[i]) for i in captures],
            "outputs": [o.dtype.name for o in tf.nest.flatten(concrete.structured_outputs)],
            "structure": repr(tf.nest.map_structure(lambda _: 0, concrete.structured_outputs)),
        }
        header = json.dumps(header).encode()
        return len(header).to_bytes(4, "little") + header + library.SerializeToString()

    def _read_back(self, blob, suffix=None):
        import ast
        import json

        import tensorflow as tf
        from tensorflow.core.framework import function_pb2
        from tensorflow.python.eager import context
        from tensorflow.python.ops import gen_functional_ops

        size = int.from_bytes(blob[:4], "little")
        header = json.loads(blob[4 : 4 + size])
        if [_variable_spec(self._variables[i]) for i in header["captures"]] != header["capture_specs"]:
            raise ValueError("the network's variables are not those the function captured")
        library = function_pb2.FunctionDefLibrary()
        library.ParseFromString(blob[4 + size :])
        ctx = context.context()
        names = _register_under_fresh_names(library, ctx, suffix)
        # removed from TensorFlow's context with this object, as a traced function's are with it
        weakref.finalize(self, _remove_functions, ctx, list(names.values()))
        main = names[header["main"]]
        handles = [_handle(self._variables[i]) for i in header["captures"]]
        outputs = [tf.as_dtype(name) for name in header["outputs"]]
        structure = ast.literal_eval(header["structure"])

        def call(*args):
            flat = [tf.convert_to_tensor(a) for a in tf.nest.flatten(args)]
            if self._xla:  # called as an op of its own name, as TensorFlow calls a traced function: XLA compiles it
                results = context.context().call_function(main.encode(), flat + handles, len(outputs))
                return tf.nest.pack_sequence_as(structure, results)
            # the thread's options, as a traced function's call takes them (see _tensorflow_trainer)
            options = context.context().function_call_options.config_proto_serialized
            results = gen_functional_ops.stateful_partitioned_call(
                args=flat + handles, Tout=outputs, f=main, config_proto=options
            )
            return tf.nest.pack_sequence_as(structure, results)

        call.function_name = main
        return call


_registered = 0  # functions this process registered from the store: a suffix of their own each


def _register_under_fresh_names(library, ctx, suffix=None):
    """Register a library's FunctionDefs with TensorFlow's context under new names; ``{old name: new name}``.

    Every function, and every reference to one in the library's nodes (a
    loop's body and condition, a branch), gets a suffix no other function of
    the process has, so a function read back never collides with one this
    process traced: ``suffix`` when no function of the process has a name
    with it yet (the same in every process), else a number of its own. A
    library that registers gradients is refused (sksnn's traced loop has none).
    """
    global _registered
    if library.registered_gradients or library.gradient:
        raise ValueError("a library with gradient functions")
    if suffix is None or any(ctx.has_function(f.signature.name + suffix) for f in library.function):
        _registered += 1
        suffix = f"_sksnn_stored_{_registered}"
    names = {f.signature.name: f.signature.name + suffix for f in library.function}

    def rename(attr):
        if attr.HasField("func") and attr.func.name in names:
            attr.func.name = names[attr.func.name]
        for function in attr.list.func:
            if function.name in names:
                function.name = names[function.name]

    for function in library.function:
        function.signature.name = names[function.signature.name]
        for node in function.node_def:
            if node.op in names:  # a function called as an op
                node.op = names[node.op]
            for attr in node.attr.values():
                rename(attr)
        for attr in function.attr.values():
            rename(attr)
    for function in library.function:
        ctx.add_function_def(function)
    return names


_xla_directory = None  # TensorFlow's persistent XLA cache directory, private to this process (or None)
_silenced = contextlib.nullcontext  # where TensorFlow's C++ lines do not reach stderr (set with the directory)
_XLA_FLAG = "--tf_xla_persistent_cache_directory"


@contextlib.contextmanager
def xla_programs_directory(silenced):
    """Around TensorFlow's start: its XLA keeps the programs it compiles in a directory private to this process.

    TensorFlow's persistent XLA cache writes its entries in place and fails a
    call whose entry does not parse, so it is not shared between processes:
    each process gets an empty directory of its own (removed as it exits), and
    sksnn's store, which is safe to share, carries the programs between
    processes (:class:`_KeepsXlaPrograms`). TensorFlow reads ``TF_XLA_FLAGS``
    once, as it first lists its devices, inside the block; the variable is
    restored after it, so child processes (joblib's workers) make their own.
    Nothing is set when the cache is off, when TensorFlow was imported
    before, or when the user's ``TF_XLA_FLAGS`` names a persistent cache.
    ``silenced``: a context in which TensorFlow's C++ lines do not reach
    stderr (``_backend``'s), for the first call of a placed program.
    """
    global _xla_directory, _silenced
    import sys

    flags = os.environ.get("TF_XLA_FLAGS")
    if settings()[0] is None or "tensorflow" in sys.modules or "tf_xla_persistent_cache" in (flags or ""):
        yield
        return
    import atexit
    import shutil

    try:
        directory = tempfile.mkdtemp(prefix="sksnn-xla-")
    except OSError:
        yield
        return
    atexit.register(shutil.rmtree, directory, True)
    os.environ["TF_XLA_FLAGS"] = f"{flags or ''} {_XLA_FLAG}={directory}".strip()
    try:
        yield
        _xla_directory, _silenced = directory, silenced
    finally:
        if flags is None:
            os.environ.pop("TF_XLA_FLAGS", None)
        else:
            os.environ["TF_XLA_FLAGS"] = flags


class _KeepsXlaPrograms:
    """A read-back XLA function whose first call takes its program from the store, or puts it there.

    Before the first call, the program stored under the function's key (a file
    of TensorFlow's persistent XLA cache, named by the function's name and its
    HLO's hash) is written into this process's directory
    (:func:`xla_programs_directory`), where TensorFlow's XLA looks for it
    before compiling; TensorFlow compares the whole HLO with the entry's, so a
    program that does not match is compiled again, never run. After the first
    call, a program TensorFlow wrote there is stored. Reading an entry makes
    TensorFlow log two error-level lines (a text-format parse it tries first,
    and XLA's loader comparing CPU feature names, e.g. ``+prefer-no-gather``);
    the key holds the machine's CPU features, and the first call runs with
    file descriptor 2 sent to ``/dev/null`` when a program was placed. A
    placed program TensorFlow cannot load fails its call before it runs (and
    TensorFlow remembers the failure for that name): the placed files are
    removed and ``fallback``, the traced function, runs instead.
    """

    def __init__(self, call, key, fallback):
        self._call = call
        self.function_name = call.function_name
        self._key = "tf-xla:" + repr((key, _cpu_features()))
        self._fallback = fallback
        self._first = True

    def __call__(self, *args):
        directory = _xla_directory
        if not self._first or directory is None or _store is None:
            return self._call(*args)
        self._first = False
        before = _listing(directory)
        placed = self._place(directory, before)
        if placed:
            with _silenced():
                try:
                    result = self._call(*args)
                except Exception:  # noqa: BLE001  (a program that does not load: compile as without it)
                    for name in placed:
                        with contextlib.suppress(OSError):
                            os.remove(os.path.join(directory, name))
                    with contextlib.suppress(Exception):
                        _store.put(self._key, b"")  # no program: the next process compiles and stores one
                    self._call = self._fallback
                    return self._call(*args)
        else:
            result = self._call(*args)
        written = sorted(_listing(directory) - before - set(placed))
        if written:
            with contextlib.suppress(Exception):  # unreadable: not kept
                _store.put(self._key, _pack_files(directory, written))
        return result

    def _place(self, directory, present):
        """Write the stored program's files into ``directory``; their names (none if nothing is stored)."""
        blob = _store.get(self._key)
        if blob is None:
            return []
        try:
            files = _unpack_files(blob)
        except Exception:  # noqa: BLE001  (an entry of another layout: compile again)
            return []
        for name, data in files.items():
            if name not in present:
                _write_whole(os.path.join(directory, name), data)  # whole: a Ctrl-C leaves no half program
        return list(files)


def _listing(directory):
    try:
        return {name for name in os.listdir(directory) if not name.startswith(".")}
    except OSError:
        return set()


def _pack_files(directory, names):
    """``names`` in ``directory`` as one entry: for each, its name's and data's lengths, then both."""
    parts = []
    for name in names:
        with open(os.path.join(directory, name), "rb") as file:
            data = file.read()
        encoded = os.path.basename(name).encode()
        parts += [len(encoded).to_bytes(2, "little"), len(data).to_bytes(8, "little"), encoded, data]
    return b"".join(parts)


def _unpack_files(blob):
    files, at = {}, 0
    while at < len(blob):
        size = int.from_bytes(blob[at : at + 2], "little")
        length = int.from_bytes(blob[at + 2 : at + 10], "little")
        name = blob[at + 10 : at + 10 + size].decode()
        if os.path.basename(name) != name or name.startswith(".") or at + 10 + size + length > len(blob):
            raise ValueError("not an entry of program files")
        files[name] = blob[at + 10 + size : at + 10 + size + length]
        at += 10 + size + length
    return files


@functools.cache  # the same for the whole process: /proc/cpuinfo is read once
def _cpu_features():
    """The machine's CPU and its features (an XLA program is compiled for them), as Linux lists them."""
    import platform

    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith(("flags", "Features")):
                return platform.machine(), hashlib.sha256(line.encode()).hexdigest()[:16]
    return platform.machine(), platform.processor()


def _remove_functions(ctx, names):
    for name in names:
        with contextlib.suppress(Exception):  # the context is going away with the process
            ctx.remove_function(name)


def _handle(variable):
    """The resource handle of a Keras variable on TensorFlow (what a traced function captures)."""
    return variable.value.handle


def _variable_spec(variable):
    return [str(variable.dtype), list(variable.shape)]


def _leaf_spec(leaf):
    import numpy as np

    return (tuple(np.shape(leaf)), str(getattr(leaf, "dtype", type(leaf).__name__)))


def _tensorflow_environment():
    """What, besides a function's key and signature, decides what tracing it produces (TensorFlow)."""
    import keras
    import tensorflow as tf

    from ._version import __version__

    return (
        __version__,
        _sources_digest(),
        tf.__version__,
        keras.__version__,
        keras.config.floatx(),
        keras.config.epsilon(),
    )
