"""Does a fitted network self-normalize? Layer-by-layer statistics and their plot.

Self-normalization (Klambauer et al. 2017) keeps every hidden layer's
activations near mean 0 and standard deviation 1, however deep the network.
:func:`layer_statistics` measures it on data; :func:`plot_layer_statistics`
draws it by depth, for one or several fitted estimators.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ._activations import NUMPY_ACTIVATIONS
from ._inference import hidden_layers, standardize

__all__ = ["layer_statistics", "plot_layer_statistics"]


def layer_statistics(estimator, X):
    """Mean and standard deviation of each hidden layer's inputs and outputs on ``X``.

    ``X`` goes through the estimator's built-in scaler first, as in ``predict``.

    Parameters
    ----------
    estimator : SNNClassifier or SNNRegressor
        A fitted estimator.
    X : array-like of shape (n_samples, n_features)
        The data to measure on (a test set, typically).

    Returns
    -------
    statistics : dict of ndarray of shape (n_hidden_layers,)
        ``"layer"`` (1 for the first hidden layer), ``"units"``, ``"pre_mean"``
        and ``"pre_std"`` (of the pre-activations ``h @ W + b``), ``"mean"``
        and ``"std"`` (of the activations), each over all samples and units
        of the layer (of a packed ensemble: and all its members).
        ``pandas.DataFrame(statistics)`` makes a table of it.

    See Also
    --------
    plot_layer_statistics : Draw these statistics by depth.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sksnn import SNNClassifier
    >>> from sksnn.diagnostics import layer_statistics
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SNNClassifier(hidden_layer_sizes=(32,) * 4, max_iter=5, random_state=0).fit(X, y)
    >>> stats = layer_statistics(clf, X)
    >>> stats["layer"].tolist(), stats["units"].tolist()
    ([1, 2, 3, 4], [32, 32, 32, 32])
    >>> bool(abs(stats["mean"][-1]) < 0.5 and 0.5 < stats["std"][-1] < 1.5)
    True
    """
    check_is_fitted(estimator)
    X = validate_data(estimator, X, reset=False, dtype=estimator.coefs_[0].dtype)
    if getattr(estimator, "embedding_", None) is not None:  # the network's input: X's columns and their encoding
        X = estimator.embedding_.transform(X)
    if estimator.scaler_ is not None:
        X = standardize(X, estimator.scaler_.mean_, estimator.scaler_.scale_)
    activation = NUMPY_ACTIVATIONS[estimator.activation]
    rows = {key: [] for key in ("layer", "units", "pre_mean", "pre_std", "mean", "std")}
    layers = hidden_layers(
        X, estimator.coefs_, estimator.intercepts_, activation, keep_pre_activations=True,
        members=estimator._members(),
    )  # fmt: skip
    for depth, (pre, hidden) in enumerate(layers, start=1):
        for key, value in zip(rows, (depth, hidden.shape[-1], pre.mean(), pre.std(), hidden.mean(), hidden.std())):
            rows[key].append(value)
    return {key: np.asarray(values) for key, values in rows.items()}


def plot_layer_statistics(estimators, X, *, labels=None, ax=None):
    """Draw the activations' mean and standard deviation by depth.

    A self-normalizing network keeps both lines flat near 0 and 1; a network
    that does not (ReLU/He, ELU/He without standardized inputs) drifts.
    Needs matplotlib (``pip install "sksnn[plot]"``).

    Parameters
    ----------
    estimators : estimator or list of estimators
        Fitted SNNClassifier/SNNRegressor instances, compared on the same ``X``.
    X : array-like of shape (n_samples, n_features)
        The data to measure on.
    labels : list of str, default=None
        Legend labels; the estimators' activation and initializer by default.
    ax : array of two matplotlib Axes, default=None
        Where to draw the mean and the standard deviation; a new figure
        with two panels when None.

    Returns
    -------
    ax : ndarray of two matplotlib Axes
        The panels drawn on.

    See Also
    --------
    layer_statistics : The numbers drawn.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_iris
    >>> from sksnn import SNNClassifier
    >>> from sksnn.diagnostics import plot_layer_statistics
    >>> X, y = load_iris(return_X_y=True)
    >>> snn = SNNClassifier(hidden_layer_sizes=(16,) * 6, max_iter=2, random_state=0).fit(X, y)
    >>> regular = SNNClassifier(hidden_layer_sizes=(16,) * 6, max_iter=2, activation="elu",
    ...                         kernel_initializer="he_normal", standardize=False, random_state=0).fit(X, y)
    >>> ax = plot_layer_statistics([snn, regular], X, labels=["SNN", "regular"])
    >>> [line.get_label() for line in ax[1].get_lines()][:2]
    ['SNN', 'regular']
    """
    import matplotlib.pyplot as plt

    if not isinstance(estimators, (list, tuple)):
        estimators = [estimators]
    if labels is None:
        labels = [f"{e.activation} / {e.kernel_initializer}" for e in estimators]
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(9, 3.5), constrained_layout=True)
    for estimator, label in zip(estimators, labels, strict=True):
        stats = layer_statistics(estimator, X)
        ax[0].plot(stats["layer"], stats["mean"], marker="o", label=label)
        ax[1].plot(stats["layer"], stats["std"], marker="o", label=label)
    for panel, name, target in ((ax[0], "mean", 0.0), (ax[1], "standard deviation", 1.0)):
        panel.axhline(target, color="grey", linestyle=":", linewidth=1)
        panel.set_xlabel("hidden layer")
        panel.set_ylabel(f"activation {name}")
    ax[1].legend()
    return np.asarray(ax)
