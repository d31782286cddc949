"""GridSearchCV with n_jobs=2 against n_jobs=1, and the size of a saved model.

- search: 4 candidates x 3 folds of SNNClassifier on digits, 100 epochs each,
  joblib's default (loky) backend; time with n_jobs=1, n_jobs=2 and the ratio.
  In loky workers sksnn limits the backend's threads to the worker's share
  (``OMP_NUM_THREADS``, set by joblib), so two workers do not oversubscribe.
  Each setting runs the search twice: first cold (a new worker imports the
  backend and compiles each network), then again (loky keeps its workers, and
  each worker its compiled networks, as in a session that runs several searches).
- size: bytes of a fitted (100,) * 20 model as pickle and in the safe format.

Usage: ``python benchmarks/parallel.py [--backend tensorflow|jax]``
"""

import argparse
import io
import os
import pickle
import time
import warnings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=os.environ.get("KERAS_BACKEND"))
    args = parser.parse_args()
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    from sksnn import SNNClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)
    os.environ["PYTHONWARNINGS"] = "ignore"  # the workers' ConvergenceWarnings
    X, y = load_digits(return_X_y=True)
    grid = {"alpha": [1e-4, 1e-2], "hidden_layer_sizes": [(64, 64), (128, 128)]}
    base = SNNClassifier(max_iter=100, batch_size=64, random_state=0)
    times = {}
    for n_jobs in (1, 2):
        for run in ("cold", "again"):
            start = time.perf_counter()
            GridSearchCV(base, grid, cv=3, n_jobs=n_jobs).fit(X, y)
            times[n_jobs, run] = time.perf_counter() - start
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    print(f"backend: {backend}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    for run in ("cold", "again"):
        one, two = times[1, run], times[2, run]
        print(f"GridSearchCV 4 candidates x 3 folds, {run:<5}: n_jobs=1 {one:.1f} s, n_jobs=2 {two:.1f} s, "
              f"speed-up {one / two:.2f}x")  # fmt: skip

    model = SNNClassifier(hidden_layer_sizes=(100,) * 20, max_iter=1, random_state=0).fit(X, y)
    safe = io.BytesIO()
    model.save(safe)
    print(f"(100,)*20 model: pickle {len(pickle.dumps(model)) / 1e6:.2f} MB, "
          f"safe format {len(safe.getvalue()) / 1e6:.2f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
