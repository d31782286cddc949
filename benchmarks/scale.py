"""How fit time and memory grow with the data: sksnn (TensorFlow, JAX) against MLP, each fit in its own process.

For each size (``--rows`` x ``--features``, ``--dtypes``), each model trains
``--epochs`` epochs of a ``--hidden`` network at batch 200 (MLP's automatic
batch) on standard-normal X with a binary target, after a warm-up fit of
10,000 rows that plans as much work (the backend's import and compilation
are not the data's). Printed per run: seconds per epoch, the achieved rate
in GFLOP/s (6 floating-point operations per weight and row: forward and
backward), the peak RSS added during the fit, and the peak anonymous memory
added (sampled every 5 ms), each as a multiple of X's size. The baseline is
``make_pipeline(StandardScaler(), MLPClassifier())``; sksnn's ratio to it
per size closes each group, and the machine's float64 and float32 GEMM rates
(NumPy, 2000 x 2000) open the output.

``--memmap ROWS`` also fits sksnn from an ``np.memmap`` of ROWS x
``--memmap-features`` float32 (a file under ``--scratch``; built once) and
prints the anonymous memory added against the file's size, with and without
early stopping.

``--quick`` (what the test runs): 1,000 and 20,000 rows, 50 features,
float64, the backend of ``KERAS_BACKEND`` and MLP, 1 epoch, and a memmap of
60,000 rows.

Measure on a quiet machine: MLP's BLAS threads collapse when other processes
compete for the cores (a 1M-row epoch took 8 s quiet, 80 s loaded).

Usage: ``python benchmarks/scale.py [--rows 1e3,1e4,1e5,1e6] [--features 50,100] [--dtypes float64,float32]
[--models tensorflow,jax,mlp] [--hidden 100,100] [--epochs 2] [--memmap 2e6] [--sksnn-params JSON] [--quick]
[--json out.json]``;
``python benchmarks/scale.py --plot out.json out.png`` draws the epoch times.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

WARM_ROWS = 10_000


def _status(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))


class PeakAnonymous:
    """Samples RssAnon every 5 ms in a thread; ``added`` is the peak above the value at start."""

    def __enter__(self):
        self.start = self.peak = _status("RssAnon:")
        self._running = True
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while self._running:
            self.peak = max(self.peak, _status("RssAnon:"))
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.peak = max(self.peak, _status("RssAnon:"))
        self.added = self.peak - self.start


def _model(name, hidden, epochs, sksnn_params=None):
    params = {"hidden_layer_sizes": hidden, "max_iter": epochs, "tol": 0.0, "n_iter_no_change": 10_000}
    if name == "mlp":
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), MLPClassifier(random_state=0, **params))
    from sksnn import SNNClassifier

    return SNNClassifier(random_state=0, **params, **(sksnn_params or {}))


def _warm_up(model, X, y, epochs, rows):
    """A fit of WARM_ROWS rows planning the measured fit's work, stopped after 2 epochs."""
    planned = max(1, rows * epochs // WARM_ROWS)
    stop = {"max_iter": planned, "tol": 1e9, "n_iter_no_change": 1}
    keep = (
        {k: model.get_params()[k] for k in ("max_iter", "tol", "n_iter_no_change")} if hasattr(model, "tol") else None
    )
    if keep is None:  # the MLP pipeline: its own warm-up is NumPy's, no compilation
        return
    model.set_params(**stop).fit(X[:WARM_ROWS], y[:WARM_ROWS])
    model.set_params(**keep)


def one_run(args):
    """In a process of its own: one model, one size. Prints a JSON line."""
    model_name, rows, features, dtype = args.one[0], int(float(args.one[1])), int(args.one[2]), args.one[3]
    if model_name != "mlp":
        os.environ["KERAS_BACKEND"] = model_name
    hidden = tuple(int(h) for h in args.hidden.split(","))
    import warnings

    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X = np.empty((rows, features), dtype=dtype)
    for start in range(0, rows, 100_000):  # no float64 temporary of the whole X
        X[start : start + 100_000] = rng.standard_normal((min(100_000, rows - start), features))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    model = _model(model_name, hidden, args.epochs, json.loads(args.sksnn_params))
    _warm_up(model, X, y, args.epochs, rows)
    rss_before = _status("VmRSS:")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM
    with PeakAnonymous() as anonymous:
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    weights = sum(a * b for a, b in zip((features, *hidden), (*hidden, 1)))
    print(
        json.dumps(
            {
                "model": model_name,
                "rows": rows,
                "features": features,
                "dtype": dtype,
                "epoch_s": seconds / args.epochs,
                "gflops": 6 * weights * rows * args.epochs / seconds / 1e9,
                "rss_x": (_status("VmHWM:") - rss_before) / X.nbytes,
                "anon_x": anonymous.added / X.nbytes,
            }
        )
    )


def memmap_run(args):
    """In a process of its own: sksnn fits from a float32 memmap. Prints a JSON line."""
    rows, features, early = int(float(args.memmap_one[0])), int(args.memmap_one[1]), args.memmap_one[2] == "early"
    path = args.memmap_one[3]
    import warnings

    warnings.simplefilter("ignore")
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(rows, features))
    y = (np.asarray(X[:, 0]) > 0).astype(np.int64)
    from sksnn import SNNClassifier

    hidden = tuple(int(h) for h in args.hidden.split(","))
    model = SNNClassifier(hidden_layer_sizes=hidden, max_iter=1, random_state=0, early_stopping=early)
    model.set_params(tol=0.0, n_iter_no_change=10_000)
    _warm_up(model, np.asarray(X[:WARM_ROWS]), y[:WARM_ROWS], 1, rows)
    with PeakAnonymous() as anonymous:
        start = time.perf_counter()
        model.fit(X, y)
        seconds = time.perf_counter() - start
    with PeakAnonymous() as predicting:
        model.predict_proba(X)
    print(
        json.dumps(
            {
                "rows": rows,
                "features": features,
                "early_stopping": early,
                "fit_s": seconds,
                "anon_mb": anonymous.added / 2**20,
                "anon_x": anonymous.added / X.nbytes,
                "predict_anon_x": predicting.added / X.nbytes,
            }
        )
    )


def _memmap_file(scratch, rows, features):
    path = os.path.join(scratch, f"X_{rows}x{features}.float32")
    if not os.path.exists(path):
        X = np.memmap(path + ".part", dtype=np.float32, mode="w+", shape=(rows, features))
        rng = np.random.RandomState(0)
        for start in range(0, rows, 100_000):
            X[start : start + 100_000] = rng.standard_normal((min(100_000, rows - start), features))
        X.flush()
        del X
        os.replace(path + ".part", path)
    return path


def _child(extra, backend=None):
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    out = subprocess.run([sys.executable, __file__, *extra], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def gemm_rates():
    """NumPy's GEMM in GFLOP/s (best of 3, 2000 x 2000), float64 and float32."""
    rates = {}
    for dtype in ("float64", "float32"):
        a = np.random.RandomState(0).standard_normal((2000, 2000)).astype(dtype)
        best = min(_timed(lambda a=a: a @ a) for _ in range(3))
        rates[dtype] = 2 * 2000**3 / best / 1e9
    return rates


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plot(json_path, png_path):
    """Seconds per epoch against rows, one panel per features x dtype, from a ``--json`` file."""
    import matplotlib.pyplot as plt

    figures = json.load(open(json_path))
    groups = sorted({(run["features"], run["dtype"]) for run in figures["runs"]})
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.6), sharey=True, squeeze=False)
    for ax, (features, dtype) in zip(axes[0], groups):
        for model, style in (("mlp", "k--"), ("tensorflow", "C1-"), ("jax", "C0-")):
            runs = sorted(
                (r["rows"], r["epoch_s"])
                for r in figures["runs"]
                if (r["model"], r["features"], r["dtype"]) == (model, features, dtype)
            )
            if runs:
                ax.loglog(
                    *zip(*runs), style, marker="o", label={"mlp": "MLP (standardized)"}.get(model, f"sksnn, {model}")
                )
        ax.set_title(f"{features} features, {dtype}")
        ax.set_xlabel("rows")
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("seconds per epoch, (100, 100), batch 200")
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1e3,1e4,1e5,1e6")
    parser.add_argument("--features", default="50,100")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--models", default="tensorflow,jax,mlp")
    parser.add_argument("--hidden", default="100,100")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--memmap", default=None, help="rows of a float32 memmap sksnn fits from")
    parser.add_argument("--memmap-features", type=int, default=100)
    parser.add_argument("--scratch", default=tempfile.gettempdir())
    parser.add_argument(
        "--sksnn-params",
        default="{}",
        help="SNNClassifier parameters as JSON, e.g. '{\"numerical_embedding\": null}' (defaults: the estimator's)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", default=None, help="write every run's figures here")
    parser.add_argument("--plot", nargs=2, metavar=("JSON", "PNG"), help="draw a --json file's epoch times")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--memmap-one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plot:
        return plot(*args.plot)
    if args.one:
        return one_run(args)
    if args.memmap_one:
        return memmap_run(args)
    if args.quick:
        args.rows, args.features, args.dtypes, args.epochs = "1e3,2e4", "50", "float64", 1
        args.models, args.memmap = f"{os.environ.get('KERAS_BACKEND', 'tensorflow')},mlp", "6e4"
    common = ["--hidden", args.hidden, "--epochs", str(args.epochs), "--sksnn-params", args.sksnn_params]
    rates = gemm_rates()
    print(f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, hidden {args.hidden}, {args.epochs} epochs, batch 200")
    if args.sksnn_params != "{}":
        print(f"sksnn: {args.sksnn_params}")
    print(f"NumPy GEMM: float64 {rates['float64']:.0f} GFLOP/s, float32 {rates['float32']:.0f} GFLOP/s")
    header = (
        f"{'model':<11} {'rows':>9} {'feat':>4} {'dtype':<7} {'s/epoch':>9} {'GFLOP/s':>8} {'RSS+':>7} {'anon+':>7}"
    )
    results = []
    models = args.models.split(",")
    for dtype in args.dtypes.split(","):
        for features in args.features.split(","):
            print(header)
            for rows in args.rows.split(","):
                group = {}
                for model in models:
                    run = _child(["--one", model, rows, features, dtype, *common])
                    group[model] = run
                    results.append(run)
                    print(
                        f"{model:<11} {run['rows']:>9} {features:>4} {dtype:<7} {run['epoch_s']:>9.3f} "
                        f"{run['gflops']:>8.1f} {run['rss_x']:>6.2f}x {run['anon_x']:>6.2f}x",
                        flush=True,
                    )
                if "mlp" in group:
                    ratios = ", ".join(
                        f"{m} {group[m]['epoch_s'] / group['mlp']['epoch_s']:.2f}x" for m in group if m != "mlp"
                    )
                    print(f"  {'':<9} epoch time against MLP: {ratios}")
    memmaps = []
    if args.memmap:
        rows = int(float(args.memmap))
        path = _memmap_file(args.scratch, rows, args.memmap_features)
        size = rows * args.memmap_features * 4 / 2**20
        for model in (m for m in models if m != "mlp"):
            for early in ("plain", "early"):
                run = _child(
                    ["--memmap-one", str(rows), str(args.memmap_features), early, path, "--hidden", args.hidden], model
                )
                run["model"] = model
                memmaps.append(run)
                print(
                    f"memmap {model:<10} {rows} x {args.memmap_features} float32 ({size:.0f} MB), "
                    f"early_stopping={run['early_stopping']}: fit {run['fit_s']:.1f} s, anonymous memory added "
                    f"{run['anon_mb']:.0f} MB = {run['anon_x']:.3f}x the data; "
                    f"predict_proba {run['predict_anon_x']:.3f}x",
                    flush=True,
                )
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"gemm_gflops": rates, "runs": results, "memmap": memmaps}, out, indent=1)


if __name__ == "__main__":
    main()
