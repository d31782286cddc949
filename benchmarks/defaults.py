"""Evidence for SNNClassifier/SNNRegressor defaults, against MLP's defaults.

For each candidate architecture (everything else at sksnn's defaults:
Nadam, lr 1e-3, batch 'auto', alpha 1e-4, max_iter 200, tol-based stopping),
prints 5-fold cross-validated score and fit time on scikit-learn's bundled
tabular data sets, beside MLPClassifier/MLPRegressor with their defaults
(inputs standardized for the MLP). Usage:

    python benchmarks/defaults.py [--candidates "(100,100)" "(256,256,256)" ...]
"""

import argparse
import ast
import time
import warnings

import numpy as np
from sklearn.datasets import fetch_california_housing, load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sksnn import SNNClassifier, SNNRegressor


def datasets():
    yield "breast_cancer", *load_breast_cancer(return_X_y=True), "clf"
    yield "wine", *load_wine(return_X_y=True), "clf"
    yield "digits", *load_digits(return_X_y=True), "clf"
    yield "diabetes", *load_diabetes(return_X_y=True), "reg"
    try:  # not bundled: needs a download once, skipped offline
        X, y = fetch_california_housing(return_X_y=True, download_if_missing=False)
        yield "california[:3000]", X[:3000], y[:3000], "reg"
    except OSError:
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--candidates", nargs="+", default=["(100,)", "(100, 100)", "(256, 256)", "(256, 256, 256)", "(100,) * 8"]
    )
    args = parser.parse_args()
    candidates = {c: tuple(eval(c, {}, {})) if "*" in c else ast.literal_eval(c) for c in args.candidates}
    print(f"{'data':<18} {'model':<28} {'cv score':>14} {'fit s':>7}")
    for name, X, y, kind in datasets():
        models = {"MLP defaults": make_pipeline(StandardScaler(), MLPClassifier() if kind == "clf" else MLPRegressor())}
        for label, sizes in candidates.items():
            Est = SNNClassifier if kind == "clf" else SNNRegressor
            models[f"SNN {label}"] = Est(hidden_layer_sizes=sizes, random_state=0)
        for label, model in models.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                cv = cross_validate(model, X, y, cv=5)
            score = cv["test_score"]
            print(
                f"{name:<18} {label:<28} {score.mean():>8.4f}+-{score.std():.3f} {np.mean(cv['fit_time']):>7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
