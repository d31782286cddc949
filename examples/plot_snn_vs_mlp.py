"""
SNN vs MLP in one grid search
=============================

:class:`~sksnn.SNNClassifier` takes :class:`~sklearn.neural_network.MLPClassifier`'s
parameter names, so one ``GridSearchCV`` can search both: the estimator is itself
a grid parameter, and ``alpha`` and ``hidden_layer_sizes`` apply to whichever
model is in the pipeline. Data: scikit-learn's bundled hand-written digits
(1,797 images of 8x8 pixels, 10 classes). Runs in well under a minute on 2 cores.

What you should see: a table of the eight candidates, the SNN's four on top
(cross-validated accuracy ~0.967-0.974), the MLP's four below (~0.963-0.966),
then the best candidate's test accuracy (~0.98). Why: sksnn's classifier
trains with label smoothing by default (``label_smoothing=0.1``), which on
digits is worth more than the difference between two and six layers; the
README has the benchmarks over 200 data sets, where sksnn is ahead of a
standardized MLP from 1,000 rows and level below. The "fit s" column shows sksnn's set-up: the first SNN
candidate ~2.5-4 s (building and compiling the network), later ones ~0.7-1.1
s, against MLP's ~0.4-0.5 s.
"""

import time
import warnings

import pandas as pd
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sksnn import SNNClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

# The MLP gets its own StandardScaler; SNNClassifier standardizes internally
# (standardize=True), so the extra scaler changes nothing for it.
pipeline = Pipeline([("scale", StandardScaler()), ("model", MLPClassifier())])
common = {"max_iter": 30, "batch_size": 64, "random_state": 0}
param_grid = {
    "model": [MLPClassifier(**common), SNNClassifier(**common)],
    "model__hidden_layer_sizes": [(128, 128), (64,) * 6],
    "model__alpha": [1e-4, 1e-2],
}

search = GridSearchCV(pipeline, param_grid, cv=3, n_jobs=1)
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)
elapsed = time.perf_counter() - start

results = pd.DataFrame(
    {
        "model": [type(p["model"]).__name__ for p in search.cv_results_["params"]],
        "hidden_layer_sizes": [str(p["model__hidden_layer_sizes"]) for p in search.cv_results_["params"]],
        "alpha": search.cv_results_["param_model__alpha"],
        "cv accuracy": search.cv_results_["mean_test_score"].round(4),
        "+/-": search.cv_results_["std_test_score"].round(4),
        "fit s": search.cv_results_["mean_fit_time"].round(2),
    }
).sort_values("cv accuracy", ascending=False)

print(results.to_string(index=False))
best = search.best_params_
print(
    f"\nbest: {type(best['model']).__name__} hidden_layer_sizes={best['model__hidden_layer_sizes']} "
    f"alpha={best['model__alpha']}; test accuracy {search.score(X_test, y_test):.4f} "
    f"(grid search took {elapsed:.1f} s)"
)
