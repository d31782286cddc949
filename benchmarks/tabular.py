"""sksnn against the MLP a scikit-learn user would write, on real tabular data.

Classification: the SNN paper's UCI benchmark (``uci121/``, 116 data sets) with
the collection's protocol: the mean test accuracy over its 4 folds, or the
accuracy on the given test rows for the 17 sets with a fixed split.
Regression: ``uci_regression/`` (31 sets), RMSE and R^2 on the first k of its
10 train/test splits. Both models keep their defaults and get the same seed:

- ``SNNClassifier(random_state=s)`` against
  ``make_pipeline(StandardScaler(), MLPClassifier(random_state=s))``;
- ``SNNRegressor(random_state=s)`` against
  ``TransformedTargetRegressor(make_pipeline(StandardScaler(), MLPRegressor(random_state=s)),
  transformer=StandardScaler())``.

Both are fitted on the same rows, one after the other, in the same process
(fit times are compared per data set; each process first makes one tiny fit,
so that the backend's import counts for no data set, while each data set's
own set-up, a new network shape, does). The report: per data set the score
and fit time of each model; then wins/ties/losses (a tie: within 0.5 point
of accuracy, or within 1% of RMSE), mean score, mean rank, a one-sided
Wilcoxon signed-rank test of "sksnn is better", the same by size (< 500,
500-2,000, > 2,000 rows), and total fit times. ``--figures DIR`` draws
sksnn against MLP per data set and the fit times.

Usage::

    python benchmarks/tabular.py --quick                  # a handful of small sets, < 2 minutes
    python benchmarks/tabular.py --task classification --backend jax --n-jobs 2 --out results.md
    python benchmarks/tabular.py --task regression --splits 3 --datasets boston,concrete
    python benchmarks/tabular.py --convert-archive data.tar.gz --data-dir mydata/  # the UCI archive

The data are the ``.npz`` files of ``../shared/datasets`` (see its README).
A user with internet gets the classification collection as its original
archive (``data.tar.gz`` of Fernandez-Delgado et al. 2014); ``--convert-archive``
turns it into those files.
"""

import argparse
import io
import json
import os
import pathlib
import sys
import tarfile
import time
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
QUICK_CLASSIFICATION = ["acute-inflammation", "balloons", "fertility", "iris", "lenses", "zoo"]
QUICK_REGRESSION = ["autompg", "concreteslump", "yacht"]
SIZES = (
    (0, 500, "< 500"),
    (500, 2000, "500-2,000"),
    (2000, np.inf, "> 2,000"),
    (0, 1000, "< 1,000"),
    (1000, np.inf, ">= 1,000"),
)
TIE_ACCURACY = 0.005  # half a point
TIE_RMSE = 0.01  # relative


# --------------------------------------------------------------------- data
def classification_splits(data):
    """``[(train rows, test rows)]`` of a uci121 file, as the collection's protocol uses them."""
    n_given = int(data["n_train_given"])
    if n_given >= 0:  # a fixed split: train on the given training rows, test on the given test rows
        return [(np.arange(n_given), np.arange(n_given, len(data["y"])))]
    return [(data[f"fold{k}_train"], data[f"fold{k}_test"]) for k in range(4)]


def regression_splits(data, n_splits):
    mask = data["test_mask"]
    return [(np.flatnonzero(~mask[:, s]), np.flatnonzero(mask[:, s])) for s in range(n_splits)]


def pmlb_splits(data, task, n_splits):
    """``[(train rows, test rows)]`` of a pmlb54 file: seeded 75 / 25 splits (seeds 0, 1, ...), stratified."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(data["y"]))
    stratify = data["y"] if task == "classification" else None
    return [train_test_split(rows, test_size=0.25, random_state=seed, stratify=stratify) for seed in range(n_splits)]


def dataset_splits(path, data, task, n_splits):
    """The first ``n_splits`` ``(train rows, test rows)`` of the data set in ``path``, by its collection."""
    if path.parent.name == "pmlb54":
        return pmlb_splits(data, task, n_splits)
    if task == "classification":
        return classification_splits(data)[:n_splits]
    return regression_splits(data, n_splits)


def dataset_paths(data_dir, collection, task, names=None):
    """The ``.npz`` files of one task of a collection ("uci": uci121 / uci_regression; "pmlb54"), or of ``names``."""
    folder = data_dir / ("uci121" if task == "classification" else "uci_regression")
    pattern = "*.npz"
    if collection == "pmlb54":
        folder, pattern = data_dir / "pmlb54", ("clf_" if task == "classification" else "reg_") + "*.npz"
    paths = sorted(folder.glob(pattern)) if names is None else [folder / f"{n}.npz" for n in names]
    return [p for p in paths if p.exists()]


def convert_uci121_archive(archive, out_dir):
    """Convert the UCI collection's original archive into uci121-style ``.npz`` files.

    Layout of the archive (one folder per data set ``<name>/``):
    ``<name>_R.dat`` or ``<name>_train_R.dat`` + ``<name>_test_R.dat`` (tab
    separated, a header line, then a row id, the features and the class
    last), ``conxuntos.dat`` (the hyper-parameter training and validation
    halves, one line each) and ``conxuntos_kfold.dat`` (train and test rows
    of 4 folds, one line each). Returns the names converted.
    """
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        # by "<folder>/<file>", whatever folder the archive puts them in
        members = {"/".join(m.name.split("/")[-2:]): m for m in tar.getmembers() if m.isfile()}

        def read(name):
            return tar.extractfile(members[name]).read().decode()

        def table(name):
            rows = np.loadtxt(io.StringIO(read(name)), delimiter="\t", skiprows=1, ndmin=2)
            return rows[:, 1:-1], rows[:, -1].astype(np.int64)

        def index_lines(name):
            return [np.array(line.split(), dtype=np.int64) for line in read(name).splitlines() if line.strip()]

        names = sorted({path.split("/")[0] for path in members if "/" in path})
        converted = []
        for name in names:
            if f"{name}/{name}_R.dat" in members:
                X, y = table(f"{name}/{name}_R.dat")
                n_given = -1
            elif f"{name}/{name}_train_R.dat" in members:
                (X_train, y_train), (X_test, y_test) = (table(f"{name}/{name}_{s}_R.dat") for s in ("train", "test"))
                X, y, n_given = np.vstack([X_train, X_test]), np.concatenate([y_train, y_test]), len(y_train)
            else:
                continue
            halves = index_lines(f"{name}/conxuntos.dat")
            folds = index_lines(f"{name}/conxuntos_kfold.dat")
            arrays = {f"fold{k}_{part}": folds[2 * k + i] for k in range(4) for i, part in enumerate(("train", "test"))}
            np.savez_compressed(
                out_dir / f"{name}.npz",
                X=X,
                y=y - y.min(),
                n_train_given=np.array(n_given),
                val_train=halves[0],
                val_val=halves[1],
                **arrays,
            )
            converted.append(name)
    return converted


# ------------------------------------------------------------------- models
def models(task, seed):
    """``{"sksnn": estimator, "mlp": estimator}`` with defaults and one seed."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from sksnn import SNNClassifier, SNNRegressor

    if task == "classification":
        return {
            "sksnn": SNNClassifier(random_state=seed),
            "mlp": make_pipeline(StandardScaler(), MLPClassifier(random_state=seed)),
        }
    return {
        "sksnn": SNNRegressor(random_state=seed),
        "mlp": TransformedTargetRegressor(
            regressor=make_pipeline(StandardScaler(), MLPRegressor(random_state=seed)), transformer=StandardScaler()
        ),
    }


_warm = set()


def _warm_up(task):
    """One tiny fit per process and task: the backend's import is not any data set's fit time."""
    if task not in _warm:
        X = np.random.RandomState(0).standard_normal((20, 2))
        models(task, 0)["sksnn"].set_params(max_iter=1).fit(X, np.arange(20) % 2)
        _warm.add(task)


def run_dataset(path, task, n_splits, seed):
    """Scores and fit times of both models on one data set, split by split."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, mean_squared_error, r2_score

    warnings.simplefilter("ignore", ConvergenceWarning)
    _warm_up(task)
    with np.load(path) as data:
        data = dict(data)
    X, y = data["X"], data["y"]
    splits = dataset_splits(path, data, task, n_splits)
    result = {"dataset": path.stem, "rows": len(y), "features": X.shape[1]}
    for name in ("sksnn", "mlp"):
        result[name] = {"fit_s": 0.0, "scores": []}
    for train, test in splits:
        for name, model in models(task, seed).items():
            start = time.perf_counter()
            model.fit(X[train], y[train])
            result[name]["fit_s"] += time.perf_counter() - start
            predicted = model.predict(X[test])
            if task == "classification":
                result[name]["scores"].append({"accuracy": accuracy_score(y[test], predicted)})
            else:
                rmse = float(np.sqrt(mean_squared_error(y[test], predicted)))
                result[name]["scores"].append({"rmse": rmse, "r2": r2_score(y[test], predicted)})
    for name in ("sksnn", "mlp"):
        scores = result[name].pop("scores")
        for metric in scores[0]:
            result[name][metric] = float(np.mean([s[metric] for s in scores]))
    return result


# ------------------------------------------------------------------ summary
def compare(results, task):
    """Wins/ties/losses, mean scores and ranks, Wilcoxon and total fit time over ``results``."""
    from scipy.stats import wilcoxon

    metric = "accuracy" if task == "classification" else "rmse"
    ours = np.array([r["sksnn"][metric] for r in results])
    theirs = np.array([r["mlp"][metric] for r in results])
    if task == "classification":
        better, tied = ours - theirs > TIE_ACCURACY, np.abs(ours - theirs) <= TIE_ACCURACY
        advantage = ours - theirs  # > 0: sksnn better
    else:
        relative = (ours - theirs) / np.maximum(theirs, np.finfo(float).tiny)
        better, tied = relative < -TIE_RMSE, np.abs(relative) <= TIE_RMSE
        advantage = theirs - ours
    wins, ties = int(better.sum()), int(tied.sum())
    ranks = np.where(advantage > 0, 1.0, np.where(advantage < 0, 2.0, 1.5))
    nonzero = advantage[advantage != 0]
    p = float(wilcoxon(nonzero, alternative="greater").pvalue) if len(nonzero) else float("nan")
    return {
        "datasets": len(results),
        "wins": wins,
        "ties": ties,
        "losses": len(results) - wins - ties,
        f"mean_{metric}_sksnn": float(ours.mean()),
        f"mean_{metric}_mlp": float(theirs.mean()),
        "mean_rank_sksnn": float(ranks.mean()),
        "mean_rank_mlp": float(3 - ranks.mean()),
        "wilcoxon_p_sksnn_better": p,
        "fit_s_sksnn": float(sum(r["sksnn"]["fit_s"] for r in results)),
        "fit_s_mlp": float(sum(r["mlp"]["fit_s"] for r in results)),
    }


def report(results, task, header):
    """The benchmark's output, as a Markdown page."""
    metric = "accuracy" if task == "classification" else "rmse"
    lines = [header, ""]
    lines += ["| rows | data sets | wins / ties / losses | mean " + metric + " sksnn / MLP | "
              "mean rank sksnn / MLP | Wilcoxon p (sksnn better) | fit time sksnn / MLP |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    groups = [("all", results)] + [
        (label, [r for r in results if low <= r["rows"] < high]) for low, high, label in SIZES
    ]
    for label, group in groups:
        if not group:
            continue
        s = compare(group, task)
        if label == "all":
            summary = s
        ratio = s["fit_s_sksnn"] / max(s["fit_s_mlp"], 1e-9)
        lines.append(
            f"| {label} | {s['datasets']} | {s['wins']} / {s['ties']} / {s['losses']} | "
            f"{s[f'mean_{metric}_sksnn']:.4f} / {s[f'mean_{metric}_mlp']:.4f} | "
            f"{s['mean_rank_sksnn']:.2f} / {s['mean_rank_mlp']:.2f} | {s['wilcoxon_p_sksnn_better']:.3g} | "
            f"{s['fit_s_sksnn']:.1f} / {s['fit_s_mlp']:.1f} s = {ratio:.2f}x |"
        )
    extra = " | R^2 sksnn / MLP" if task == "regression" else ""
    lines += ["", f"| data set | rows | features | {metric} sksnn / MLP{extra} | fit s sksnn / MLP |"]
    lines.append("|---|---|---|---|---|" + ("---|" if extra else ""))
    for r in sorted(results, key=lambda r: r["dataset"]):
        r2 = f" | {r['sksnn']['r2']:.3f} / {r['mlp']['r2']:.3f}" if extra else ""
        lines.append(
            f"| {r['dataset']} | {r['rows']} | {r['features']} | {r['sksnn'][metric]:.4f} / {r['mlp'][metric]:.4f}"
            f"{r2} | {r['sksnn']['fit_s']:.2f} / {r['mlp']['fit_s']:.2f} |"
        )
    return "\n".join(lines) + "\n", summary


def draw(results, task, directory):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = "accuracy" if task == "classification" else "rmse"
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), constrained_layout=True)
    ours, theirs = ([r[m][metric] for r in results] for m in ("sksnn", "mlp"))
    left.scatter(theirs, ours, s=12)
    low, high = min(ours + theirs), max(ours + theirs)
    left.plot([low, high], [low, high], color="grey", linewidth=1)
    left.set(xlabel=f"MLP {metric}", ylabel=f"sksnn {metric}", title="per data set (above the line: sksnn higher)")
    rows = [r["rows"] for r in results]
    right.scatter(rows, [r["sksnn"]["fit_s"] for r in results], s=12, label="sksnn")
    right.scatter(rows, [r["mlp"]["fit_s"] for r in results], s=12, label="MLP")
    right.set(xscale="log", yscale="log", xlabel="rows", ylabel="fit time (s, all splits)", title="fit time")
    right.legend()
    path = directory / f"tabular_{task}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["classification", "regression", "both"], default="both")
    parser.add_argument("--collection", choices=["uci", "pmlb54"], default="uci", help="uci: uci121 / uci_regression")
    parser.add_argument("--datasets", help="comma-separated names (default: every file of the collection)")
    parser.add_argument(
        "--splits", type=int, help="splits per data set: at most 4 folds, 10 regression splits (pmlb54: 2)"
    )
    parser.add_argument("--backend", choices=["tensorflow", "jax"], help="KERAS_BACKEND for sksnn")
    parser.add_argument("--n-jobs", type=int, default=1, help="data sets in parallel (joblib)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--quick", action="store_true", help="a handful of small data sets, one split")
    parser.add_argument("--out", type=pathlib.Path, help="write the report (Markdown) and the raw results (.json)")
    parser.add_argument("--figures", type=pathlib.Path, help="folder for the figures (needs matplotlib)")
    parser.add_argument("--convert-archive", type=pathlib.Path, help="the UCI archive to convert into --data-dir")
    args = parser.parse_args(argv)

    if args.convert_archive:
        names = convert_uci121_archive(args.convert_archive, args.data_dir / "uci121")
        print(f"converted {len(names)} data sets into {args.data_dir / 'uci121'}")
        return 0
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from joblib import Parallel, delayed

    tasks = ["classification", "regression"] if args.task == "both" else [args.task]
    pages, summaries = [], {}
    started = time.time()
    for task in tasks:
        names = args.datasets.split(",") if args.datasets else None
        if args.quick:
            names = QUICK_CLASSIFICATION if task == "classification" else QUICK_REGRESSION
        paths = dataset_paths(args.data_dir, args.collection, task, names)
        if not paths:
            continue
        n_splits = args.splits or (1 if args.quick else 2 if args.collection == "pmlb54" else 4)
        if not args.splits and not args.quick and args.collection == "uci" and task == "regression":
            n_splits = 10
        results = Parallel(n_jobs=args.n_jobs)(delayed(run_dataset)(p, task, n_splits, args.seed) for p in paths)
        from sksnn._backend import start_backend

        start_backend()  # quietly, as a fit would: a bare `import keras` prints TensorFlow's start-up log here
        import keras

        header = (
            f"## {task.capitalize()}, {paths[0].parent.name}: {len(results)} data sets, {n_splits} split(s) each, "
            f"backend {keras.backend.backend()}"
        )
        page, summaries[task] = report(results, task, header)
        pages.append(page)
        print(page, flush=True)
        if args.figures:
            print(f"figure: {draw(results, task, args.figures)}")
        summaries[task]["results"] = results
    command = "python benchmarks/tabular.py " + " ".join(argv if argv is not None else sys.argv[1:])
    footer = f"`{command}`: {time.time() - started:.0f} s, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n"
    print(footer)
    if args.out:
        args.out.write_text("\n".join(pages) + "\n" + footer)
        args.out.with_suffix(".json").write_text(json.dumps(summaries, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
