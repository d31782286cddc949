"""The packed ensemble (``n_members``): BatchEnsemble members inside the one Keras network."""

import io

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_regression

from sksnn import SNNClassifier, SNNRegressor, _base, _trainer, load
from sksnn._backend import precision
from sksnn._inference import forward, output_loss
from sksnn._network import PackedDense, build_snn, dense_layers, initial_values

X, y = make_classification(300, 6, n_informative=4, n_classes=3, random_state=0)
Xr, yr = make_regression(300, 6, noise=5.0, random_state=0)
PACKED = {"hidden_layer_sizes": (16, 16), "n_members": 4, "max_iter": 8, "random_state": 0}


def _member_networks(est):
    """Each member as a plain Dense stack, kernel ``diag(r_i) W diag(s_i)`` and bias ``b_i``: the documented formula."""
    r, s = est.member_input_scales_, est.member_output_scales_
    for i in range(est.n_members):
        coefs = [r_l[i][:, None] * w * s_l[i][None, :] for w, r_l, s_l in zip(est.coefs_, r, s)]
        yield coefs, [b[i] for b in est.intercepts_]


def _network_input(est, X):
    return est.scaler_.transform(X) if est.scaler_ is not None else X


def test_one_member_is_the_plain_network():
    model = build_snn(6, 3, (8,), n_members=1, seed=0)
    assert not any(isinstance(layer, PackedDense) for layer in model.layers)
    assert len(initial_values(6, 3, (8,), kernel_initializer="lecun_normal", dropout=0.0, dtype="float32", seed=0)) == 4
    est = SNNClassifier(**{**PACKED, "n_members": 1}).fit(X, y)
    assert est.member_input_scales_ is None and est.member_output_scales_ is None
    assert [b.shape for b in est.intercepts_] == [(16,), (16,), (3,)]


def test_members_share_each_kernel_and_start_self_normalized():
    model = build_snn(64, 2, (256, 256), n_members=4, seed=0, average_members=False)
    layers = dense_layers(model)
    assert all(isinstance(layer, PackedDense) for layer in layers)
    assert [tuple(layer.kernel.shape) for layer in layers] == [(64, 256), (256, 256), (256, 2)]
    first = layers[0]
    signs = np.asarray(first.input_scale.value)
    assert set(np.unique(signs)) == {-1.0, 1.0} and (signs != signs[0]).any()  # the members differ
    assert (np.asarray(first.output_scale.value) == 1).all() and (np.asarray(first.bias.value) == 0).all()
    x = np.random.RandomState(1).standard_normal((2000, 64)).astype("float32")
    hidden = keras_activations(model, x)
    assert hidden.shape == (2000, 4, 256)
    for member in range(4):  # SELU's fixed point: mean 0, variance 1, for every member
        assert abs(hidden[:, member].mean()) < 0.1 and abs(hidden[:, member].std() - 1) < 0.1


def keras_activations(model, x):
    import keras

    return keras.ops.convert_to_numpy(model.layers[1](model.layers[0](x)))


@pytest.mark.parametrize("estimator", [SNNClassifier, SNNRegressor])
def test_predictions_average_the_members_outputs(estimator):
    data = (X, y) if estimator is SNNClassifier else (Xr, yr)
    est = estimator(**PACKED).fit(*data)
    k = est.n_members
    assert [c.shape for c in est.coefs_] == [(6, 16), (16, 16), (16, est.n_outputs_)]
    assert [b.shape for b in est.intercepts_] == [(k, 16), (k, 16), (k, est.n_outputs_)]
    assert [r.shape for r in est.member_input_scales_] == [(k, 6), (k, 16), (k, 16)]
    assert [s.shape for s in est.member_output_scales_] == [(k, 16), (k, 16), (k, est.n_outputs_)]
    inputs = _network_input(est, data[0])
    members = [forward(inputs, c, b, est.activation, est.out_activation_) for c, b in _member_networks(est)]
    expected = np.mean(members, axis=0)
    assert np.abs(members[0] - members[1]).max() > 1e-3  # the members are not copies of each other
    if estimator is SNNClassifier:
        np.testing.assert_allclose(est.predict_proba(data[0]), expected, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_allclose(est.predict(data[0]), est.target_scaler_.inverse_transform(expected).ravel())
    with precision(inputs.dtype.name):  # the model's float64, also on JAX
        outputs = np.asarray(est.model_(inputs))
    np.testing.assert_allclose(outputs, expected, rtol=1e-9, atol=1e-12)  # the Keras model averages too
    assert est.model_.layers[-1].name == "member_mean"


def test_training_minimizes_the_mean_of_the_members_losses():
    est = SNNClassifier(**PACKED, label_smoothing=0.0).fit(X, y)
    # One full batch from the fitted weights: the epoch's loss is the loss at those weights.
    est.set_params(warm_start=True, max_iter=1, batch_size=len(X), alpha=0.0, shuffle=False)
    inputs = _network_input(est, X)
    Y = np.eye(3)[y]
    members = [forward(inputs, c, b, est.activation, est.out_activation_) for c, b in _member_networks(est)]
    mean_of_losses = np.mean([output_loss(p, Y, None, "softmax") for p in members])
    loss_of_mean = output_loss(np.mean(members, axis=0), Y, None, "softmax")
    est.fit(X, y)
    assert est.loss_ == pytest.approx(mean_of_losses, rel=1e-6)
    assert abs(mean_of_losses - loss_of_mean) > 1e-4  # (the test tells the two apart)


def test_partial_fit_and_warm_start_continue_the_members():
    est = SNNRegressor(**{**PACKED, "max_iter": 3})
    est.partial_fit(Xr, yr)
    scales = [r.copy() for r in est.member_input_scales_]
    est.partial_fit(Xr, yr)
    assert est.t_ == 2 * len(Xr)
    assert any(np.abs(a - b).max() > 0 for a, b in zip(scales, est.member_input_scales_))  # the scales train
    warm = SNNClassifier(**PACKED, warm_start=True).fit(X, y)
    loss = warm.loss_
    warm.fit(X, y)
    assert warm.loss_ < loss  # continued, not restarted
    with pytest.raises(ValueError, match="n_members=2 differs from the 4 member"):
        warm.set_params(n_members=2).fit(X, y)
    with pytest.raises(ValueError, match="n_members=1 differs"):
        est.set_params(n_members=1).partial_fit(Xr, yr)


def test_early_stopping_scores_the_ensemble(monkeypatch):
    scored = []

    def recording_forward(X, *args, members=None, **kwargs):
        scored.append(members is not None)
        return forward(X, *args, members=members, **kwargs)

    monkeypatch.setattr(_base, "forward", recording_forward)
    est = SNNClassifier(**{**PACKED, "max_iter": 30}, early_stopping=True, n_iter_no_change=3).fit(X, y)
    assert scored and all(scored) and len(scored) == est.n_iter_  # every epoch scored the members' mean
    assert est.best_validation_score_ == max(est.validation_scores_)


def test_sample_and_class_weights_count_as_repeated_rows():
    twice = np.arange(0, 300, 3)  # every third row counts twice
    weights = np.ones(len(X))
    weights[twice] = 2.0
    repeated_X, repeated_y = np.vstack([X, X[twice]]), np.concatenate([y, y[twice]])
    full_batch = {**PACKED, "shuffle": False}  # one batch of every row
    weighted = SNNClassifier(**full_batch, batch_size=len(X)).fit(X, y, sample_weight=weights)
    repeated = SNNClassifier(**full_batch, batch_size=len(repeated_X)).fit(repeated_X, repeated_y)
    # (the scaler's statistics are weighted as repetitions too)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-8, atol=1e-10)
    balanced = SNNClassifier(**PACKED, class_weight={0: 3.0}).fit(X, y)
    as_weights = SNNClassifier(**PACKED).fit(X, y, sample_weight=np.where(y == 0, 3.0, 1.0))
    np.testing.assert_array_equal(balanced.predict_proba(X), as_weights.predict_proba(X))


def test_sparse_x_trains_and_predicts_as_its_dense_rows():
    dense = SNNRegressor(**PACKED, shuffle=False).fit(Xr, yr)
    sparse = SNNRegressor(**PACKED, shuffle=False).fit(sp.csr_matrix(Xr), yr)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(Xr)), dense.predict(Xr), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(dense.predict(sp.csr_matrix(Xr)), dense.predict(Xr), rtol=1e-12)


def test_lbfgs_and_bad_values_are_refused():
    with pytest.raises(ValueError, match="solver='lbfgs' trains one network"):
        SNNClassifier(n_members=3, solver="lbfgs").fit(X, y)
    for bad in (0, -2, 1.5, "8"):
        with pytest.raises(ValueError, match="'n_members' parameter of SNNRegressor must be an int in the range"):
            SNNRegressor(n_members=bad).fit(Xr, yr)


def test_the_safe_format_keeps_the_members_and_refuses_inconsistent_scales():
    est = SNNClassifier(**PACKED).fit(X, y)
    buffer = io.BytesIO()
    est.save(buffer)
    buffer.seek(0)
    loaded = load(buffer)
    assert loaded.n_members == 4
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    est.member_output_scales_[1] = est.member_output_scales_[1][:3]  # three members' scales in one layer
    broken = io.BytesIO()
    est.save(broken)
    broken.seek(0)
    with pytest.raises(ValueError, match="inconsistent network"):
        load(broken)


def test_the_pool_keeps_a_compiled_network_per_member_count():
    SNNClassifier(**{**PACKED, "n_members": 3, "max_iter": 1}).fit(X, y)
    SNNClassifier(**{**PACKED, "n_members": 5, "max_iter": 1}).fit(X, y)
    counts = {dict(key[1])["n_members"] for key, _ in _trainer._POOL._idle}
    assert {3, 5} <= counts
    pooled = [t for key, t in _trainer._POOL._idle if dict(key[1])["n_members"] == 3][0]
    SNNClassifier(**{**PACKED, "n_members": 3, "max_iter": 1, "random_state": 1}).fit(X, y)
    assert any(t is pooled for _, t in _trainer._POOL._idle)  # taken and given back, not compiled again


def test_layer_statistics_cover_every_member():
    from sksnn.diagnostics import layer_statistics

    est = SNNClassifier(**PACKED).fit(X, y)
    stats = layer_statistics(est, X)
    assert stats["units"].tolist() == [16, 16]
    inputs = _network_input(est, X)
    first_layer = [  # each member's first hidden layer: a network with an identity output layer
        forward(inputs, c[:1] + [np.eye(16)], b[:1] + [np.zeros(16)], "selu", "identity")
        for c, b in _member_networks(est)
    ]
    assert stats["mean"][0] == pytest.approx(np.mean(first_layer), rel=1e-10)
    assert stats["std"][0] == pytest.approx(np.std(first_layer), rel=1e-10)
    assert abs(stats["mean"][0] - first_layer[0].mean()) > 1e-6  # every member counts, not only the first


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opset", [15, 18])  # ReduceMean's axes: an attribute, then an input from opset 18
def test_onnx_export_computes_the_members_mean(dtype, opset):
    pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx import to_onnx

    import sksnn.onnx  # noqa: F401  (registers the converters)

    Xd = X.astype(dtype)
    clf = SNNClassifier(**PACKED).fit(Xd, y)
    reg = SNNRegressor(**PACKED).fit(Xr.astype(dtype), yr)
    tolerance = 1e-5 if dtype == np.float32 else 1e-10
    for est, data in ((clf, Xd), (reg, Xr.astype(dtype))):
        onx = to_onnx(est, data[:1], options={"zipmap": False} if est is clf else None, target_opset=opset)
        session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        outputs = session.run(None, {session.get_inputs()[0].name: data})
        if est is clf:
            np.testing.assert_array_equal(outputs[0], clf.predict(data))
            np.testing.assert_allclose(outputs[1], clf.predict_proba(data), rtol=tolerance, atol=tolerance)
        else:
            np.testing.assert_allclose(outputs[0].ravel(), reg.predict(data), rtol=tolerance, atol=tolerance * 100)


def test_blocks_on_threads_predict_as_one_block(monkeypatch):
    from sksnn import _inference

    est = SNNClassifier(**PACKED).fit(X, y)
    # a block holds every member's activations: fewer rows
    assert _inference._block_rows(est.coefs_, np.float64, 6, 4) < _inference._block_rows(est.coefs_, np.float64, 6)
    whole = est.predict_proba(X)
    monkeypatch.setattr(_inference, "_block_rows", lambda *args: 64)  # 5 blocks, on threads
    np.testing.assert_allclose(est.predict_proba(X), whole, rtol=1e-12, atol=1e-15)


def test_skops_round_trips_a_packed_ensemble_trusting_only_sksnns_types():
    sio = pytest.importorskip("skops.io")
    est = SNNRegressor(**PACKED).fit(Xr, yr)
    data = sio.dumps(est)
    assert sio.get_untrusted_types(data=data) == ["sksnn._regressor.SNNRegressor"]
    loaded = sio.loads(data, trusted=["sksnn._regressor.SNNRegressor"])
    np.testing.assert_array_equal(loaded.predict(Xr), est.predict(Xr))
