"""The persistent compilation cache: the store, its settings, and what a new process reads back (both backends)."""

import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import keras
import pytest

from sksnn import _compilation_cache
from sksnn._compilation_cache import FileStore

ON_JAX = keras.backend.backend() == "jax"


# ------------------------------------------------------------------ the store
def test_an_entry_reads_back_as_written(tmp_path):
    store = FileStore(str(tmp_path / "cache"), max_bytes=2**20)
    assert store.get("a") is None
    store.put("a", b"x" * 1000)
    assert store.get("a") == b"x" * 1000
    assert (store.hits, store.misses) == (1, 1)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "foreign"])
def test_a_damaged_entry_is_a_miss_and_is_removed(tmp_path, damage):
    store = FileStore(str(tmp_path), max_bytes=2**20)
    store.put("key", bytes(range(256)) * 10)
    (path,) = [tmp_path / name for name in os.listdir(tmp_path)]
    data = path.read_bytes()
    damaged = {
        "truncated": data[: len(data) // 2],
        "flipped": data[:-1] + bytes([data[-1] ^ 1]),
        "empty": b"",
        "foreign": b"not an sksnn cache entry",
    }[damage]
    path.write_bytes(damaged)
    assert store.get("key") is None
    assert not path.exists()  # the next compilation writes it anew
    store.put("key", b"fresh")
    assert store.get("key") == b"fresh"


def test_the_store_keeps_the_most_recently_used_entries_within_its_bound(tmp_path):
    store = FileStore(str(tmp_path), max_bytes=2**20)
    for i in range(5):
        store.put(f"k{i}", bytes(3000))
        os.utime(store._path(f"k{i}"), (i, i))  # k0 oldest
    os.utime(store._path("k1"), (100, 100))  # k1 used last
    store.max_bytes = 10_000
    store.evict()
    kept = {f"k{i}" for i in range(5) if store.get(f"k{i}") is not None}
    assert kept == {"k1", "k3", "k4"}  # 3 x 3000 bytes (plus headers) <= 10,000


def test_an_entry_larger_than_the_bound_is_not_written(tmp_path):
    store = FileStore(str(tmp_path), max_bytes=100)
    store.put("big", bytes(101))
    assert store.get("big") is None and len(store) == 0


def test_a_directory_that_cannot_be_written_means_no_cache_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would be")
    store = FileStore(str(blocker / "cache"), max_bytes=2**20)
    store.put("a", b"value")  # no error
    assert store.get("a") is None
    store.evict()


def _write_and_read(directory, writer, rounds):
    store = FileStore(directory, max_bytes=2**30)
    values = {bytes([w]) * 500_000 for w in range(4)}
    torn = 0
    for _ in range(rounds):
        store.put("shared", bytes([writer]) * 500_000)
        value = store.get("shared")
        if value is not None and value not in values:
            torn += 1
    return torn, store.hits


def test_concurrent_writers_of_one_entry_leave_whole_entries(tmp_path):
    # Four processes write and read the same 0.5 MB entry at once: every read
    # is one writer's whole value (a file renamed into place), never a mix.
    with ProcessPoolExecutor(4) as pool:
        results = list(pool.map(_write_and_read, [str(tmp_path)] * 4, range(4), [60] * 4))
    assert sum(torn for torn, _ in results) == 0
    assert sum(hits for _, hits in results) > 0
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]  # no temporary file left


# ------------------------------------------------------------------ settings
@pytest.mark.parametrize("value", ["0", "off", "OFF", "false", "no"])
def test_the_cache_can_be_turned_off(monkeypatch, value):
    monkeypatch.setenv("SKSNN_COMPILATION_CACHE", value)
    assert _compilation_cache.settings() == (None, 0)


def test_the_cache_can_be_moved_and_bounded(monkeypatch, tmp_path):
    monkeypatch.setenv("SKSNN_COMPILATION_CACHE", str(tmp_path / "here"))
    monkeypatch.setenv("SKSNN_COMPILATION_CACHE_MB", "64")
    assert _compilation_cache.settings() == (str(tmp_path / "here"), 64 * 2**20)


def test_by_default_the_cache_is_in_the_users_cache_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("SKSNN_COMPILATION_CACHE", raising=False)
    monkeypatch.delenv("SKSNN_COMPILATION_CACHE_MB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # platformdirs' Linux convention
    directory, max_bytes = _compilation_cache.settings()
    if sys.platform.startswith("linux"):
        assert directory == str(tmp_path / "sksnn")
    assert max_bytes == 1024 * 2**20


# ------------------------------------------------------------------ in new processes (JAX and TensorFlow)
FIT = """
import sys, warnings
import numpy as np
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=30: Python's warning, not the cache's
from sksnn import SNNClassifier, _compilation_cache
{before}
X, y = load_iris(return_X_y=True)
clf = SNNClassifier(hidden_layer_sizes=(12,), max_iter=30, random_state=0).fit(X, y)
np.save(sys.argv[1], np.concatenate([c.ravel() for c in clf.coefs_]))
store = _compilation_cache.store()
{after}
print("hits", 0 if store is None else store.hits, "misses", 0 if store is None else store.misses)
"""


# Run in a new process's `before`: its fit is XLA-compiled (on TensorFlow), whatever its size.
FORCE_XLA = "from sksnn import _trainer; _trainer._COMPILE_WORTH = 0  # this fit XLA-compiled\n"


def _clean_environment():
    """This process's environment less the cache's settings and TensorFlow's log level (conftest sets it)."""
    prefixes = ("SKSNN_COMPILATION", "JAX_COMPILATION", "TF_CPP_MIN_LOG_LEVEL", "SKSNN_SET_TF_CPP")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def _fit_in_new_process(tmp_path, name, cache, before="", after="", extra_env=None):
    env = _clean_environment()
    env.update(KERAS_BACKEND=keras.backend.backend(), SKSNN_COMPILATION_CACHE=str(cache), **(extra_env or {}))
    out = tmp_path / f"{name}.npy"
    code = FIT.format(before=before, after=after)
    result = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    import numpy as np

    hits, misses = (int(w) for w in result.stdout.split()[-3::2])
    return np.load(out), hits, misses, result


jax_only = pytest.mark.skipif(not ON_JAX, reason="JAX's executables and configuration")
tf_only = pytest.mark.skipif(ON_JAX, reason="TensorFlow's traced functions")


def test_a_new_process_reads_back_what_another_compiled_and_trains_the_same(tmp_path):
    cache = tmp_path / "cache"
    reference, _, _, _ = _fit_in_new_process(tmp_path, "off", "off")
    first, hits, _, _ = _fit_in_new_process(tmp_path, "first", cache)
    assert len(os.listdir(cache)) > 0
    second, hits_after, misses_after, result = _fit_in_new_process(tmp_path, "second", cache)
    assert hits_after > hits and misses_after == 0  # the train function and its executables, all read back
    assert (first == reference).all() and (second == reference).all()
    assert result.stderr == ""


def test_with_the_cache_off_nothing_is_written(tmp_path):
    xdg = tmp_path / "xdg"  # where the default cache directory would be
    _, hits, misses, _ = _fit_in_new_process(tmp_path, "off", "off", extra_env={"XDG_CACHE_HOME": str(xdg)})
    assert (hits, misses) == (0, 0)
    assert not (xdg / "sksnn").exists()


def test_corrupted_entries_mean_a_recompilation_not_a_failed_fit(tmp_path):
    cache = tmp_path / "cache"
    reference, _, _, _ = _fit_in_new_process(tmp_path, "first", cache)
    names = sorted(os.listdir(cache))
    for i, name in enumerate(names):  # truncate half the entries, flip a byte in the others
        path = cache / name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if i % 2 else data[:-1] + bytes([data[-1] ^ 0xFF]))
    again, _, misses, result = _fit_in_new_process(tmp_path, "again", cache)
    assert misses >= len(names)
    assert (again == reference).all()
    assert result.stderr == ""  # no warning: a damaged entry is a plain miss
    _, hits, misses, _ = _fit_in_new_process(tmp_path, "healed", cache)
    assert misses == 0 and hits > 0  # rewritten by the recompilation


# (the XLA variant starts five TensorFlow processes: the main CI job runs it, the oldest versions' job skips it)
@pytest.mark.parametrize("before", ["", pytest.param("xla", marks=pytest.mark.slow)])
def test_two_processes_filling_the_cache_at_once_both_train_correctly(tmp_path, before):
    if before:
        if ON_JAX:
            pytest.skip("TensorFlow's XLA programs")
        before = FORCE_XLA
    cache = tmp_path / "cache"
    reference, _, _, _ = _fit_in_new_process(tmp_path, "off", "off", before=before)
    env = _clean_environment()
    env.update(KERAS_BACKEND=keras.backend.backend(), SKSNN_COMPILATION_CACHE=str(cache))
    code = FIT.format(before=before, after="")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / f"p{i}.npy")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0 and (stderr == b"" or before and _nothing_about_the_cache(stderr))
    import numpy as np

    assert all((np.load(tmp_path / f"p{i}.npy") == reference).all() for i in range(3))
    again, hits, misses, _ = _fit_in_new_process(tmp_path, "after", cache, before=before)
    assert misses == 0 and (again == reference).all()


EXECUTABLE_CACHE = """
from jax._src import compilation_cache
print("executables cached by sksnn:", type(compilation_cache._cache).__name__ == "SksnnJaxCache")
"""


@jax_only
def test_executables_are_cached_only_from_the_first_jax_that_reads_them_back_correctly(tmp_path):
    import jax
    from sklearn.utils.fixes import parse_version

    supported = parse_version(jax.__version__) >= parse_version(_compilation_cache.JAX_EXECUTABLE_CACHE_FROM)
    *_, result = _fit_in_new_process(tmp_path, "fit", tmp_path / "cache", after=EXECUTABLE_CACHE)
    assert f"executables cached by sksnn: {supported}" in result.stdout


@jax_only
def test_below_the_supported_version_the_executables_are_not_cached_and_the_fit_works(tmp_path):
    # Both sides of the version gate on any JAX: here the gate is moved above the installed version.
    pretend_old = "_compilation_cache.JAX_EXECUTABLE_CACHE_FROM = '999.0'"
    reference, _, _, _ = _fit_in_new_process(tmp_path, "off", "off")
    for name in ("first", "second"):
        coefs, _, _, result = _fit_in_new_process(
            tmp_path, name, tmp_path / "cache", before=pretend_old, after=EXECUTABLE_CACHE
        )
        assert "executables cached by sksnn: False" in result.stdout
        assert (coefs == reference).all()


@jax_only
def test_a_jax_cache_directory_the_user_set_is_left_to_jax(tmp_path):
    theirs = tmp_path / "theirs"
    _, _, _, result = _fit_in_new_process(
        tmp_path,
        "fit",
        tmp_path / "ours",
        extra_env={"JAX_COMPILATION_CACHE_DIR": str(theirs)},
        after="import jax; print('jax cache:', jax.config.jax_compilation_cache_dir)\n" + EXECUTABLE_CACHE,
    )
    assert f"jax cache: {theirs}" in result.stdout
    assert "executables cached by sksnn: False" in result.stdout


def test_a_changed_training_module_or_version_is_a_miss_not_a_wrong_function(tmp_path):
    cache = tmp_path / "cache"
    reference, _, _, _ = _fit_in_new_process(tmp_path, "first", cache)
    changed = "_compilation_cache._sources = 'another checkout'"  # what a source or version change does to keys
    again, hits, misses, _ = _fit_in_new_process(tmp_path, "changed", cache, before=changed)
    assert misses > 0 and (again == reference).all()
    assert hits == 0 or ON_JAX  # (JAX's executables are keyed by JAX, on the lowered program)


# ------------------------------------------------------------------ TensorFlow's XLA programs, in new processes
XLA_STATE = """
import os
xla = _compilation_cache._xla_directory
print("xla directory:", xla, "programs:", None if xla is None else len(os.listdir(xla)))
print("TF_XLA_FLAGS:", os.environ.get("TF_XLA_FLAGS"))
"""


def _nothing_about_the_cache(stderr):
    """No line of TensorFlow's about reading or writing the cache's programs (nor any error-level line).

    TensorFlow 2.16 writes info lines about XLA ("Compiled cluster using XLA!")
    before its logging is set up, whatever its log level: XLA's, not the cache's.
    """
    stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
    lines = stderr.splitlines()
    return not any(line.startswith(("E0", "F0", "W0")) or "Traceback" in line for line in lines) and not any(
        word in stderr for word in ("XlaSerializedCacheEntry", "cpu_aot_loader", "persistent", "Error")
    )


def _xla_state(result):
    line = next(line for line in result.stdout.splitlines() if line.startswith("xla directory:"))
    directory, programs = line.split()[2], line.split()[4]
    return (None if directory == "None" else directory), (None if programs == "None" else int(programs))


@tf_only
def test_a_new_process_loads_the_xla_program_another_compiled_and_trains_the_same(tmp_path):
    cache = tmp_path / "cache"
    reference, *_ = _fit_in_new_process(tmp_path, "off", "off", before=FORCE_XLA)
    first, _, _, result = _fit_in_new_process(tmp_path, "first", cache, before=FORCE_XLA, after=XLA_STATE)
    directory, programs = _xla_state(result)
    assert programs >= 1  # TensorFlow's XLA wrote its program to the process's own directory
    assert not os.path.exists(directory)  # removed as the process ended
    assert "TF_XLA_FLAGS: None" in result.stdout  # not inherited by the process's children
    second, hits, misses, result = _fit_in_new_process(tmp_path, "second", cache, before=FORCE_XLA, after=XLA_STATE)
    assert misses == 0 and hits >= 2  # the traced loop and its program, read back
    assert (first == reference).all() and (second == reference).all()
    assert _nothing_about_the_cache(result.stderr)  # TensorFlow's lines about reading the program are not the user's


@tf_only
def test_an_xla_program_tensorflow_cannot_load_means_a_compilation_not_a_failed_fit(tmp_path):
    cache = tmp_path / "cache"
    reference, *_ = _fit_in_new_process(tmp_path, "first", cache, before=FORCE_XLA)
    damaged = 0
    for name in os.listdir(cache):  # each program rewritten whole (its checksum holds) as what XLA cannot load
        path = cache / name
        payload = path.read_bytes()[len(_compilation_cache._MAGIC) + _compilation_cache._DIGEST_SIZE :]
        try:
            files = _compilation_cache._unpack_files(payload)
        except Exception:
            continue
        if files and all(n.startswith("xla_compile_cache") for n in files):
            names = [n for n in files]
            (tmp_path / "programs").mkdir(exist_ok=True)
            for n in names:
                (tmp_path / "programs" / n).write_bytes(b"not an XLA program")
            payload = _compilation_cache._pack_files(str(tmp_path / "programs"), names)
            path.write_bytes(_compilation_cache._MAGIC + _compilation_cache._DIGEST(payload).digest() + payload)
            damaged += 1
    assert damaged >= 1
    again, _, _, result = _fit_in_new_process(tmp_path, "again", cache, before=FORCE_XLA)
    assert (again == reference).all() and _nothing_about_the_cache(result.stderr)
    healed, *_ = _fit_in_new_process(tmp_path, "healed", cache, before=FORCE_XLA)  # compiles, stores anew
    assert (healed == reference).all()


@tf_only
def test_a_persistent_xla_cache_the_user_set_is_left_to_tensorflow(tmp_path):
    theirs = f"--tf_xla_persistent_cache_directory={tmp_path / 'theirs'}"
    _, _, _, result = _fit_in_new_process(
        tmp_path, "fit", tmp_path / "ours", before=FORCE_XLA, after=XLA_STATE, extra_env={"TF_XLA_FLAGS": theirs}
    )
    assert _xla_state(result)[0] is None
    assert f"TF_XLA_FLAGS: {theirs}" in result.stdout
    assert len(os.listdir(tmp_path / "theirs")) >= 1


def test_program_files_pack_and_unpack_and_a_name_with_a_path_is_refused(tmp_path):
    (tmp_path / "a.pb").write_bytes(b"first")
    (tmp_path / "b.pb").write_bytes(b"")
    packed = _compilation_cache._pack_files(str(tmp_path), ["a.pb", "b.pb"])
    assert _compilation_cache._unpack_files(packed) == {"a.pb": b"first", "b.pb": b""}
    assert _compilation_cache._unpack_files(b"") == {}
    bad = len(b"../x").to_bytes(2, "little") + (1).to_bytes(8, "little") + b"../x" + b"!"
    with pytest.raises(ValueError):
        _compilation_cache._unpack_files(bad)
    with pytest.raises(ValueError):
        _compilation_cache._unpack_files(packed[:-2])  # truncated


# ------------------------------------------------------------------ TensorFlow's stored functions, in process
def _stored_step(store_key, a, b, xla=False):
    """A traced function capturing two variables, as sksnn's chunk loop captures the network's."""
    import tensorflow as tf

    from sksnn._compilation_cache import StoredGraphFunction

    def step(x):
        b.assign(b + x * a)
        return {"out": b.value * 2.0, "sum": tf.reduce_sum(x)}

    return StoredGraphFunction(tf.function(step, autograph=False, jit_compile=xla), store_key, [a, b], xla=xla)


@tf_only
def test_xla_functions_of_one_key_alive_at_once_each_run_on_their_own_variables(tmp_path, monkeypatch):
    # Read back under a name that depends on the key alone; a second one alive
    # at the same time takes a name of its own instead of colliding.
    import numpy as np

    monkeypatch.setattr(_compilation_cache, "_store", FileStore(str(tmp_path), max_bytes=2**20))
    x = np.arange(3.0)
    first = _stored_step("xla step", keras.Variable(np.ones(3)), keras.Variable(np.zeros(3)), xla=True)
    second = _stored_step("xla step", keras.Variable(np.full(3, 2.0)), keras.Variable(np.ones(3)), xla=True)
    np.testing.assert_array_equal(first(x)["out"], 2 * x)
    np.testing.assert_array_equal(second(x)["out"], 2 * (1 + 2 * x))
    np.testing.assert_array_equal(first(x)["out"], 4 * x)
    names = {call.function_name for function in (first, second) for call in function._calls.values()}
    assert len(names) == 2


@tf_only
def test_a_stored_function_runs_on_the_live_variables_of_the_network_that_reads_it(tmp_path, monkeypatch):
    import numpy as np

    store = FileStore(str(tmp_path), max_bytes=2**20)
    monkeypatch.setattr(_compilation_cache, "_store", store)
    x = np.arange(3.0)
    first = _stored_step("step", keras.Variable(np.ones(3)), keras.Variable(np.zeros(3)))
    np.testing.assert_array_equal(first(x)["out"], 2 * x)
    assert (store.hits, store.misses, len(store)) == (0, 1, 1)
    a, b = keras.Variable(np.full(3, 3.0)), keras.Variable(np.ones(3))  # another network's variables
    read_back = _stored_step("step", a, b)
    result = read_back(x)
    assert store.hits == 1  # read back, not traced
    np.testing.assert_array_equal(result["out"], 2 * (1 + 3 * x))
    assert float(result["sum"]) == 3.0
    np.testing.assert_array_equal(read_back(x)["out"], 2 * (1 + 6 * x))  # its updates stay on b
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(b), 1 + 6 * x)


@tf_only
def test_a_stored_function_whose_variables_do_not_match_is_traced_again(tmp_path, monkeypatch):
    import numpy as np

    store = FileStore(str(tmp_path), max_bytes=2**20)
    monkeypatch.setattr(_compilation_cache, "_store", store)
    _stored_step("step", keras.Variable(np.ones(3)), keras.Variable(np.zeros(3)))(np.ones(3))
    other = _stored_step("step", keras.Variable(np.ones(3)), keras.Variable(np.zeros((1, 3))))  # another shape
    np.testing.assert_array_equal(other(np.ones(3))["out"], 2 * np.ones((1, 3)))
    assert store.hits == 1 and store.misses == 1  # found, refused, traced


@tf_only
@pytest.mark.parametrize("damage", ["header", "library"])
def test_a_stored_function_that_does_not_load_is_traced_again(tmp_path, monkeypatch, damage):
    import numpy as np

    store = FileStore(str(tmp_path), max_bytes=2**20)
    monkeypatch.setattr(_compilation_cache, "_store", store)
    _stored_step("step", keras.Variable(np.ones(3)), keras.Variable(np.zeros(3)))(np.ones(3))
    # the entry rewritten whole (its checksum holds) with what TensorFlow cannot load
    (path,) = [tmp_path / name for name in os.listdir(tmp_path)]
    payload = path.read_bytes()[len(_compilation_cache._MAGIC) + _compilation_cache._DIGEST_SIZE :]
    size = int.from_bytes(payload[:4], "little")
    if damage == "header":
        payload = len(b"{oops").to_bytes(4, "little") + b"{oops" + payload[4 + size :]
    else:
        payload = payload[: 4 + size] + b"not a FunctionDefLibrary"
    path.write_bytes(_compilation_cache._MAGIC + _compilation_cache._DIGEST(payload).digest() + payload)
    again = _stored_step("step", keras.Variable(np.ones(3)), keras.Variable(np.zeros(3)))
    np.testing.assert_array_equal(again(np.ones(3))["out"], 2 * np.ones(3))
    assert store.hits == 1  # read whole, did not load, traced: the fit goes on


@jax_only
def test_an_exported_call_puts_on_the_device_only_the_arguments_not_there_yet(tmp_path, monkeypatch):
    # The train state a call returns is committed to the device already: putting
    # it there again at every call cost ~0.4 ms of each chunk's call.
    import jax
    import numpy as np

    from sksnn._compilation_cache import ExportedFunction

    monkeypatch.setattr(_compilation_cache, "_store", FileStore(str(tmp_path), max_bytes=2**20))
    step = ExportedFunction(jax.jit(lambda state, x: ([v + x for v in state], x.sum())), ("test_step",))
    put, reached = [], []
    device_put, jit = jax.device_put, jax.jit

    def counted_put(value, *args, **kwargs):
        put.append(len(jax.tree_util.tree_leaves(value)))
        return device_put(value, *args, **kwargs)

    def spied_jit(function, **kwargs):
        compiled = jit(function, **kwargs)

        def call(*args):
            reached.append([_compilation_cache._committed(leaf) for leaf in jax.tree_util.tree_leaves(args)])
            return compiled(*args)

        return call

    monkeypatch.setattr(jax, "device_put", counted_put)
    monkeypatch.setattr(jax, "jit", spied_jit)
    state, x = [np.ones(3, np.float32), np.zeros(3, np.float32)], np.arange(3, dtype=np.float32)
    for _ in range(3):
        state, total = step(state, x)
    assert put == [3, 1, 1]  # the state and x, then x alone
    assert not _compilation_cache._committed(x) and not _compilation_cache._committed(jax.numpy.asarray(x))
    assert reached == [[True, True, True]] * 3  # every argument committed, as the exported call was lowered for
    np.testing.assert_array_equal(np.asarray(state[0]), 1 + 3 * x)
    np.testing.assert_array_equal(np.asarray(state[1]), 3 * x)
    assert float(total) == 3.0
