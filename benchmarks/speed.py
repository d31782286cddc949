"""Speed and memory of sksnn against scikit-learn's MLP, measured in the same run.

Prints sksnn's figure, the baseline's figure and their ratio:

- train epoch: 20,000 x 50 float32, 10 classes, (100,) * 20, batch 32; time of
  (1 + 3) epochs minus time of 1 epoch, / 3; baselines MLPClassifier and a bare
  ``keras.Model.fit`` of the same network on the same backend; the median of
  ``--rounds`` (default 3) rounds in which the four alternate;
- small-data CV: ``cross_val_score(cv=5)`` on breast_cancer, (100,) * 20,
  50 epochs, batch 32 (the set-up cost of every fit counts here); median of
  ``--rounds`` rounds, each starting without a compiled network;
- one-row predict_proba: median of 300 calls on a fitted (100,) * 20 model,
  alternating between sksnn and the baseline;
- bulk predict: 100,000 rows;
- ONNX (``--figures onnx``): the same two fitted models, converted with
  skl2onnx (``zipmap=False``) and run by ONNX Runtime (one
  ``InferenceSession``, float32 input), against sksnn's and MLP's
  ``predict_proba``: one row (median of 300 calls, the three alternating)
  and 10,000 rows (best of 5);
- import: ``python -c "import sksnn"`` against ``import sklearn.neural_network``;
- load and predict: a fresh process that ``joblib.load``-s the fitted model and
  predicts one row, wall time of the whole process;
- memory: peak RSS growth of a fresh process during ``fit`` (one epoch,
  (100,)) on 200,000 x 100 float64, as a multiple of the size of X
  (``benchmarks/peak_memory.py``, each side in its own process).

The everyday figures (``--figures datasets,digits,search``): defaults on both
sides, the baseline a scikit-learn user writes
(``make_pipeline(StandardScaler(), MLPClassifier())``):

- datasets: one fit per data set of ``../shared/datasets/uci121`` (fold 0's
  training rows, every ``--dataset-step``-th set), in one warm process, the
  two sides alternating per data set; three figures from it: the total fit
  time ("many data sets"); the median and the mean over data sets of sksnn's first fit
  minus a refit of the same data ("a new shape", the set-up; MLP has none);
  the total time of those refits against MLP's fits ("same shape, again");
  ``--dtype float32`` gives both sides float32 X (both then train in float32);
- digits: ``cross_val_score(cv=3)`` on ``load_digits``, run twice in one
  process, the second timed ("warm"), and a fresh process running imports
  and the CV ("fresh", best of 2);
- search: RSS of a fresh process over ``--search-fits`` fits of new
  architectures (random depth 1-5, width 8-127, breast_cancer, 3 epochs):
  the peak RSS over the second half of the fits from ``--search-from`` (30)
  to the last against the first half's (sksnn only: MLP keeps nothing).

The first minute (``--figures first``): what a new process costs, where every
user starts (a script, a notebook kernel, each worker of a parallel search),
defaults on both sides, each figure the median of ``--rounds`` rounds in which
sksnn and the baseline alternate:

- a new process: imports, ``fit`` on iris, ``predict``, whole process wall
  time; sksnn with its compilation cache as a second process finds it ("cache
  warm": any process of the machine trained that shape before) and empty
  ("cache cold": a new directory each run, as the very first process);
- the next process: in a new process with the cache warm, the first fit of
  iris (after the backend's import) against a refit of the same data in it;
- a new process running ``GridSearchCV(SNNClassifier(), {"alpha": [1e-4,
  1e-2]}, cv=3, n_jobs=2)`` on digits against the same grid on
  ``make_pipeline(StandardScaler(), MLPClassifier())``, whole process wall
  time, cache warm and cold.

Every run of the same work uses the same architecture and batch size, and runs
every epoch (``tol=0``, ``n_iter_no_change`` above ``max_iter``).

Usage: ``python benchmarks/speed.py [--backend tensorflow|jax] [--figures train,cv,...,first] [--rounds 3]
[--dataset-step 1] [--search-fits 180] [--search-from 30]``
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/tabular.py

SIZES = (100,) * 20
FULL_EPOCHS = {"tol": 0.0, "n_iter_no_change": 10_000}
FIGURES = ("train", "cv", "predict", "onnx", "import", "load", "memory", "datasets", "digits", "search", "first")


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def row(name, ours, base, base_name, unit="s"):
    scale, fmt = (1e3, "{:>10.2f} ms") if unit == "ms" else (1, "{:>10.2f} " + unit.ljust(2))
    ours_text, base_text = fmt.format(ours * scale), fmt.format(base * scale)
    print(f"{name:<22} {ours_text} {base_text} {ours / base:>7.2f}x  ({base_name})", flush=True)


def run_python(code, env=None):
    """Wall time of a fresh ``python -c code`` (best of 3) and its last run's stdout."""
    env = {**os.environ, **(env or {})}
    best, out = float("inf"), ""
    for _ in range(3):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True).stdout
        best = min(best, time.perf_counter() - start)
    return best, out


def classifiers(**params):
    from sklearn.neural_network import MLPClassifier

    from sksnn import SNNClassifier

    return SNNClassifier(**params), MLPClassifier(**params)


def epoch_time(make, X, y):
    """(time of 1 + 3 epochs - time of 1 epoch) / 3: the set-up cost cancels out.

    One fit first, untimed: it compiles the network, which the trainer pool then
    keeps, so both timed fits pay the same (pooled) set-up.
    """
    make(1).fit(X, y)
    one = timed(lambda: make(1).fit(X, y))
    four = timed(lambda: make(4).fit(X, y))
    return (four - one) / 3


def bare_keras_epoch(X, y):
    import keras

    from sksnn import build_snn

    def run(epochs):
        model = build_snn(X.shape[1], 10, hidden_layer_sizes=SIZES, seed=0)
        model.compile(optimizer=keras.optimizers.Nadam(1e-3), loss="sparse_categorical_crossentropy")
        model.fit(X, y, batch_size=32, epochs=epochs, verbose=0)

    return (timed(lambda: run(4)) - timed(lambda: run(1))) / 3


def train_figures(X, y, rounds):
    """Median of ``rounds`` interleaved rounds: a slow spell of the machine weighs on both sides.

    Epoch times of one configuration vary by up to 1.5x within minutes on
    these shared machines; one round per figure made the ratios swing with it.
    """
    from sklearn.neural_network import MLPClassifier

    from sksnn import SNNClassifier

    common = {"hidden_layer_sizes": SIZES, "batch_size": 32, "random_state": 0, **FULL_EPOCHS}
    runs = {
        "snn": lambda: epoch_time(lambda n: SNNClassifier(max_iter=n, **common), X, y),
        "mlp": lambda: epoch_time(lambda n: MLPClassifier(max_iter=n, **common), X, y),
        # A bare Keras fit has no L2 penalty: compare with alpha=0, the same work.
        "snn_no_penalty": lambda: epoch_time(lambda n: SNNClassifier(max_iter=n, alpha=0.0, **common), X, y),
        "keras": lambda: bare_keras_epoch(X, y),
    }
    times = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
    median = {name: float(np.median(values)) for name, values in times.items()}
    row("train epoch", median["snn"], median["mlp"], "MLPClassifier")
    row("train epoch, alpha=0", median["snn_no_penalty"], median["keras"], "bare keras.Model.fit")


def cv_figure(rounds):
    """Median of ``rounds`` alternating rounds, each paying sksnn's set-up afresh."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sksnn import _trainer

    X, y = load_breast_cancer(return_X_y=True)
    snn, mlp = classifiers(hidden_layer_sizes=SIZES, batch_size=32, max_iter=50, random_state=0, **FULL_EPOCHS)
    # The MLP gets the SNN's built-in standardization, so both do the same work.
    mlp = make_pipeline(StandardScaler(), mlp)
    times = {snn: [], mlp: []}
    for _ in range(rounds):
        _trainer._POOL.clear()  # no compiled network kept from the round before
        for model, values in times.items():
            values.append(timed(lambda m=model: cross_val_score(m, X, y, cv=5)))
    row("cv=5 breast_cancer", *(float(np.median(values)) for values in times.values()), "MLPClassifier")


def fitted_pair(X, y):
    """sksnn's and MLP's (100,) * 20 classifiers after one epoch: the models every prediction figure times."""
    snn, mlp = classifiers(hidden_layer_sizes=SIZES, batch_size=32, max_iter=1, random_state=0, **FULL_EPOCHS)
    return snn.fit(X, y), mlp.fit(X, y)


def onnx_figures(X, y):
    """ONNX Runtime against sksnn's and MLP's predict_proba, the three alternating call by call."""
    import onnxruntime as ort
    from skl2onnx import to_onnx

    import sksnn.onnx  # noqa: F401  (registers the converters)

    snn, mlp = fitted_pair(X, y)
    onx = to_onnx(snn, X[:1], options={id(snn): {"zipmap": False}})
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    np.testing.assert_allclose(session.run(None, {name: X[:100]})[1], snn.predict_proba(X[:100]), atol=1e-5)
    runners = {
        "onnx": lambda rows: session.run(None, {name: rows}),
        "snn": snn.predict_proba,
        "mlp": mlp.predict_proba,
    }
    one = X[:1]
    calls = {key: [] for key in runners}
    for _ in range(301):
        for key, run in runners.items():
            calls[key].append(timed(lambda r=run: r(one)))
    median = {key: float(np.median(times[1:])) for key, times in calls.items()}  # the first call warms up
    row("onnx one row", median["onnx"], median["snn"], "sksnn predict_proba", unit="ms")
    row("onnx one row", median["onnx"], median["mlp"], "MLPClassifier predict_proba", unit="ms")
    rows = X[:10_000]
    bulk = {key: min(timed(lambda r=run: r(rows)) for _ in range(5)) for key, run in runners.items()}
    row("onnx 10k rows", bulk["onnx"], bulk["snn"], "sksnn predict_proba", unit="ms")
    row("onnx 10k rows", bulk["onnx"], bulk["mlp"], "MLPClassifier predict_proba", unit="ms")


def predict_figures(X, y, model_dir):
    import joblib

    snn, mlp = fitted_pair(X, y)
    one = X[:1]
    # Calls alternate between the two models, so that a passing state of the
    # machine (the backend's threads winding down after the fit, another job)
    # weighs on both alike.
    calls = {snn: [], mlp: []}
    for _ in range(301):
        for model, times in calls.items():
            times.append(timed(lambda m=model: m.predict_proba(one)))
    medians = [np.median(times[1:]) for times in calls.values()]  # the first call warms up
    row("one-row predict_proba", *medians, "MLPClassifier", unit="ms")
    bulk = np.tile(X, (5, 1))
    bulk_times = [min(timed(lambda m=model: m.predict(bulk)) for _ in range(3)) for model in (snn, mlp)]
    row("bulk predict 100k", *bulk_times, "MLPClassifier")
    paths = [os.path.join(model_dir, name) for name in ("snn.joblib", "mlp.joblib")]
    for model, path in zip((snn, mlp), paths):
        joblib.dump(model, path)
    return paths


def load_figure(paths):
    code = "import joblib, numpy as np; m = joblib.load({!r}); m.predict(np.zeros((1, 50), np.float32))"
    walls = [run_python(code.format(path))[0] for path in paths]
    row("load + predict 1 row", *walls, "MLPClassifier")


def import_figure():
    row(
        "import",
        run_python("import sksnn")[0],
        run_python("import sklearn.neural_network")[0],
        "import sklearn.neural_network",
    )


def memory_figure():
    growth = []
    for name in ("sksnn", "mlp"):
        command = [sys.executable, os.path.join(os.path.dirname(__file__), "peak_memory.py"), name]
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        growth.append(float(out.stdout.split()[-1]))
    row("fit peak RSS / X size", *growth, "MLPClassifier", unit="x")


def datasets_figures(data_dir, step, dtype="float64"):
    import glob

    import tabular as bench  # its data loading and its two models; on sys.path as in defaults.py

    bench._warm_up("classification")  # the backend's start is no data set's time
    first, refit, mlp = [], [], []
    for path in sorted(glob.glob(os.path.join(data_dir, "*.npz")))[::step]:
        data = np.load(path)
        train, _ = bench.classification_splits(data)[0]
        X, y = data["X"][train].astype(dtype), data["y"][train]
        for name, times in (("sksnn", first), ("mlp", mlp), ("sksnn", refit)):
            model = bench.models("classification", 0)[name]
            times.append(timed(lambda m=model, X=X, y=y: m.fit(X, y)))
    print(f"({len(first)} data sets, X as {dtype})")
    row("many data sets, total", sum(first), sum(mlp), "StandardScaler+MLPClassifier")
    setup = np.subtract(first, refit)
    print(
        f"{'a new shape (median)':<22} {np.median(setup):>10.2f} s  first fit minus refit (MLP: no set-up); "
        f"mean {np.mean(setup):.2f} s",
        flush=True,
    )
    row("same shape, refit", sum(refit), sum(mlp), "StandardScaler+MLPClassifier")


DIGITS_CV = (
    "from sklearn.datasets import load_digits\n"
    "from sklearn.model_selection import cross_val_score\n"
    "{imports}\n"
    "X, y = load_digits(return_X_y=True)\n"
    "cross_val_score({model}, X, y, cv=3)\n"
)
DIGITS_MODELS = {
    "sksnn": ("from sksnn import SNNClassifier", "SNNClassifier(random_state=0)"),
    "mlp": (
        "from sklearn.neural_network import MLPClassifier\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler",
        "make_pipeline(StandardScaler(), MLPClassifier(random_state=0))",
    ),
}


def digits_figures():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score

    X, y = load_digits(return_X_y=True)
    warm = {}
    for name, (imports, model) in DIGITS_MODELS.items():
        namespace = {}
        exec(imports, namespace)
        cross_val_score(eval(model, namespace), X, y, cv=3)  # the first run: set-up
        warm[name] = timed(lambda m=model, ns=namespace: cross_val_score(eval(m, ns), X, y, cv=3))
    row("digits cv=3, warm", warm["sksnn"], warm["mlp"], "StandardScaler+MLPClassifier")
    fresh = {}
    for name, (imports, model) in DIGITS_MODELS.items():
        code = "import warnings; warnings.simplefilter('ignore')\n" + DIGITS_CV.format(imports=imports, model=model)
        fresh[name] = min(run_python(code)[0] for _ in range(2))  # run_python: best of 3 already
    row("digits cv=3, fresh", fresh["sksnn"], fresh["mlp"], "StandardScaler+MLPClassifier")


SEARCH = """
import gc, sys, warnings
import numpy as np
from sklearn.datasets import load_breast_cancer
from sksnn import SNNClassifier
warnings.filterwarnings("ignore")
def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))
X, y = load_breast_cancer(return_X_y=True)
rng = np.random.RandomState(0)
n = {fits}
for i in range(1, n + 1):
    sizes = tuple(int(w) for w in rng.randint(8, 128, size=rng.randint(1, 6)))
    SNNClassifier(hidden_layer_sizes=sizes, max_iter=3, random_state=0).fit(X, y)
    if i >= {start} and (i - {start}) % 5 == 0 or i == n:
        gc.collect()
        print(i, rss_mb())
"""


def search_figure(fits, start=30):
    """The peak RSS over the second half of fits ``start..fits`` against the first half's.

    The allocator moves RSS by +-30 MB from one fit to the next with no leak
    (a fit's arrays land in other arenas): two single readings can differ by
    40 MB on a flat process, the peaks of two windows do not; a leak (once
    ~7 MB a fit) raises the second window's peak.
    """
    code = SEARCH.format(fits=fits, start=start)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    readings = [(int(i), float(mb)) for i, mb in map(str.split, out.stdout.splitlines())]
    middle = (start + fits) // 2
    first = max(mb for i, mb in readings if i <= middle)
    second = max(mb for i, mb in readings if i >= middle)
    print(
        f"{'search RSS growth':<22} {second - first:>10.0f} MB  "
        f"peak over fits {start}-{middle} -> {middle}-{fits}: {first:.0f} -> {second:.0f} MB"
    )


FIRST_PROCESS = {
    "sksnn": (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from sklearn.datasets import load_iris\n"
        "from sksnn import SNNClassifier\n"
        "X, y = load_iris(return_X_y=True)\n"
        "SNNClassifier(random_state=0).fit(X, y).predict(X)\n"
    ),
    "mlp": (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn.neural_network import MLPClassifier\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "X, y = load_iris(return_X_y=True)\n"
        "make_pipeline(StandardScaler(), MLPClassifier(random_state=0)).fit(X, y).predict(X)\n"
    ),
}
FIRST_FIT_AGAIN = (
    "import time, warnings; warnings.simplefilter('ignore')\n"
    "from sklearn.datasets import load_iris\n"
    "from sksnn import SNNClassifier, _training  # the backend's import is not the fit's\n"
    "X, y = load_iris(return_X_y=True)\n"
    "start = time.perf_counter(); SNNClassifier(random_state=0).fit(X, y); first = time.perf_counter() - start\n"
    "start = time.perf_counter(); SNNClassifier(random_state=0).fit(X, y); again = time.perf_counter() - start\n"
    "print(first, again)\n"
)
FRESH_SEARCH = {
    "sksnn": (
        "import os, warnings; warnings.simplefilter('ignore'); os.environ['PYTHONWARNINGS'] = 'ignore'\n"
        "from sklearn.datasets import load_digits\n"
        "from sklearn.model_selection import GridSearchCV\n"
        "from sksnn import SNNClassifier\n"
        "X, y = load_digits(return_X_y=True)\n"
        "GridSearchCV(SNNClassifier(random_state=0), {'alpha': [1e-4, 1e-2]}, cv=3, n_jobs=2).fit(X, y)\n"
    ),
    "mlp": (
        "import os, warnings; warnings.simplefilter('ignore'); os.environ['PYTHONWARNINGS'] = 'ignore'\n"
        "from sklearn.datasets import load_digits\n"
        "from sklearn.model_selection import GridSearchCV\n"
        "from sklearn.neural_network import MLPClassifier\n"
        "from sklearn.pipeline import make_pipeline\n"
        "from sklearn.preprocessing import StandardScaler\n"
        "X, y = load_digits(return_X_y=True)\n"
        "pipe = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))\n"
        "GridSearchCV(pipe, {'mlpclassifier__alpha': [1e-4, 1e-2]}, cv=3, n_jobs=2).fit(X, y)\n"
    ),
}


def wall_time(code, env=None):
    """Wall time of one new ``python -c code``, and its stdout."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, **(env or {})}, capture_output=True, text=True
    ).stdout
    return time.perf_counter() - start, out


def first_minute_figures(rounds):
    """New processes, sksnn and MLP alternating; sksnn's compilation cache warm (shared) and cold (new each run)."""
    with tempfile.TemporaryDirectory() as scratch:
        warm = {"SKSNN_COMPILATION_CACHE": os.path.join(scratch, "warm")}

        def cold():
            return {"SKSNN_COMPILATION_CACHE": tempfile.mkdtemp(dir=scratch)}

        for name, codes in (("new process", FIRST_PROCESS), ("new search", FRESH_SEARCH)):
            wall_time(codes["sksnn"], warm)  # fills the warm cache
            times = {"warm": [], "cold": [], "mlp": []}
            for _ in range(rounds):
                times["warm"].append(wall_time(codes["sksnn"], warm)[0])
                times["mlp"].append(wall_time(codes["mlp"])[0])
                times["cold"].append(wall_time(codes["sksnn"], cold())[0])
            median = {key: float(np.median(values)) for key, values in times.items()}
            base = "StandardScaler+MLPClassifier"
            row(f"{name}, warm", median["warm"], median["mlp"], base)
            row(f"{name}, cold", median["cold"], median["mlp"], base)
        pairs = [[float(v) for v in wall_time(FIRST_FIT_AGAIN, warm)[1].split()] for _ in range(rounds)]
        first, again = (float(np.median(values)) for values in zip(*pairs))
        row("next process, 1st fit", first, again, "a refit in that process")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default=os.environ.get("KERAS_BACKEND"))
    parser.add_argument("--figures", default=",".join(FIGURES), help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the train and cv figures (median)")
    parser.add_argument("--data-dir", default=os.path.join("..", "shared", "datasets", "uci121"))
    parser.add_argument("--dataset-step", type=int, default=1, help="every k-th data set of --data-dir")
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), default="float64", help="X of the datasets figure, both sides"
    )
    parser.add_argument("--search-fits", type=int, default=180)
    parser.add_argument("--search-from", type=int, default=30, help="the fit whose RSS the growth starts from")
    args = parser.parse_args()
    if args.backend:  # before Keras is imported, here and in every child process
        os.environ["KERAS_BACKEND"] = args.backend
    figures = set(args.figures.split(","))
    from sksnn._backend import start_backend

    start_backend()  # as a user's first fit would: quietly, the collector paused (a bare `import keras` logs)
    import keras
    from sklearn.exceptions import ConvergenceWarning

    print(f"backend: {keras.backend.backend()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    print(f"{'figure':<22} {'sksnn':>13} {'baseline':>13} {'ratio':>8}")
    rng = np.random.RandomState(0)
    X = rng.standard_normal((20_000, 50)).astype(np.float32)
    y = rng.randint(0, 10, 20_000)
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as model_dir:
        warnings.simplefilter("ignore", ConvergenceWarning)
        if "train" in figures:
            train_figures(X, y, args.rounds)
        if "cv" in figures:
            cv_figure(args.rounds)
        if figures & {"predict", "load"}:
            paths = predict_figures(X, y, model_dir)
            if "load" in figures:
                load_figure(paths)
        if "onnx" in figures:
            onnx_figures(X, y)
        if "datasets" in figures:
            datasets_figures(args.data_dir, args.dataset_step, args.dtype)
        if "digits" in figures:
            digits_figures()
    if "search" in figures:
        search_figure(args.search_fits, args.search_from)
    if "first" in figures:
        first_minute_figures(args.rounds)
    if "import" in figures:
        import_figure()
    if "memory" in figures:
        memory_figure()


if __name__ == "__main__":
    main()
