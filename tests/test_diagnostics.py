import numpy as np
import pytest
from sklearn.datasets import make_classification

from sksnn import SNNClassifier
from sksnn.diagnostics import layer_statistics, plot_layer_statistics

X, y = make_classification(n_samples=300, n_features=20, n_informative=10, random_state=0)
DEEP = {"hidden_layer_sizes": (64,) * 20, "max_iter": 1, "learning_rate_init": 1e-5, "random_state": 0}


@pytest.fixture(scope="module")
def snn_and_regular():
    snn = SNNClassifier(**DEEP).fit(X, y)
    regular = SNNClassifier(**DEEP, activation="relu", kernel_initializer="glorot_uniform", standardize=False).fit(X, y)
    return snn, regular


def test_statistics_match_a_manual_forward_pass(snn_and_regular):
    snn, _ = snn_and_regular
    stats = layer_statistics(snn, X)
    assert list(stats) == ["layer", "units", "pre_mean", "pre_std", "mean", "std"]
    np.testing.assert_array_equal(stats["layer"], np.arange(1, 21))
    assert (stats["units"] == 64).all()
    pre = snn.scaler_.transform(X) @ snn.coefs_[0] + snn.intercepts_[0]
    np.testing.assert_allclose([stats["pre_mean"][0], stats["pre_std"][0]], [pre.mean(), pre.std()], rtol=1e-10)
    selu = 1.0507009873554805 * np.where(pre > 0, pre, 1.6732632423543772 * np.expm1(np.minimum(pre, 0)))
    np.testing.assert_allclose([stats["mean"][0], stats["std"][0]], [selu.mean(), selu.std()], rtol=1e-10)


def test_snn_self_normalizes_where_a_regular_network_does_not(snn_and_regular):
    snn, regular = snn_and_regular
    deep = layer_statistics(snn, X)
    assert np.abs(deep["mean"]).max() < 0.3
    assert ((deep["std"] > 0.7) & (deep["std"] < 1.3)).all()
    # ReLU with Glorot weights on raw inputs: the signal shrinks with depth.
    shallow_to_deep = layer_statistics(regular, X)["std"]
    assert shallow_to_deep[-1] < 0.1 * shallow_to_deep[0]


def test_plot_draws_each_estimator_by_depth(snn_and_regular):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_layer_statistics(list(snn_and_regular), X, labels=["SNN", "regular"])
    assert ax.shape == (2,)
    for panel in ax:
        lines = [line for line in panel.get_lines() if line.get_label() in ("SNN", "regular")]
        assert len(lines) == 2
        np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(1, 21))
    np.testing.assert_allclose(ax[1].get_lines()[0].get_ydata(), layer_statistics(snn_and_regular[0], X)["std"])


def test_statistics_of_a_network_with_a_numerical_embedding_start_from_its_input():
    clf = SNNClassifier(hidden_layer_sizes=(16, 16), max_iter=1, numerical_embedding="piecewise_linear", random_state=0)
    clf.fit(X, y)
    stats = layer_statistics(clf, X)
    pre = clf.scaler_.transform(clf.embedding_.transform(X)) @ clf.coefs_[0] + clf.intercepts_[0]
    np.testing.assert_allclose([stats["pre_mean"][0], stats["pre_std"][0]], [pre.mean(), pre.std()], rtol=1e-10)
