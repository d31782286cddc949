"""benchmarks/tabular.py (its quick mode, converter and summary), defaults.py's search and anchors.py's comparison."""

import importlib.util
import io
import pathlib
import sys
import tarfile

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "tabular.py"


@pytest.fixture(scope="module")
def tabular():
    spec = importlib.util.spec_from_file_location("tabular", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _benchmark_module(name):
    """benchmarks/<name>.py imported as a module, with its folder on the path for its own imports."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(SCRIPT.parent))


@pytest.fixture(scope="module")
def periodic_probe(defaults):
    """benchmarks/periodic_probe.py, which imports defaults.py and tabular.py from its own folder."""
    return _benchmark_module("periodic_probe")


@pytest.fixture(scope="module")
def defaults(tabular):
    """benchmarks/defaults.py, which imports tabular.py from its own folder."""
    return _benchmark_module("defaults")


def _archive(path, sets):
    """A tar.gz in the layout of Fernandez-Delgado et al.'s data.tar.gz."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in sets.items():
            data = text.encode()
            info = tarfile.TarInfo(f"data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _table(X, y):
    header = "\t".join(["id"] + [f"f{j}" for j in range(X.shape[1])] + ["clase"])
    rows = [f"{i + 1}\t" + "\t".join(f"{v:.6f}" for v in x) + f"\t{c}" for i, (x, c) in enumerate(zip(X, y))]
    return "\n".join([header, *rows]) + "\n"


def test_the_converter_reads_both_layouts_of_the_uci_archive(tabular, tmp_path):
    rng = np.random.RandomState(0)
    X, y = rng.standard_normal((12, 3)), np.arange(12) % 3 + 1  # classes 1-based, as some files have them
    halves = " ".join(map(str, range(0, 12, 2))) + "\n" + " ".join(map(str, range(1, 12, 2))) + "\n"
    lines = []
    for k in range(4):  # fold k tests rows k, k + 4, k + 8
        lines += [np.setdiff1d(np.arange(12), np.arange(k, 12, 4)), np.arange(k, 12, 4)]
    folds = "".join(" ".join(map(str, line)) + "\n" for line in lines)
    _archive(
        tmp_path / "data.tar.gz",
        {
            "whole/whole_R.dat": _table(X, y),
            "whole/conxuntos.dat": halves,
            "whole/conxuntos_kfold.dat": folds,
            "given/given_train_R.dat": _table(X[:8], y[:8]),
            "given/given_test_R.dat": _table(X[8:], y[8:]),
            "given/conxuntos.dat": halves,
            "given/conxuntos_kfold.dat": folds,
        },
    )
    assert tabular.main(["--convert-archive", str(tmp_path / "data.tar.gz"), "--data-dir", str(tmp_path)]) == 0
    whole, given = (np.load(tmp_path / "uci121" / f"{n}.npz") for n in ("whole", "given"))
    np.testing.assert_allclose(whole["X"], X, atol=1e-6)
    np.testing.assert_array_equal(whole["y"], y - 1)
    assert int(whole["n_train_given"]) == -1 and int(given["n_train_given"]) == 8
    np.testing.assert_array_equal(whole["fold2_test"], [2, 6, 10])
    np.testing.assert_array_equal(whole["val_val"], [1, 3, 5, 7, 9, 11])
    splits = tabular.classification_splits(dict(given))
    assert len(splits) == 1 and list(splits[0][1]) == [8, 9, 10, 11]  # the given test rows
    assert [len(test) for _, test in tabular.classification_splits(dict(whole))] == [3, 3, 3, 3]


def test_the_summary_counts_wins_ties_losses_and_tests_them(tabular):
    results = [
        {
            "dataset": str(i),
            "rows": rows,
            "features": 3,
            "sksnn": {"accuracy": a, "fit_s": 1.0},
            "mlp": {"accuracy": b, "fit_s": 2.0},
        }
        for i, (rows, a, b) in enumerate([(100, 0.9, 0.8), (100, 0.8, 0.803), (1000, 0.7, 0.9), (5000, 0.95, 0.9)])
    ]
    summary = tabular.compare(results, "classification")
    assert (summary["wins"], summary["ties"], summary["losses"]) == (2, 1, 1)
    assert summary["fit_s_sksnn"] == 4.0 and summary["fit_s_mlp"] == 8.0
    assert summary["mean_rank_sksnn"] == pytest.approx((1 + 2 + 2 + 1) / 4)
    assert 0 < summary["wilcoxon_p_sksnn_better"] <= 1
    page, _ = tabular.report(results, "classification", "## test")
    assert "| < 500 | 2 | 1 / 1 / 0 |" in page and "| > 2,000 | 1 | 1 / 0 / 0 |" in page


@pytest.mark.slow
def test_the_quick_mode_runs_both_tasks_and_writes_its_report(tabular, tmp_path):
    out = tmp_path / "quick.md"
    assert tabular.main(["--quick", "--out", str(out)]) == 0
    page = out.read_text()
    assert "## Classification, uci121: 6 data sets" in page and "## Regression, uci_regression: 3 data sets" in page
    raw = __import__("json").loads(out.with_suffix(".json").read_text())
    for task, n in (("classification", 6), ("regression", 3)):
        summary = raw[task]
        assert summary["wins"] + summary["ties"] + summary["losses"] == summary["datasets"] == n
        assert summary["fit_s_sksnn"] > 0 and summary["fit_s_mlp"] > 0
        assert len(summary["results"]) == n


def test_pmlb_splits_and_the_defaults_searchs_validation_rows_never_touch_a_test_row(tabular, defaults):
    y = np.repeat([0, 1, 2], [60, 30, 10])
    data = {"X": np.zeros((100, 2)), "y": y}
    splits = tabular.pmlb_splits(data, "classification", 2)
    assert len(splits) == 2 and not np.array_equal(splits[0][1], splits[1][1])
    for train, test in splits:
        assert len(test) == 25 and len(np.intersect1d(train, test)) == 0
        assert np.abs(np.bincount(y[test]) - [15, 7.5, 2.5]).max() <= 0.5  # stratified: a quarter of each class
    test_rows = splits[0][1]
    cuts = defaults.validation_splits(data, "classification", 2, collection="pmlb54")
    assert len(cuts) == 2 and not np.array_equal(cuts[0][1], cuts[1][1])
    for fit_rows, validation_rows in cuts:
        assert len(np.intersect1d(np.concatenate([fit_rows, validation_rows]), test_rows)) == 0
        assert len(fit_rows) + len(validation_rows) == 75 and len(validation_rows) == 15


def test_the_defaults_search_compares_candidates_with_one_of_them(defaults, tmp_path, capsys):
    import json

    def result(name, rows, accuracy, fit_s):
        return {"dataset": name, "rows": rows, "features": 3, "mlp": {"accuracy": 0.5, "fit_s": 1.0},
                "sksnn": {"accuracy": accuracy, "fit_s": fit_s}}  # fmt: skip

    per_candidate = {
        "defaults": [result("a", 500, 0.80, 1.0), result("b", 2000, 0.90, 2.0), result("c", 3000, 0.70, 1.0)],
        "wide": [result("a", 500, 0.80, 3.0), result("b", 2000, 0.95, 6.0), result("c", 3000, 0.60, 3.0)],
    }
    page = defaults.against_table(per_candidate, "defaults", "classification")
    rows = {line.split(" | ")[1]: line for line in page.splitlines() if line.startswith("| wide |")}
    assert "| 1 / 1 / 1 |" in rows["all"] and "3.00x" in rows["all"]  # a tie (a), a win (b), a loss (c)
    assert "| 1 / 0 / 1 |" in rows[">= 1,000 rows"]
    assert "| b | 2000 | 0.9000 / 0.9500 / 0.5000 | 2.0 / 6.0 |" in page
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"candidates": [], "results": per_candidate}))
    assert defaults.main(["--report", str(saved), "--against", "defaults"]) == 0
    assert page in capsys.readouterr().out


def test_a_defaults_candidate_can_move_the_auto_rules_for_its_own_fits_only(tabular, defaults, tmp_path):
    from sksnn import _base

    rng = np.random.RandomState(0)
    X = rng.standard_normal((500, 3))
    y = (X[:, 0] + 0.3 * rng.standard_normal(500) > 0).astype(int)
    path = tmp_path / "toy.npz"
    np.savez(path, X=X, y=y, val_train=np.arange(400), val_val=np.arange(400, 500))
    quick = {"hidden_layer_sizes": [8], "max_iter": 30}
    candidates = [
        {"name": "defaults", **quick},
        {"name": "auto from 300", "auto_early_stopping_rows": 300, "auto_embedding_rows": 300, **quick},
    ]
    saved = (_base.AUTO_EARLY_STOPPING_ROWS, _base.AUTO_EMBEDDING_ROWS)
    results = defaults.run_dataset(path, "classification", candidates, seed=0)
    assert (_base.AUTO_EARLY_STOPPING_ROWS, _base.AUTO_EMBEDDING_ROWS) == saved  # restored after the fits
    assert results["defaults"]["rows"] == 400 and saved[0] > 400  # 400 training rows: "auto" is off by default
    with defaults._auto_rules({"AUTO_EARLY_STOPPING_ROWS": 300, "AUTO_EMBEDDING_ROWS": 300}):
        assert (_base.AUTO_EARLY_STOPPING_ROWS, _base.AUTO_EMBEDDING_ROWS) == (300, 300)
        moved = tabular.models("classification", 0)["sksnn"].set_params(**quick).fit(X[:400], y[:400])
    plain = tabular.models("classification", 0)["sksnn"].set_params(**quick).fit(X[:400], y[:400])
    assert moved.validation_scores_ is not None and moved.embedding_ is not None  # both rules on from 300 rows
    assert plain.validation_scores_ is None and plain.embedding_ is None
    assert results["auto from 300"]["sksnn"]["accuracy"] == moved.score(X[400:], y[400:])
    assert results["defaults"]["sksnn"]["accuracy"] == plain.score(X[400:], y[400:])
    # a constant kept per estimator kind takes the candidate's one value for both, and is restored
    kinds = dict(_base.AUTO_PLATEAU_DECAYS)
    with defaults._auto_rules({"AUTO_PLATEAU_DECAYS": 2}):
        assert _base.AUTO_PLATEAU_DECAYS == {"classifier": 2, "regressor": 2}
    assert _base.AUTO_PLATEAU_DECAYS == kinds


@pytest.mark.filterwarnings("ignore:n_quantiles")  # 300 rows, fewer than QuantileTransformer's 1,000 quantiles
def test_a_defaults_candidate_can_put_a_transform_of_x_before_sksnn(defaults):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((300, 2))
    X[0, 0] = 1e6  # an outlier that a StandardScaler alone would leave at ~17 standard deviations
    candidate = {"name": "robust", "preprocessing": "robust_smooth_clip", "alpha": 0.5}
    model = defaults._candidate_model("regression", 0, candidate)
    front, snn = model.steps[0][1], model.steps[-1][1]
    assert snn.alpha == 0.5 and snn.random_state == 0  # the candidate's parameters still reach sksnn
    Z = front.fit_transform(X)
    assert np.abs(Z).max() < 3 and Z[0, 0] > 2.99  # smoothly clipped into (-3, 3), order kept
    iqr = np.subtract(*np.percentile(X[:, 1], [75, 25]))
    centered = (X[:, 1] - np.median(X[:, 1])) / iqr
    np.testing.assert_allclose(Z[:, 1], centered / np.sqrt(1 + (centered / 3) ** 2), rtol=1e-12)
    quantile = defaults._candidate_model("classification", 0, {"name": "q", "preprocessing": "quantile_normal"})
    assert abs(np.median(quantile.steps[0][1].fit_transform(X)[:, 0])) < 0.05
    assert defaults._candidate_model("classification", 0, {"name": "plain"}) is not None
    with pytest.raises(ValueError, match="unknown preprocessing"):
        defaults._candidate_model("classification", 0, {"name": "x", "preprocessing": "log"})


def test_a_periodic_candidate_appends_fixed_cosines_and_sines_of_the_standardized_features(defaults):
    rng = np.random.RandomState(0)
    X = rng.standard_normal((50, 3)) * [1.0, 10.0, 100.0] + 5.0
    candidate = {"name": "p", "preprocessing": "periodic_0.5", "numerical_embedding": None}
    model = defaults._candidate_model("classification", 0, candidate)
    front, snn = model.steps[0][1], model.steps[-1][1]
    assert snn.numerical_embedding is None
    Z = front.fit_transform(X)
    z = (X - X.mean(axis=0)) / X.std(axis=0)
    frequencies = front.steps[-1][1].kw_args["frequencies"]
    assert Z.shape == (50, 3 + 2 * 3 * 8) and frequencies.shape == (3, 8)
    assert 0.2 < frequencies.std() < 1.0  # ~ N(0, 0.5^2): not the identity, not another scale
    np.testing.assert_allclose(Z[:, :3], z, rtol=1e-12)
    np.testing.assert_allclose(Z[:, 3 + 8 : 3 + 16], np.cos(2 * np.pi * z[:, [1]] * frequencies[1]), atol=1e-12)
    np.testing.assert_allclose(
        Z[:, 3 + 24 :], np.sin(2 * np.pi * z[:, :, None] * frequencies).reshape(50, -1), atol=1e-12
    )
    np.testing.assert_allclose(front.transform(X[:5]), Z[:5], atol=1e-12)  # fixed once fitted
    again = defaults._candidate_model("classification", 0, candidate).steps[0][1].fit(X)
    np.testing.assert_array_equal(again.steps[-1][1].kw_args["frequencies"], frequencies)  # the same draw every fit


def test_the_defaults_search_rotates_the_candidates_order_by_data_set(defaults):
    candidates = [{"name": n} for n in "abc"]
    orders = {name: [c["name"] for c in defaults.fit_order(candidates, name)] for name in map(str, range(30))}
    rotations = {"abc", "bca", "cab"}
    assert {"".join(order) for order in orders.values()} == rotations  # every candidate fits first somewhere
    assert orders["1"] == ["c", "a", "b"]  # crc32 of the name, not hash(): the same order in every worker process


def _anchors():
    return _benchmark_module("anchors")


def test_the_anchors_report_compares_each_model_on_the_sets_it_has(tmp_path):
    anchors = _anchors()

    def result(name, rows, sksnn, mlp, tabm):
        return {"dataset": name, "task": "classification", "rows": rows, "features": 3, "splits": 1,
                "sksnn": {"accuracy": sksnn, "fit_s": 2.0}, "mlp": {"accuracy": mlp, "fit_s": 1.0},
                "tabm_d": None if tabm is None else {"accuracy": tabm, "fit_s": 10.0}}  # fmt: skip

    results = [
        result("a", 1000, 0.80, 0.70, 0.90),
        result("b", 2000, 0.70, 0.70, 0.60),
        result("c", 9000, 0.9, 0.8, None),
    ]
    page = anchors.report(results, "## test")
    # sksnn against MLP on all three; TabM-D against MLP and sksnn against TabM-D on the two that have it
    assert "| sksnn | MLP | 3 | 2 / 1 / 0 | 0.8000 / 0.7333 |" in page
    assert "| TabM-D | MLP | 2 | 1 / 0 / 1 | 0.7500 / 0.7000 |" in page and "| 10.00x |" in page
    assert "| sksnn | TabM-D | 2 | 1 / 0 / 1 | 0.7500 / 0.7500 |" in page and "| 0.20x |" in page
    assert "TabM-D left out (rows above --max-rows): c." in page
    assert "| c | 9000 | 0.9000 | 0.8000 | - | 2.0 | 1.0 | - |" in page


def test_an_anchor_without_pytabkit_names_the_extra_to_install(monkeypatch):
    import sys

    anchors = _anchors()
    monkeypatch.setitem(sys.modules, "pytabkit", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"sksnn\[anchors\]"):
        anchors.anchor("tabm_d", "classification", 0)


@pytest.mark.slow
def test_the_anchors_run_appends_each_data_set_and_resumes(tmp_path, capsys):
    anchors = _anchors()
    out = tmp_path / "anchors.jsonl"
    common = [
        "--task",
        "regression",
        "--collection",
        "uci",
        "--models",
        "sksnn,mlp",
        "--min-rows",
        "0",
        "--out",
        str(out),
    ]
    assert anchors.main([*common, "--datasets", "concreteslump,yacht"]) == 0
    first = anchors.read(out)
    assert [r["dataset"] for r in first] == ["concreteslump", "yacht"]  # smallest first
    assert all(r["sksnn"]["rmse"] > 0 and r["mlp"]["fit_s"] > 0 for r in first)
    # a second run skips what the file has and adds the rest
    assert anchors.main([*common, "--datasets", "yacht,autompg"]) == 0
    assert [r["dataset"] for r in anchors.read(out)] == ["concreteslump", "yacht", "autompg"]
    capsys.readouterr()
    assert anchors.main(["--report", str(out)]) == 0
    page = capsys.readouterr().out
    rows = anchors.read(out)
    ratio = np.exp(np.mean([np.log(r["sksnn"]["rmse"] / r["mlp"]["rmse"]) for r in rows]))
    assert "| sksnn | MLP | 3 |" in page and f"x | {ratio:.3f} |" in page  # the typical RMSE ratio, too


def test_the_periodic_probe_layer_is_cosines_and_sines_of_learned_frequencies_then_linear_and_relu(periodic_probe):
    import keras

    layer = periodic_probe.periodic_layer_class()(k=3, d=2, sigma=0.5, seed=0)
    z = np.random.RandomState(0).standard_normal((4, 5)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(z))
    c, w, b = (keras.ops.convert_to_numpy(v) for v in (layer.frequencies, layer.kernel, layer.bias))
    assert out.shape == (4, 5 * 2) and c.shape == (5, 3) and w.shape == (5, 6, 2)
    phase = 2 * np.pi * z[:, :, None] * c
    expected = np.maximum(np.einsum("nfk,fkd->nfd", np.concatenate([np.cos(phase), np.sin(phase)], -1), w) + b, 0)
    np.testing.assert_allclose(out, expected.reshape(4, -1), rtol=1e-4, atol=1e-5)
    assert layer.frequencies in layer.trainable_weights  # learned, unlike round 9's fixed features
    model = periodic_probe.build_model("plr", 7, 5, 3, "classification", seed=0)
    assert model.output_shape == (None, 3) and "PeriodicLinearReLU" in {type(x).__name__ for x in model.layers}


def test_the_probes_input_scale_starts_at_one_learns_six_times_faster_and_arms_are_reported_against_the_first(
    periodic_probe,
):
    import keras

    layer = periodic_probe.input_scale_class()()
    z = np.random.RandomState(0).standard_normal((4, 5)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), z, rtol=1e-6)  # starts as the identity
    layer.factor.assign(np.arange(1, 6, dtype="float32") / 6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), z * np.arange(1, 6), rtol=1e-5)
    model = periodic_probe.build_model("ple_scale", 7, 0, 3, "classification", seed=0)
    assert "InputScale" in {type(x).__name__ for x in model.layers}
    results = [
        {"dataset": f"d{i}", "train_rows": 1000, "scores": {"ple": [0.8], "plr": [0.8], "ple_scale": [0.8 + g]},
         "fit_s": {"ple": 1.0, "plr": 2.0, "ple_scale": 1.5}}
        for i, g in enumerate([0.02, 0.03, -0.01, 0.0])
    ]  # fmt: skip
    page = periodic_probe.report(results, "classification", ("ple", "plr", "ple_scale"))
    assert "plr against ple, 4 data sets: 0 / 4 / 0" in page and "fit time plr / ple 2.00x" in page
    assert "ple_scale against ple, 4 data sets: 2 / 1 / 1, mean gain +1.00 points" in page
    assert "| d0 | 1000 | 0.8000 / 0.8000 / 0.8200 | 1.0 / 2.0 / 1.5 |" in page


def test_the_probes_parametric_selu_and_learning_rate_schedules(periodic_probe):
    import keras

    from sksnn._activations import NUMPY_ACTIVATIONS

    def selu(x):  # sksnn's NumPy SELU (in place, so on a copy)
        return NUMPY_ACTIVATIONS["selu"](np.array(x, dtype=np.float64))

    z = np.random.RandomState(0).standard_normal((4, 5)).astype("float32")
    for speed in (0.1, 1.0):  # RealMLP's tenth of the learning rate, and the full rate
        layer = periodic_probe.parametric_selu_class()(speed=speed)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), selu(z), rtol=1e-5, atol=1e-6)  # SELU at w=1
        w = np.linspace(0.0, 2.0, 5).astype("float32")
        layer.factor.assign(w / speed)
        expected = z + (selu(z) - z) * w  # w = 0: the identity; w = 1: SELU
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(z)), expected, rtol=1e-5, atol=1e-6)
    for arm, speeds in (("ple_pact", {0.1}), ("ple_scale_pact1", {1.0})):
        model = periodic_probe.build_model(arm, 7, 0, 3, "classification", seed=0)
        assert {x.speed for x in model.layers if type(x).__name__ == "ParametricSelu"} == speeds
        assert ("_scale" in arm) == ("InputScale" in {type(x).__name__ for x in model.layers})

    peak = periodic_probe.COSLOG_PEAK
    coslog = periodic_probe.coslog_schedule(150)  # four cycles end at t = 1/15, 3/15, 7/15, 1: steps 10, 30, 70, 150
    middles = [(2 ** (k + 0.5) - 1) / 15 * 150 for k in range(4)]  # log2(1 + 15 t) = k + 1/2
    rates = np.array([float(coslog(step)) for step in (0, 10, 30, 70, 150, *middles)])
    np.testing.assert_allclose(rates[:5], 0.0, atol=1e-9)
    np.testing.assert_allclose(rates[5:], peak, rtol=1e-4)
    cycles = periodic_probe.cycles_schedule(steps_per_epoch=10)  # 16-epoch cycles: 160 steps
    rates = [float(cycles(step)) for step in (0, 80, 160, 240, 319)]
    np.testing.assert_allclose(rates[:4], [peak, peak / 2, peak, peak / 2], rtol=1e-5)
    assert rates[4] < peak * 1e-3  # a cycle ends near zero, the next starts at the peak
    arms = {"ple_scale_cycles": peak, "ple_coslog": 0.0, "ple_scale": 1e-3}  # the rate at the first step
    for arm, rate in arms.items():
        model = periodic_probe.build_model(arm, 7, 0, 1, "regression", seed=0, total_steps=150, steps_per_epoch=10)
        np.testing.assert_allclose(float(model.optimizer.learning_rate), rate, rtol=1e-5, atol=1e-12)


def test_the_probes_plateau_arm_resumes_once_from_the_best_weights_at_a_tenth_of_the_rate(periodic_probe):

    model = periodic_probe.build_model("ple_scale", 3, 0, 1, "regression", seed=0)
    callback = periodic_probe.plateau_callback()
    callback.set_model(model)
    callback.on_train_begin()
    weights = [w + 1.0 for w in model.get_weights()]
    model.set_weights(weights)
    callback.on_epoch_end(0, {"val_loss": 1.0})  # the best epoch
    model.set_weights([w + 5.0 for w in weights])  # training moves on
    for epoch in range(1, 10):
        callback.on_epoch_end(epoch, {"val_loss": 2.0})
    assert not model.stop_training and float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    callback.on_epoch_end(10, {"val_loss": 2.0})  # the 10th epoch without a lower loss: the plateau
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4) and not model.stop_training
    for got, best in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, best)  # back to the best epoch's weights
    callback.on_epoch_end(11, {"val_loss": 2.0})
    assert not model.stop_training
    callback.on_epoch_end(12, {"val_loss": 2.0})  # 2 more without a lower loss: stop
    assert model.stop_training
