import os
import pathlib
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from sksnn import _trainer, _training

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("target", ["multiclass", "multilabel"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.01])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_reported_loss_is_mlps_mean_of_batch_losses_short_last_batch_included(target, weighted, alpha, label_smoothing):
    from sklearn.datasets import make_classification, make_multilabel_classification

    from sksnn import SNNClassifier

    # A vanishing learning rate keeps the weights where they started, so every
    # batch loss is taken at the same weights: the epoch's loss is then the
    # log loss of the whole training set against the (smoothed) labels,
    # sample-weighted if weighted, plus MLP's penalty, alpha / 2 * ||W||^2 /
    # batch weight, once per batch. A LeCun output kernel: the default zero
    # kernel predicts uniform probabilities, whose log loss smoothing leaves as it is.
    if target == "multiclass":
        X, y = make_classification(101, 5, n_informative=3, n_classes=3, random_state=0)
        Y = np.eye(3)[y]
    else:
        X, y = make_multilabel_classification(101, 5, n_classes=4, random_state=0)
        Y = y
    weights = np.random.RandomState(0).uniform(0.5, 2.0, 101) if weighted else None
    clf = SNNClassifier(hidden_layer_sizes=(8,), batch_size=16, max_iter=1, learning_rate_init=1e-12, alpha=alpha)
    clf.set_params(output_initializer="lecun_normal", label_smoothing=label_smoothing, shuffle=False, random_state=0)
    clf.fit(X, y, sample_weight=weights)
    total_weight = 101 if weights is None else weights.sum()
    penalty = 7 * 0.5 * alpha * sum((W**2).sum() for W in clf.coefs_) / total_weight  # 7 batches, the last of 5 rows
    proba = clf.predict_proba(X)
    if target == "multiclass":  # towards 1/3 for each class
        targets = Y * (1 - label_smoothing) + label_smoothing / 3
        per_row = -np.sum(targets * np.log(proba), axis=1)
    else:  # MLP sums the labels' binary log losses; each label towards 1/2
        targets = Y * (1 - label_smoothing) + label_smoothing / 2
        per_row = -np.sum(targets * np.log(proba) + (1 - targets) * np.log1p(-proba), axis=1)
    assert clf.loss_ == pytest.approx(np.average(per_row, weights=weights) + penalty, rel=1e-6)


def test_float64_losses_and_the_members_mean_stay_float64():
    # Keras' own mean computes float64 in float32 on JAX (its type lattice maps 64-bit types to 32-bit ones):
    # sksnn's losses and a packed ensemble's mean must not.
    from sksnn._backend import precision
    from sksnn._losses import LOSSES, MemberMeanLoss
    from sksnn._network import MemberMean

    rng = np.random.RandomState(0)
    y_true, y_pred = rng.standard_normal((64, 3)), rng.standard_normal((64, 3))
    members = rng.standard_normal((64, 4, 3))
    with precision("float64"):
        squared = np.asarray(LOSSES["squared_error"]("float64").call(y_true, y_pred))
        member_loss = np.asarray(
            MemberMeanLoss(LOSSES["squared_error"]("float64"), dtype="float64").call(y_true, members)
        )
        mean = np.asarray(MemberMean(dtype="float64")(members))
    np.testing.assert_allclose(squared, 0.5 * np.mean((y_pred - y_true) ** 2, axis=1), rtol=1e-14)
    np.testing.assert_allclose(member_loss, 0.5 * np.mean((members - y_true[:, None]) ** 2, axis=(1, 2)), rtol=1e-14)
    np.testing.assert_allclose(mean, members.mean(axis=1), rtol=1e-14)
    assert squared.dtype == member_loss.dtype == mean.dtype == np.float64


def test_chunks_are_a_bounded_power_of_two_of_batches():
    # one chunk length for every data set of a width, its data under 8 MB
    assert [_trainer.slots_per_chunk(b) for b in (100, 2**18, 2**20, 3 * 2**20, 2**24)] == [32, 32, 8, 2, 1]


def test_networks_are_compiled_for_a_few_padded_widths():
    widths = [_trainer.padded_widths(n, 1, "binary")[0] for n in (1, 9, 16, 17, 100, 262, 512, 513, 784)]
    assert widths == [16, 16, 16, 32, 128, 512, 512, 513, 784]
    outputs = [_trainer.padded_widths(4, k, "categorical")[1] for k in (3, 4, 5, 17, 100, 129)]
    assert outputs == [16, 16, 16, 32, 128, 129]
    for loss in ("binary", "squared_error", "poisson"):  # only softmax outputs can hold absent classes
        assert _trainer.padded_widths(4, 3, loss)[1] == 3
    # a data set smaller than a batch: its one batch is padded to MLP's automatic batch, 200 rows
    sizes = [_trainer.padded_batch_size(200, n) for n in (5, 16, 17, 100, 150, 199, 200, 5000)]
    assert sizes == [200] * 8
    # as the estimator calls it: the batch clipped to the rows (MLP's rule); more than 200 rows keep their size
    assert [_trainer.padded_batch_size(n, n) for n in (5, 17, 100, 150, 200, 300)] == [200, 200, 200, 200, 200, 300]
    assert _trainer.padded_batch_size(32, 1000) == 32  # several batches an epoch: the user's batch size


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_small_data_sets_of_other_sizes_train_in_one_padded_batch_shape(monkeypatch):
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    _trainer._POOL.clear()
    batch_rows = []
    chunks = _training._numpy_chunks
    record = lambda *a, **k: batch_rows.append(k["batch_size"]) or chunks(*a, **k)  # noqa: E731
    monkeypatch.setattr(_training, "_numpy_chunks", record)
    # one batch an epoch (batch_size='auto' is min(200, n)), then the batches of a larger set: 200 rows compiled
    for n_samples in (20, 70, 90, 128, 150, 1000):
        X, y = make_classification(n_samples, 5, random_state=0)
        # (the 1,000-row set without the embedding and the float32 network that 'auto' gives from 1,000 rows:
        # a wider input or another dtype is another network)
        SNNClassifier(hidden_layer_sizes=(8,), max_iter=3, numerical_embedding=None, dtype=None, random_state=0).fit(
            X, y
        )
    assert len(_trainer._POOL._idle) == 1 and batch_rows == [200] * 6


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_padded_network_computes_what_the_unpadded_one_computes(monkeypatch):
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    # 5 features and 3 classes: trained in a network of 16 inputs and 4 outputs
    X, y = make_classification(150, 5, n_informative=3, n_classes=3, random_state=0)
    weights = np.random.RandomState(0).uniform(0.5, 2, 150)

    def fit():
        _trainer._POOL.clear()
        clf = SNNClassifier(hidden_layer_sizes=(8, 8), batch_size=32, max_iter=20, alpha=1e-2, random_state=0)
        return clf.fit(X, y, sample_weight=weights)

    padded = fit()
    monkeypatch.setattr(_trainer, "padded_widths", lambda n_features, n_outputs, loss: (n_features, n_outputs))
    exact = fit()
    assert [c.shape for c in padded.coefs_] == [c.shape for c in exact.coefs_] == [(5, 8), (8, 8), (8, 3)]
    assert padded.n_iter_ == exact.n_iter_
    assert padded.loss_curve_ == pytest.approx(exact.loss_curve_, rel=1e-6)
    for ours, theirs in zip(padded.coefs_ + padded.intercepts_, exact.coefs_ + exact.intercepts_):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(padded.predict_proba(X), exact.predict_proba(X), rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_data_sets_of_other_widths_and_class_counts_share_one_compiled_network(monkeypatch):
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    compiled = []
    compile_once = _trainer._compile
    monkeypatch.setattr(_trainer, "_compile", lambda *a, **k: compiled.append(1) or compile_once(*a, **k))
    _trainer._POOL.clear()
    for n_features, n_classes in [(9, 3), (12, 4), (16, 3), (10, 4)]:  # all in 16 inputs, 4 outputs
        X, y = make_classification(300, n_features, n_informative=4, n_classes=n_classes, random_state=0)
        clf = SNNClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
        assert clf.coefs_[0].shape == (n_features, 8) and clf.predict_proba(X).shape == (300, n_classes)
        np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1)
    assert len(compiled) == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_small_fit_borrows_an_idle_wider_network_and_a_large_fit_compiles_its_own(monkeypatch):
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    compiled = []
    compile_once = _trainer._compile
    monkeypatch.setattr(_trainer, "_compile", lambda *a, **k: compiled.append(k) or compile_once(*a, **k))
    _trainer._POOL.clear()

    def fit(n_samples, n_features, n_classes=3, **params):
        informative = min(3, n_features)
        X, y = make_classification(
            n_samples, n_features, n_informative=informative, n_redundant=0, n_classes=n_classes,
            n_clusters_per_class=1, random_state=0,
        )  # fmt: skip
        clf = SNNClassifier(hidden_layer_sizes=(100,), max_iter=200, tol=1e9, n_iter_no_change=1, random_state=0)
        return clf.set_params(**params).fit(X, y)

    wide = fit(300, 40)  # a network of 64 inputs
    assert len(compiled) == 1
    narrow = fit(300, 10)  # 16 would do; the idle 64 serves: 3 * 48 * 100 * 300 * 200 is cheaper than compiling
    assert len(compiled) == 1 and narrow.coefs_[0].shape == (10, 100)
    assert [c.shape for c in wide.coefs_] == [(40, 100), (100, 3)]
    np.testing.assert_allclose(narrow.predict_proba(np.zeros((2, 10))).sum(axis=1), 1)
    fit(5000, 10)  # 3 * 48 * 100 * 5000 * 200 multiply-adds of padding: compiled for 16 inputs
    assert len(compiled) == 2
    fit(300, 2)  # padded to 16 inputs: that network serves
    assert len(compiled) == 2
    fit(300, 10, n_classes=2)  # another loss: a network of its own
    assert len(compiled) == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("tol", [1e-3, 0.0, 1e9])
def test_the_compiled_stopping_rule_stops_where_the_estimators_rule_stops(monkeypatch, dtype, tol):
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier, _stopping

    # Several epochs a call, stopped by the backend's own copy of MLP's rule,
    # against one epoch a call with the estimator deciding after each.
    X, y = make_classification(60, 4, random_state=0)
    X = X.astype(dtype)

    def fit(warm_start_from=None):
        clf = SNNClassifier(hidden_layer_sizes=(8,), max_iter=150, tol=tol, n_iter_no_change=3, random_state=0)
        if warm_start_from is not None:
            clf.set_params(warm_start=True, max_iter=40)
            vars(clf).update(warm_start_from)
        return clf.fit(X, y)

    several, epoch_by_epoch = fit(), None
    with monkeypatch.context() as patched:
        patched.setattr(_stopping.TrainingProgress, "loss_rule", lambda self: None)
        epoch_by_epoch = fit()
    assert several.n_iter_ == epoch_by_epoch.n_iter_ and several.loss_curve_ == epoch_by_epoch.loss_curve_
    assert several._no_improvement_count == epoch_by_epoch._no_improvement_count
    if tol == 1e9:  # no epoch after the first improves: stops once n_iter_no_change + 1 did not
        assert several.n_iter_ == 5
    elif tol == 1e-3:
        assert 5 < several.n_iter_ < 150  # stopped by the rule, within a chunk of epochs
    for ours, theirs in zip(several.coefs_, epoch_by_epoch.coefs_):
        np.testing.assert_array_equal(ours, theirs)
    # a warm start continues the count where the last fit left it, on both paths
    again = fit(dict(vars(several)))
    with monkeypatch.context() as patched:
        patched.setattr(_stopping.TrainingProgress, "loss_rule", lambda self: None)
        again_by_epoch = fit(dict(vars(epoch_by_epoch)))
    assert again.n_iter_ == again_by_epoch.n_iter_ and again.loss_curve_ == again_by_epoch.loss_curve_


def test_a_grid_over_alpha_and_learning_rate_compiles_once_and_fits_as_fresh_networks(monkeypatch):
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    X, y = make_classification(120, 6, random_state=0)
    grid = [(1e-4, 1e-3), (1e-1, 1e-2), (1e-2, 3e-3)]
    compiles = []
    compile_network = _trainer._compile
    monkeypatch.setattr(_trainer, "_compile", lambda *a, **k: compiles.append(1) or compile_network(*a, **k))

    def fit(alpha, learning_rate):
        clf = SNNClassifier(hidden_layer_sizes=(8, 8), alpha=alpha, learning_rate_init=learning_rate, max_iter=5)
        return clf.set_params(random_state=0).fit(X, y).predict_proba(X)

    _trainer._POOL.clear()
    pooled = [fit(*point) for point in grid]
    assert len(compiles) == 1
    for point, reused in zip(grid, pooled):
        _trainer._POOL.clear()
        np.testing.assert_allclose(reused, fit(*point), rtol=1e-6, atol=1e-7)
    assert len(compiles) == 1 + len(grid)
    assert not np.allclose(pooled[0], pooled[1], atol=1e-3)  # the values did reach the compiled step


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_training_sets_of_other_sizes_share_one_compiled_network(monkeypatch):
    from sksnn import SNNRegressor

    compiled = []
    compile_once = _trainer._compile
    monkeypatch.setattr(_trainer, "_compile", lambda *a, **k: compiled.append(1) or compile_once(*a, **k))
    _trainer._POOL.clear()
    rng = np.random.RandomState(0)
    model = SNNRegressor(hidden_layer_sizes=(4,), batch_size=4, max_iter=2, random_state=0)
    for n_samples in (18, 20, 27, 30):  # 5 to 8 batches an epoch: one chunk of 8
        model.fit(rng.standard_normal((n_samples, 3)), rng.standard_normal(n_samples))
        assert model.n_iter_ == 2
    assert len(compiled) == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_training_by_chunks_of_batches_equals_one_batch_a_call(monkeypatch):
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    # 130 rows in batches of 4: 33 steps an epoch, the last of 2 rows. In
    # chunks of 32 batches: one ends with the first epoch's last batch and
    # holds the second's first 31, the last holds 2 batches and 30 empty
    # slots, which must not train.
    X, y = make_classification(130, 5, n_informative=3, n_classes=3, random_state=0)

    def fit():
        _trainer._POOL.clear()
        return SNNClassifier(hidden_layer_sizes=(8, 8), batch_size=4, max_iter=2, random_state=0).fit(X, y)

    by_chunks = fit()
    monkeypatch.setattr(_training, "slots_per_chunk", lambda batch_bytes: 1)
    one_a_call = fit()
    iterations = [model._optimizer_state[0] for model in (by_chunks, one_a_call)]
    assert iterations == [66, 66]  # the optimizer's step count: 2 epochs of 33 steps
    for chunked, single in zip(by_chunks.coefs_ + by_chunks.intercepts_, one_a_call.coefs_ + one_a_call.intercepts_):
        np.testing.assert_allclose(chunked, single, rtol=1e-5, atol=1e-6)
    assert by_chunks.loss_curve_ == pytest.approx(one_a_call.loss_curve_, rel=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_with_validation_rows_only_the_chunk_ending_an_epoch_is_waited_for_and_synced(monkeypatch):
    # With validation rows the estimator looks at the network after each epoch
    # only: a chunk inside an epoch is sent on without reading its losses (on
    # JAX the next one is sent before it is computed), and the network's
    # variables get the train state at the epoch's end alone.
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    # 160 rows, 16 held out: 36 batches of 4 an epoch, in chunks of 32 and 4.
    X, y = make_classification(160, 5, n_informative=3, n_classes=3, random_state=0)
    chunk_trainer = _trainer.TrainingNetwork.chunk_trainer
    counts = {}

    def counted_chunk_trainer(self, work_rows):
        train = chunk_trainer(self, work_rows)
        calls, sync = train.__call__, train.sync
        counts.update(calls=0, syncs=0)

        class Counted:
            asynchronous = train.asynchronous

            def __call__(self, *args):
                counts["calls"] += 1
                return calls(*args)

            def sync(self):
                counts["syncs"] += 1
                sync()

            def reload(self):
                train.reload()

        return Counted()

    def fit():
        _trainer._POOL.clear()
        model = SNNClassifier(hidden_layer_sizes=(8, 8), batch_size=4, max_iter=3, early_stopping=True)
        return model.set_params(n_iter_no_change=5, random_state=0).fit(X, y)

    monkeypatch.setattr(_trainer.TrainingNetwork, "chunk_trainer", counted_chunk_trainer)
    by_chunks = fit()
    assert by_chunks.n_iter_ == 3 and counts == {"calls": 6, "syncs": 3 + 1}  # each epoch's end, and the fit's
    monkeypatch.setattr(_training, "slots_per_chunk", lambda batch_bytes: 1)
    one_a_call = fit()
    assert counts == {"calls": 3 * 36, "syncs": 3 + 1}
    assert by_chunks.validation_scores_ == one_a_call.validation_scores_
    for chunked, single in zip(by_chunks.coefs_ + by_chunks.intercepts_, one_a_call.coefs_ + one_a_call.intercepts_):
        np.testing.assert_allclose(chunked, single, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident size from /proc")
def test_memory_stays_flat_over_a_search_of_new_architectures():
    # Before the pool released the backends' caches (and, on TensorFlow, before
    # the optimizers skipped Keras' all-reduce), 30 new architectures grew the
    # process by ~120 MB on JAX, ~220 MB on TensorFlow.
    # benchmarks/speed.py's long-search figure, in a fresh process of its own.
    # The first ~30 fits fill the pool and the allocator's arenas (RSS rises
    # ~35-50 MB, then stays flat): the growth is measured after them, as the
    # peak over fits 60-90 against the peak over fits 30-60 (single readings
    # move +-30 MB with the allocator; flat now: -13 to +6 MB).
    command = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--backend", keras.backend.backend()]
    command += ["--figures", "search", "--search-fits", "90", "--search-from", "30"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(line for line in out.stdout.splitlines() if line.startswith("search RSS growth"))
    first, second = (float(v) for v in re.search(r"fits 30-60 -> 60-90: (\d+) -> (\d+) MB", line).groups())
    assert second - first < 40, line


def test_a_new_architecture_leaves_no_gradient_function_in_tensorflows_registry():
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow's global gradient registry")
    from tensorflow.python.framework import ops

    from sksnn import SNNClassifier

    registry = ops._gradient_registry._registry
    X, y = np.random.RandomState(0).normal(size=(40, 3)), np.arange(40) % 2
    SNNClassifier(hidden_layer_sizes=(7, 5), max_iter=2, random_state=0).fit(X, y)  # TensorFlow started, step traced
    before = set(registry)
    SNNClassifier(hidden_layer_sizes=(9, 3), max_iter=2, random_state=0).fit(X, y)  # a new architecture: traced
    # Keras' all-reduce of one replica's gradients registered a custom gradient
    # per trace, which held the traced graph for the life of the process.
    assert set(registry) == before


def test_selu_by_exp_is_selu():
    import keras

    from sksnn._backend import precision
    from sksnn._jax_trainer import selu_by_exp

    x = np.concatenate([-np.logspace(-12, 3, 200), [0.0], np.logspace(-12, 3, 200)])
    with precision("float64"):  # JAX: 64-bit types, as in a float64 fit
        ours = keras.ops.convert_to_numpy(selu_by_exp(keras.ops.convert_to_tensor(x, dtype="float64")))
        theirs = keras.ops.convert_to_numpy(keras.activations.selu(keras.ops.convert_to_tensor(x, dtype="float64")))
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=1e-15)  # one rounding of exp(x) - 1 near 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_training_with_selu_by_exp_reaches_what_keras_selu_reaches(monkeypatch):
    import keras
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    X, y = make_classification(200, 6, random_state=0)

    def fit():
        _trainer._POOL.clear()
        return SNNClassifier(hidden_layer_sizes=(16, 16), max_iter=30, random_state=0).fit(X, y)

    ours = fit()
    ((_, trainer),) = _trainer._POOL._idle
    on_jax = keras.backend.backend() == "jax"  # used there only; the model a user gets keeps Keras' selu
    expected = _trainer.BACKEND_LOOP.selu_by_exp if on_jax else "selu"
    assert trainer.network.get_layer("hidden_0").activation is keras.activations.get(expected)
    assert ours.model_.get_layer("hidden_0").activation is keras.activations.selu
    monkeypatch.setattr(_trainer.BACKEND_LOOP, "TRAINING_ACTIVATIONS", {})
    theirs = fit()
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert ours.loss_curve_ == pytest.approx(theirs.loss_curve_, rel=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_tensorflow_compiles_with_xla_only_the_fits_whose_work_repays_it():
    from sklearn.base import clone
    from sklearn.datasets import make_classification

    from sksnn import SNNClassifier

    X, y = make_classification(2000, 10, n_classes=3, n_informative=4, random_state=0)
    on_jax = keras.backend.backend() == "jax"
    _trainer._POOL.clear()
    # tol=1e9 stops after two epochs; max_iter bounds the work the decision weighs; in float64
    # the two executors' weights agree to 1e-9
    small = SNNClassifier(
        hidden_layer_sizes=(100,), max_iter=10, tol=1e9, n_iter_no_change=1, random_state=0, dtype="float64"
    )
    small.fit(X, y)
    ((_, trainer),) = _trainer._POOL._idle
    assert trainer.training_work(2000 * 10) < _trainer._COMPILE_WORTH
    assert set(trainer.chunk_functions) == {on_jax}  # TensorFlow: the graph executor; JAX compiles always
    large = clone(small).set_params(max_iter=1000).fit(X, y)  # 3 * (16 * 100 + 100 * 4) * 2000 * 1000 multiply-adds
    assert set(trainer.chunk_functions) == ({True} if on_jax else {False, True})
    assert large.n_iter_ == small.n_iter_ == 3  # either way, MLP's rule: two epochs without improvement
    np.testing.assert_allclose(large.coefs_[0], small.coefs_[0], rtol=1e-9, atol=1e-12)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's graph optimizer")
def test_tensorflow_runs_sksnns_calls_without_grappler_and_leaves_the_users_options():
    from sklearn.datasets import load_iris
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.eager import context

    from sksnn import SNNClassifier, _tensorflow_trainer

    def grappler_off(options):
        config = config_pb2.ConfigProto()
        config.ParseFromString(options.config_proto_serialized)
        return config.graph_options.rewrite_options.disable_meta_optimizer

    users = context.context().function_call_options
    seen = []
    with _tensorflow_trainer._without_grappler():
        seen.append(context.context().function_call_options)
    assert grappler_off(seen[0]) and not grappler_off(users)
    assert context.context().function_call_options is users
    X, y = load_iris(return_X_y=True)
    est = SNNClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    assert context.context().function_call_options is users and np.isfinite(est.loss_)
