"""
Self-normalization through 20 layers: SNN vs a "regular" network
================================================================

Two 20 x 100 networks from the same class, fitted on scikit-learn's digits: the
SNN (SELU, LeCun-normal weights, standardized inputs) and the "regular" network
of the source article (ELU, He-normal weights, raw inputs). For every hidden
layer, :func:`sksnn.diagnostics.plot_layer_statistics` draws the mean and the
standard deviation of its activations on the test set.

What you should see: the regular network's statistics drift further from 0
and 1 as depth grows than the SNN's (at the last hidden layer after 10 epochs:
mean +1.55 and std 3.86 against the SNN's +0.42 and 2.12). Neither stays at
exactly 0 and 1. Why: SELU, LeCun-normal weights and standardized inputs make
mean 0 / std 1 a stable fixed point *at initialization*; training then moves
the weights away from the initialization, and the network with it.
Self-normalization is a property of the initialization and the early epochs,
not a guarantee about a trained network. Accuracy is not the point here: on
this small data set the regular network scores higher (0.949 vs 0.922).

Runs in well under a minute on a laptop CPU.
"""

import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sksnn import SNNClassifier
from sksnn.diagnostics import layer_statistics, plot_layer_statistics

warnings.filterwarnings("ignore", category=ConvergenceWarning)  # 10 epochs on purpose
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

common = {
    "hidden_layer_sizes": (100,) * 20,
    "learning_rate_init": 7e-4,
    "max_iter": 10,
    "batch_size": 32,
    "random_state": 0,
}
snn = SNNClassifier(**common).fit(X_train, y_train)
regular = SNNClassifier(**common, activation="elu", kernel_initializer="he_normal", standardize=False)
regular.fit(X_train, y_train)

for name, model in (("SNN", snn), ("regular", regular)):
    stats = layer_statistics(model, X_test)
    print(
        f"{name:>8}: test accuracy {model.score(X_test, y_test):.3f}; last hidden layer "
        f"mean {stats['mean'][-1]:+.2f}, std {stats['std'][-1]:.2f}"
    )

ax = plot_layer_statistics([snn, regular], X_test, labels=["SNN (SELU, LeCun)", "regular (ELU, He, raw X)"])
ax[0].figure.suptitle("Activations by depth on the digits test set")
plt.show()
