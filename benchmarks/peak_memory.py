"""Peak RSS growth of one ``fit`` in a fresh process, as a multiple of the size of X.

One epoch on ``--rows`` x 100 float64 standard-normal rows, 2 classes, after a
warm-up fit on the first 10,000 rows (backend import and compilation, with as
many batches a call and as much planned work as the measured fit: fixed
costs, not data-sized). Linux
only: the peak is read from ``/proc/self/status`` after resetting it.
``benchmarks/speed.py`` reports it for sksnn and MLPClassifier;
tests/test_training.py checks sksnn's against its bounds.

Usage: ``python benchmarks/peak_memory.py sksnn|mlp [--rows 200000] [--hidden 100]``
"""

import argparse
import warnings

import numpy as np


def rss(field):
    """A size field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=("sksnn", "mlp"))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--hidden", default="100", help="hidden layer sizes, comma-separated")
    args = parser.parse_args()
    from sklearn.neural_network import MLPClassifier

    from sksnn import SNNClassifier

    rng = np.random.RandomState(0)
    X = rng.standard_normal((args.rows, 100))
    y = rng.randint(0, 2, args.rows)
    hidden = tuple(int(size) for size in args.hidden.split(","))
    params = dict(hidden_layer_sizes=hidden, max_iter=1, random_state=0, tol=0.0, n_iter_no_change=10)
    model = {"sksnn": SNNClassifier, "mlp": MLPClassifier}[args.model](**params)
    # The warm-up plans as much work as the measured fit (sksnn's TensorFlow
    # loop is XLA-compiled by the work planned), and stops after two epochs.
    planned = max(1, args.rows // 10_000)
    model.set_params(max_iter=planned, tol=1e9, n_iter_no_change=1).fit(X[:10_000], y[:10_000])
    model.set_params(**params)
    warnings.simplefilter("ignore")
    before = rss("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:  # resets the peak (VmHWM) to the current RSS
        f.write("5")
    model.fit(X, y)
    print((rss("VmHWM:") - before) / X.nbytes)


if __name__ == "__main__":
    main()
