"""The piecewise-linear encoding (``_embeddings``), ``numerical_embedding`` and ``early_stopping='auto'``."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import is_regressor
from sklearn.exceptions import ConvergenceWarning

from sksnn import SNNClassifier, SNNRegressor, _base, _embeddings
from sksnn._embeddings import EmbeddedRows, PiecewiseLinearEncoding
from sksnn._inference import forward

rng = np.random.RandomState(0)
X = np.column_stack([rng.standard_normal(400), rng.exponential(size=400), rng.randint(0, 2, 400), np.full(400, 3.0)])
FAST = {"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0}


def _encode_one(x, edges):
    """The paper's definition for one value, bin by bin (clipped to [0, 1] on both sides)."""
    return [min(1.0, max(0.0, (x - lo) / (hi - lo))) for lo, hi in zip(edges[:-1], edges[1:])]


def test_the_encoding_is_each_bins_share_passed_over_quantile_edges():
    encoding = PiecewiseLinearEncoding(n_bins=4).fit(X)
    out = encoding.transform(X)
    np.testing.assert_array_equal(out[:, :4], X)  # X's own columns first, unchanged
    # the binary and the constant column have fewer than three distinct edges: no components
    assert set(encoding.feature_index_.tolist()) == {0, 1}
    for column in (0, 1):
        edges = np.quantile(X[:, column], np.linspace(0, 1, 5))
        expected = np.array([_encode_one(x, edges) for x in X[:, column]])
        np.testing.assert_allclose(out[:, 4:][:, encoding.feature_index_ == column], expected, rtol=1e-12)
    assert encoding.n_features_out_ == 4 + 8 == out.shape[1]


def test_the_encoding_keeps_the_dtype_densifies_sparse_rows_and_reads_rows_lazily():
    encoding = PiecewiseLinearEncoding(n_bins=8).fit(X)
    X32 = X.astype(np.float32)
    assert encoding.transform(X32).dtype == np.float32
    np.testing.assert_allclose(encoding.transform(X32), encoding.transform(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(encoding.transform(sp.csr_matrix(X)), encoding.transform(X))
    rows = EmbeddedRows(X, encoding)
    assert rows.shape == (400, encoding.n_features_out_) and rows.dtype == X.dtype and len(rows) == 400
    picked = np.array([5, 1, 399])
    np.testing.assert_array_equal(rows[picked], encoding.transform(X[picked]))
    np.testing.assert_array_equal(rows[10:20], encoding.transform(X[10:20]))


def test_the_edges_of_many_rows_come_from_a_seeded_subset(monkeypatch):
    monkeypatch.setattr(_embeddings, "QUANTILE_ROWS", 100)
    first = PiecewiseLinearEncoding(4).fit(X, seed=1)
    again = PiecewiseLinearEncoding(4).fit(X, seed=1)
    other = PiecewiseLinearEncoding(4).fit(X, seed=2)
    np.testing.assert_array_equal(first.lower_, again.lower_)
    assert not np.array_equal(first.lower_, other.lower_)
    monkeypatch.setattr(_embeddings, "QUANTILE_ROWS", 10**6)
    whole = PiecewiseLinearEncoding(4).fit(X, seed=1)
    assert not np.array_equal(first.lower_, whole.lower_)


def test_check_refuses_what_is_not_an_encoding():
    encoding = PiecewiseLinearEncoding(4).fit(X)
    encoding.check()
    encoding.width_ = -encoding.width_
    with pytest.raises(ValueError, match="inconsistent"):
        encoding.check()


@pytest.mark.parametrize("estimator", [SNNClassifier, SNNRegressor])
def test_the_network_reads_x_and_its_encoding_and_predicts_from_them(estimator):
    y = (X[:, 0] > 0).astype(int) if estimator is SNNClassifier else X[:, 0] ** 2
    est = estimator(numerical_embedding="piecewise_linear", n_bins=4, **FAST).fit(X, y)
    assert est.coefs_[0].shape[0] == est.embedding_.n_features_out_ == 12
    assert est.scaler_.mean_.shape == (12,)
    np.testing.assert_allclose(est.scaler_.mean_, est.embedding_.transform(X).mean(axis=0), atol=1e-12)
    # predict: the encoding, the scaler, then the layers
    inputs = est.scaler_.transform(est.embedding_.transform(X))
    expected = forward(inputs, est.coefs_, est.intercepts_, est.activation, est.out_activation_)
    if estimator is SNNClassifier:
        np.testing.assert_allclose(est.predict_proba(X)[:, 1:], expected, rtol=1e-12)
    else:
        np.testing.assert_allclose(est.predict(X), est.target_scaler_.inverse_transform(expected).ravel(), rtol=1e-12)
    # the Keras model is that network too
    np.testing.assert_allclose(est.model_(inputs), expected, rtol=1e-4, atol=1e-6)


def test_auto_encodes_a_dense_x_from_1000_rows(monkeypatch):
    monkeypatch.setattr(_base, "AUTO_EMBEDDING_ROWS", 300)  # the rule, not the number, on a small X
    y = (X[:, 0] > 0).astype(int)
    assert SNNClassifier(**FAST).fit(X[:299], y[:299]).embedding_ is None
    assert SNNClassifier(**FAST).fit(X[:300], y[:300]).embedding_ is not None
    # the rows given to fit decide, not those left after early stopping's validation rows
    assert SNNClassifier(early_stopping=True, **FAST).fit(X[:300], y[:300]).embedding_ is not None
    assert SNNClassifier(**FAST).fit(sp.csr_matrix(X), y).embedding_ is None  # sparse stays sparse
    assert SNNClassifier(numerical_embedding=None, **FAST).fit(X, y).embedding_ is None
    assert SNNClassifier.__init__.__kwdefaults__["numerical_embedding"] == "auto"
    assert _base.AUTO_EMBEDDING_ROWS == 300 and _base.AUTO_EMBEDDING_ROWS != 1000  # (the patch took)


def test_an_explicit_encoding_of_a_sparse_x_predicts_as_for_its_dense_rows():
    y = (X[:, 0] > 0).astype(int)
    Xs = sp.csr_matrix(np.where(X > 0.5, X, 0.0))
    est = SNNClassifier(numerical_embedding="piecewise_linear", n_bins=4, **FAST).fit(Xs, y)
    assert est.embedding_ is not None
    np.testing.assert_allclose(est.predict_proba(Xs), est.predict_proba(Xs.toarray()), rtol=1e-12)


def test_the_bins_are_fixed_by_the_first_fit_of_partial_fit_and_warm_start():
    y = (X[:, 0] > 0).astype(int)
    est = SNNClassifier(numerical_embedding="piecewise_linear", n_bins=4, **FAST)
    est.partial_fit(X[:200], y[:200], classes=[0, 1])
    lower = est.embedding_.lower_.copy()
    est.partial_fit(X[200:] * 3, y[200:])
    np.testing.assert_array_equal(est.embedding_.lower_, lower)
    warm = SNNClassifier(numerical_embedding="piecewise_linear", n_bins=4, warm_start=True, **FAST).fit(X, y)
    lower = warm.embedding_.lower_.copy()
    warm.fit(X * 3, y)
    np.testing.assert_array_equal(warm.embedding_.lower_, lower)
    cold = SNNClassifier(numerical_embedding="piecewise_linear", n_bins=4, **FAST).fit(X, y)
    cold.fit(X * 3, y)  # a new fit: new bins
    np.testing.assert_allclose(cold.embedding_.lower_, 3 * lower)


def test_lbfgs_and_pandas_feature_names_with_an_encoding():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = SNNRegressor(numerical_embedding="piecewise_linear", n_bins=4, solver="lbfgs", **FAST).fit(frame, X[:, 1])
    assert list(est.feature_names_in_) == ["a", "b", "c", "d"] and est.n_features_in_ == 4
    with pytest.warns(UserWarning, match="does not have valid feature names"):  # as MLP warns
        from_array = est.predict(frame.to_numpy())
    np.testing.assert_array_equal(est.predict(frame), from_array)
    with pytest.raises(ValueError, match="feature names"):
        est.predict(frame.rename(columns={"a": "z"}))


def test_early_stopping_auto_holds_out_rows_from_1000_rows(monkeypatch):
    monkeypatch.setattr(_base, "AUTO_EARLY_STOPPING_ROWS", 300)
    y = (X[:, 0] > 0).astype(int)
    small = SNNClassifier(numerical_embedding=None, **FAST).fit(X[:299], y[:299])
    assert small.validation_scores_ is None and small.best_loss_ is not None
    large = SNNClassifier(numerical_embedding=None, **FAST).fit(X, y)
    assert len(large.validation_scores_) == large.n_iter_ and large.best_loss_ is None
    # partial_fit and 'lbfgs' never hold rows out under 'auto' (True in partial_fit is MLP's error)
    incremental = SNNClassifier(numerical_embedding=None, **FAST).partial_fit(X, y, classes=[0, 1])
    assert incremental.validation_scores_ is None
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        SNNClassifier(early_stopping=True, **FAST).partial_fit(X, y, classes=[0, 1])
    lbfgs = SNNRegressor(solver="lbfgs", numerical_embedding=None, **FAST).fit(X, X[:, 0])
    assert not hasattr(lbfgs, "validation_scores_")
    # nor where a stratified split cannot hold out a row of every class (True: MLP's error)
    lonely = y.copy()
    lonely[0] = 2
    assert SNNClassifier(numerical_embedding=None, **FAST).fit(X, lonely).validation_scores_ is None
    with pytest.raises(ValueError, match="least populated class"):
        SNNClassifier(numerical_embedding=None, early_stopping=True, **FAST).fit(X, lonely)
    many = np.arange(400) % 50  # 50 classes: 40 validation rows cannot hold one of each
    assert SNNClassifier(numerical_embedding=None, **FAST).fit(X, many).validation_scores_ is None
    # validation_fraction=0 turns 'auto' off (with True it is MLP's error)
    for estimator, target in ((SNNClassifier, y), (SNNRegressor, X[:, 0])):
        assert estimator(validation_fraction=0.0, **FAST).fit(X, target).validation_scores_ is None
        with pytest.raises(ValueError, match="validation"):
            estimator(validation_fraction=0.0, early_stopping=True, **FAST).fit(X, target)
    # False and True keep MLP's meaning
    assert SNNClassifier(early_stopping=False, **FAST).fit(X, y).validation_scores_ is None
    assert SNNClassifier(early_stopping=True, **FAST).fit(X[:100], y[:100]).validation_scores_ is not None


def test_early_stopping_auto_keeps_the_weights_of_the_lowest_validation_loss(monkeypatch):
    monkeypatch.setattr(_base, "AUTO_EARLY_STOPPING_ROWS", 300)
    monkeypatch.setattr(_base, "AUTO_AVERAGE_EPOCHS", {"classifier": None, "regressor": None})  # the epochs' own
    y = (X[:, 0] + 0.8 * rng.standard_normal(400) > 0).astype(int)
    est = SNNClassifier(hidden_layer_sizes=(64, 64), max_iter=40, n_iter_no_change=40, tol=0, random_state=0)
    est.fit(X, y)
    best = int(np.argmin(est.validation_loss_curve_))  # "auto" stops on the validation loss
    assert 0 < best < est.n_iter_ - 1  # (the case is one where the best epoch is neither the first nor the last)
    assert est.best_validation_score_ == max(est.validation_scores_)
    # the committed weights are the lowest validation loss's: refit to that epoch and compare
    again = SNNClassifier(hidden_layer_sizes=(64, 64), max_iter=best + 1, n_iter_no_change=40, tol=0, random_state=0)
    again.fit(X, y)
    for kept, refit in zip(est.coefs_, again.coefs_):
        np.testing.assert_allclose(kept, refit, rtol=1e-6, atol=1e-9)


def test_early_stopping_auto_in_classification_keeps_the_best_epoch_of_the_weights_moving_average(monkeypatch):
    monkeypatch.setattr(_base, "AUTO_EARLY_STOPPING_ROWS", 300)
    y = (X[:, 0] + 0.8 * rng.standard_normal(400) > 0).astype(int)
    seen = []  # (the epoch's weights, the average's validation loss), as the fit gave them

    class SpiedAverage(_base.WeightAverage):
        def update(self, weights):
            seen.append([[w.copy() for w in part] for part in weights[:2]])
            return super().update(weights)

        def record(self, validation_loss):
            seen[-1].append(validation_loss)
            super().record(validation_loss)

    monkeypatch.setattr(_base, "WeightAverage", SpiedAverage)
    params = {"hidden_layer_sizes": (64, 64), "max_iter": 40, "n_iter_no_change": 40, "tol": 0, "random_state": 0}
    est = SNNClassifier(**params).fit(X, y)
    assert len(seen) == est.n_iter_ == 40
    # the average over AUTO_AVERAGE_EPOCHS epochs, recomputed here, at its lowest validation loss
    momentum = 1 - 1 / _base.AUTO_AVERAGE_EPOCHS["classifier"]
    average = seen[0][:2]
    averages = [average]
    for coefs, intercepts, _ in seen[1:]:
        average = [
            [momentum * a + (1 - momentum) * w for a, w in zip(part, new)]
            for part, new in zip(average, (coefs, intercepts))
        ]
        averages.append(average)
    best = int(np.argmin([loss for *_, loss in seen]))
    assert 0 < best < est.n_iter_ - 1
    for kept, expected in zip(est.coefs_ + est.intercepts_, averages[best][0] + averages[best][1]):
        np.testing.assert_allclose(kept, expected, rtol=1e-6, atol=1e-9)
    # an average, no epoch's own weights; and the fit stopped and scored as without it
    assert not any(np.allclose(est.coefs_[0], epoch[0][0]) for epoch in seen)
    monkeypatch.setattr(_base, "AUTO_AVERAGE_EPOCHS", {"classifier": None, "regressor": None})
    plain = SNNClassifier(**params).fit(X, y)
    assert plain.validation_loss_curve_ == est.validation_loss_curve_ and plain.n_iter_ == est.n_iter_
    assert len(seen) == 40  # no average without the constant


@pytest.mark.parametrize("sparse", [False, True])
def test_the_validation_rows_are_encoded_and_standardized_once_a_fit_up_to_a_size(monkeypatch, sparse):
    # Each epoch's validation pass used to encode and standardize the held-out
    # rows again (40% of the pass); below a size they are prepared once, to the same numbers.
    monkeypatch.setattr(_base, "AUTO_EARLY_STOPPING_ROWS", 300)
    y = X[:, 0] + X[:, 1] + 0.3 * rng.standard_normal(400)
    Xs = sp.csr_matrix(X) if sparse else X
    inputs = []

    def spied_forward(rows, *args, **kwargs):
        inputs.append((rows, args[4:]))  # (after coefs, intercepts, activation, out_activation): the standardization
        return forward(rows, *args, **kwargs)

    monkeypatch.setattr(_base, "forward", spied_forward)
    params = {"hidden_layer_sizes": (8,), "max_iter": 6, "numerical_embedding": "piecewise_linear", "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        prepared = SNNRegressor(**params).fit(Xs, y)
        passes = inputs[:]
        inputs.clear()
        monkeypatch.setattr(_base, "_PREPARED_VALIDATION_BYTES", 0)  # too large: each pass encodes its blocks
        streamed = SNNRegressor(**params).fit(Xs, y)
    assert len(passes) == len(inputs) == 6
    if sparse:  # left as they are: the scaler is folded into the first layer of sparse rows
        assert all(isinstance(rows, EmbeddedRows) and len(standardization) == 2 for rows, standardization in passes)
    else:
        assert all(type(rows) is np.ndarray and standardization == () for rows, standardization in passes)
        assert len({id(rows) for rows, _ in passes}) == 1  # one array, prepared once
        expected = _base.standardize(inputs[0][0][0:40], *inputs[0][1])
        np.testing.assert_array_equal(passes[0][0], expected)
    assert all(isinstance(rows, EmbeddedRows) and len(standardization) == 2 for rows, standardization in inputs)
    assert prepared.validation_loss_curve_ == streamed.validation_loss_curve_
    assert prepared.validation_scores_ == streamed.validation_scores_
    np.testing.assert_array_equal(prepared.predict(X), streamed.predict(X))


ENCODED = np.column_stack([X, np.random.RandomState(1).uniform(size=(400, 4))])


@pytest.mark.parametrize("n_members", [1, 3])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("estimator", [SNNClassifier, SNNRegressor])
def test_the_train_step_encodes_as_the_host_would(estimator, standardize, n_members):
    # The step computes the components from X's standardized columns; a fit on X
    # encoded beforehand (no embedding) trains the same network on the same numbers.
    y = (ENCODED[:, 0] + ENCODED[:, 1] > 1).astype(int) if estimator is SNNClassifier else ENCODED[:, 0] ** 2
    params = {**FAST, "max_iter": 6, "n_bins": 8, "standardize": standardize, "n_members": n_members}
    in_step = estimator(numerical_embedding="piecewise_linear", **params).fit(ENCODED, y)
    on_host = estimator(numerical_embedding=None, **params).fit(in_step.embedding_.transform(ENCODED), y)
    assert in_step.coefs_[0].shape == on_host.coefs_[0].shape == (in_step.embedding_.n_features_out_, 8)
    for a, b in zip(in_step.coefs_ + in_step.intercepts_, on_host.coefs_ + on_host.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    assert in_step.loss_ == pytest.approx(on_host.loss_, rel=1e-12)


def test_the_batches_hold_xs_columns_and_a_pooled_network_pads_the_components():
    from sksnn import _trainer

    _trainer._POOL.clear()
    y = ENCODED[:, 0] ** 2
    params = {**FAST, "n_bins": 8, "numerical_embedding": "piecewise_linear", "shuffle": False}
    wide = SNNRegressor(**params).fit(ENCODED, y)  # 8 columns: 6 of them get components
    (key, trainer), *_ = _trainer._POOL._idle[-1:]
    n_components = len(wide.embedding_.feature_index_)
    assert key[-2] is True and key[-1] is False and trainer.input_width == 16  # encodes; no input scale
    assert trainer.component_width == _trainer.padded_components(n_components) >= n_components
    # A narrower data set trains in that network (its columns and components padded)...
    narrow_X = ENCODED[:, [0, 1, 4]]
    pooled = SNNRegressor(**params).fit(narrow_X, y)
    assert _trainer._POOL._idle[-1][1] is trainer
    # ... exactly as in a network of its own widths.
    _trainer._POOL.clear()
    own = SNNRegressor(**params).fit(narrow_X, y)
    assert _trainer._POOL._idle[-1][1] is not trainer
    for a, b in zip(pooled.coefs_ + pooled.intercepts_, own.coefs_ + own.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_an_encoding_without_components_trains_on_x_alone():
    binary = np.random.RandomState(2).randint(0, 2, (300, 3)).astype(float)
    est = SNNClassifier(numerical_embedding="piecewise_linear", **FAST).fit(binary, binary[:, 0].astype(int))
    assert len(est.embedding_.feature_index_) == 0 and est.coefs_[0].shape == (3, 8)
    assert est.score(binary, binary[:, 0].astype(int)) > 0.5


def test_early_stopping_auto_in_regression_resumes_once_from_the_best_weights_at_a_tenth_of_the_rate(
    monkeypatch, capsys
):
    monkeypatch.setattr(_base, "AUTO_EARLY_STOPPING_ROWS", 300)
    noisy = X[:, 0] + rng.standard_normal(400)  # overfits soon: the validation loss turns up
    params = dict(hidden_layer_sizes=(64, 64), numerical_embedding=None, learning_rate_init=1e-2,
                  n_iter_no_change=3, max_iter=200, random_state=0, verbose=True)  # fmt: skip

    monkeypatch.setattr(_base, "AUTO_CYCLE_EPOCHS", {"classifier": None, "regressor": None})  # the rule without cycles

    def fit(decays, restore=True):
        monkeypatch.setattr(_base, "AUTO_PLATEAU_DECAYS", {"classifier": decays, "regressor": decays})
        monkeypatch.setattr(_base, "AUTO_PLATEAU_RESTORE", restore)
        est = SNNRegressor(**params).fit(X, noisy)
        return est, capsys.readouterr().out

    assert _base.AUTO_PLATEAU_DECAYS == {"classifier": 0, "regressor": 1} and _base.AUTO_PLATEAU_FACTOR == 10
    stopped, stopped_log = fit(0)
    resumed, resumed_log = fit(1)
    plateau = stopped.n_iter_
    assert plateau < resumed.n_iter_ < params["max_iter"]  # trained on past the first plateau, to a second one
    # the same fit up to the plateau; then one message saying what happened, and a stop at the next plateau
    np.testing.assert_array_equal(resumed.loss_curve_[:plateau], stopped.loss_curve_)
    assert "Stopping." in stopped_log and "Back to the best epoch's weights" not in stopped_log
    assert resumed_log.count("Back to the best epoch's weights, learning rate 0.001000.") == 1
    assert _base.AUTO_PLATEAU_PATIENCE == 2  # the second plateau: 2 epochs in a row without improvement
    assert resumed_log.rstrip().endswith("for 2 consecutive epochs. Stopping.")
    assert "for 3 consecutive epochs. Back to" in resumed_log  # the first: the user's n_iter_no_change
    # it went back to the best epoch's weights: without that, the epoch after the plateau continues from the last
    unrestored, _ = fit(1, restore=False)
    np.testing.assert_array_equal(unrestored.loss_curve_[:plateau], stopped.loss_curve_)
    assert unrestored.loss_curve_[plateau] != resumed.loss_curve_[plateau]
    best = int(np.argmin(stopped.validation_loss_curve_))
    assert best < plateau - 1  # (the case is one where the last epoch is not the best one)
    # the classifier stops at the first plateau, as before (round 7: no gain there for the time)
    monkeypatch.setattr(_base, "AUTO_PLATEAU_DECAYS", {"classifier": 0, "regressor": 1})
    SNNClassifier(**params).fit(X, (noisy > 0).astype(int))
    assert "Back to the best epoch's weights" not in capsys.readouterr().out


def test_early_stopping_auto_in_regression_trains_in_cosine_cycles_and_waits_a_whole_cycle(monkeypatch, capsys):
    from sksnn import _optimizers

    monkeypatch.setattr(_base, "AUTO_EARLY_STOPPING_ROWS", 300)
    cycles, set_cycles = [], _optimizers.set_learning_rate_cycles

    def spy(optimizer, steps):  # (optimizer, the cycles it was given, None if it has none)
        done = set_cycles(optimizer, steps)
        cycles.append((type(optimizer).__name__, steps if done else None))
        return done

    monkeypatch.setattr(_optimizers, "set_learning_rate_cycles", spy)
    monkeypatch.setattr(_base, "AUTO_FINAL_CYCLE_EPOCHS", {"classifier": None, "regressor": None})  # the next test's
    noisy = X[:, 0] + rng.standard_normal(400)
    params = dict(hidden_layer_sizes=(16,), numerical_embedding=None, max_iter=200, random_state=0, verbose=True)

    assert _base.AUTO_CYCLE_EPOCHS == {"classifier": None, "regressor": 16}
    est = SNNRegressor(**params).fit(X, noisy)
    log = capsys.readouterr().out
    # 360 training rows in batches of 200: cycles of 16 epochs of 2 steps; the
    # fit stops after a whole cycle without a lower validation loss, not the
    # user's 10 epochs, and never resumes from a plateau
    assert cycles == [("Nadam", 16 * 2)]
    assert log.rstrip().endswith("for 16 consecutive epochs. Stopping.") and "Back to the best" not in log
    assert (
        est.n_iter_ >= 17
        and min(est.validation_loss_curve_[-16:]) > min(est.validation_loss_curve_[:-16]) - 16 * est.tol
    )
    # a longer patience of the user's is kept
    SNNRegressor(**params, n_iter_no_change=20).fit(X, noisy)
    assert capsys.readouterr().out.rstrip().endswith("for 20 consecutive epochs. Stopping.")
    cycles.clear()

    # every other fit sets no cycles (a pooled trainer may hold the last fit's)
    SNNRegressor(**params, early_stopping=True).fit(X, noisy)  # the user's own stopping, as MLP's
    SNNRegressor(**params, solver="adam").partial_fit(X, noisy)  # partial_fit: no validation rows
    SNNRegressor(**{**params, "max_iter": 3}, early_stopping="auto").fit(X[:200], noisy[:200])  # under the rows
    SNNClassifier(**params).fit(X, (noisy > 0).astype(int))  # round 12: level in classification
    assert cycles == [("Nadam", 0), ("Adam", 0), ("Nadam", 0), ("Nadam", 0)]
    capsys.readouterr()
    # adam and adamw cycle as nadam does; sgd keeps MLP's schedules and the plateau rule
    for solver in ("adamw", "sgd"):
        SNNRegressor(**{**params, "max_iter": 20}, solver=solver).fit(X, noisy)
    assert cycles[-2:] == [("AdamW", 32), ("SGD", None)]


def test_early_stopping_auto_in_regression_ends_with_a_short_cycle_on_every_row_from_the_best_weights(
    monkeypatch, capsys
):
    from sksnn import _optimizers, _stopping, _trainer, _training

    monkeypatch.setattr(_base, "AUTO_EARLY_STOPPING_ROWS", 300)
    calls = []  # what happened, in order: cycles set, weights loaded, epochs trained on how many rows
    set_cycles, run = _optimizers.set_learning_rate_cycles, _training.run_epochs
    load = _trainer.TrainingNetwork.load_dense_weights

    def spy_cycles(optimizer, steps):
        done = set_cycles(optimizer, steps)
        calls.append(("cycles", steps if done else None))
        return done

    def spy_load(trainer, coefs, intercepts, members=None):
        calls.append(("load", [np.array(c) for c in coefs]))
        return load(trainer, coefs, intercepts, members)

    def spy_run(trainer, X, *args, **kwargs):
        calls.append(("rows", X.shape[0], kwargs["epochs"]))
        return run(trainer, X, *args, **kwargs)

    monkeypatch.setattr(_optimizers, "set_learning_rate_cycles", spy_cycles)
    monkeypatch.setattr(_trainer.TrainingNetwork, "load_dense_weights", spy_load)
    monkeypatch.setattr(_training, "run_epochs", spy_run)
    noisy = X[:, 0] + rng.standard_normal(400)
    params = dict(hidden_layer_sizes=(16,), numerical_embedding=None, max_iter=200, random_state=0)

    def fit(final, **more):
        monkeypatch.setattr(_base, "AUTO_FINAL_CYCLE_EPOCHS", {"classifier": None, "regressor": final})
        calls.clear()
        return SNNRegressor(**{**params, **more}).fit(X, noisy)

    assert _base.AUTO_FINAL_CYCLE_EPOCHS == {"classifier": None, "regressor": 8}
    stopped = fit(None)
    assert calls == [("cycles", 32), ("rows", 360, 200)]  # 360 training rows, batches of 200: 2 steps an epoch
    best = [np.array(c) for c in stopped.coefs_]  # without the final cycle, the best epoch's weights

    final = fit(8, verbose=True)
    log = capsys.readouterr().out
    # the same fit up to its stop; then the best epoch's weights, a fresh cycle
    # of 8 epochs of all 400 rows (2 steps each), and its last weights are the model
    assert [c[0] for c in calls] == ["cycles", "rows", "load", "cycles", "rows"]
    assert calls[-1] == ("rows", 400, 8) and calls[-2] == ("cycles", 8 * 2)
    for loaded, kept in zip(calls[2][1], best, strict=True):
        np.testing.assert_array_equal(loaded, kept)
    assert not np.allclose(final.coefs_[0], best[0])
    stop = stopped.n_iter_
    assert final.n_iter_ == stop + 8 == len(final.loss_curve_) and final.t_ == stopped.t_ + 8 * 400
    np.testing.assert_array_equal(final.loss_curve_[:stop], stopped.loss_curve_)
    # the validation curves end where the held-out rows joined the training rows
    np.testing.assert_array_equal(final.validation_loss_curve_, stopped.validation_loss_curve_)
    assert final.best_validation_score_ == stopped.best_validation_score_
    before, after = log.split("One more cycle of 8 epochs on every row, from the best epoch's weights.\n")
    assert before.rstrip().endswith("for 16 consecutive epochs. Stopping.")
    lines = [f"Iteration {i}, loss = {final.loss_curve_[i - 1]:.8f}" for i in range(stop + 1, stop + 9)]
    assert after.splitlines() == lines

    # within max_iter: a fit that stops 2 epochs before it trains 2 of the 8, and does not warn
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        short = fit(8, max_iter=stop + 2)
    assert calls[-1] == ("rows", 400, 2) and short.n_iter_ == stop + 2
    # a final cycle that diverges leaves the best epoch's weights the model
    update_final = _stopping.TrainingProgress.update_final
    monkeypatch.setattr(_stopping.TrainingProgress, "update_final", lambda self, loss, n: update_final(self, np.nan, n))
    diverged = fit(8)
    for coef, kept in zip(diverged.coefs_, best, strict=True):
        np.testing.assert_array_equal(coef, kept)
    monkeypatch.setattr(_stopping.TrainingProgress, "update_final", update_final)

    # no final cycle without the cycles: the user's early_stopping=True, the classifier, sgd
    others = SNNRegressor(**params, early_stopping=True), SNNClassifier(**params), SNNRegressor(**params, solver="sgd")
    for est in others:
        calls.clear()
        est.fit(X, noisy if is_regressor(est) else (noisy > 0).astype(int))
        assert [c[0] for c in calls if c[0] != "load"] == ["cycles", "rows"]  # (sgd's plateau rule loads the best)
