"""What round 5's defaults cost on digits: warm ``cross_val_score(cv=3)``, three sides alternating.

sksnn's defaults (numerical embeddings and early stopping on the validation
loss from 1,000 rows: digits' training folds have 1,198), round 4's defaults
(``numerical_embedding=None, early_stopping=False``) and the standardized MLP,
in one warm process (each side fitted once before the timing), the median of
``--rounds`` rounds. Prints each side's median time and mean CV accuracy and
the ratios against MLP.

Usage: ``KERAS_BACKEND=jax python benchmarks/digits_defaults.py [--rounds 3]``
"""

import argparse
import time
import warnings

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    from sksnn._backend import start_backend

    start_backend()  # quietly, as a fit would (a bare `import keras` logs TensorFlow's start-up)
    import keras
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sksnn import SNNClassifier

    X, y = load_digits(return_X_y=True)
    sides = {
        "sksnn defaults": lambda: SNNClassifier(random_state=0),
        "sksnn round 4": lambda: SNNClassifier(random_state=0, numerical_embedding=None, early_stopping=False),
        "mlp": lambda: make_pipeline(StandardScaler(), MLPClassifier(random_state=0)),
    }
    for make in sides.values():
        cross_val_score(make(), X, y, cv=3)  # warm: imports and compiled shapes
    times, scores = {name: [] for name in sides}, {}
    for _ in range(args.rounds):
        for name, make in sides.items():
            start = time.perf_counter()
            scores[name] = cross_val_score(make(), X, y, cv=3).mean()
            times[name].append(time.perf_counter() - start)
    median = {name: float(np.median(t)) for name, t in times.items()}
    print(f"backend {keras.backend.backend()}, digits cross_val_score(cv=3), warm, median of {args.rounds}")
    for name in sides:
        ratio = median[name] / median["mlp"]
        print(f"  {name:<15} {median[name]:6.2f} s = {ratio:.2f}x MLP, accuracy {scores[name]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
