"""The source article's experiments: SNN vs a "regular" network vs scikit-learn's MLP.

Network (the article's): 20 hidden layers x 100 units, Nadam, learning rate
7e-4, batch 32, 50 epochs, no L2 penalty. Models, all scikit-learn estimators:

- SNN: ``SNNClassifier``/``SNNRegressor`` (SELU, LeCun normal, built-in standardization);
- regular: the same class with ``activation="elu", kernel_initializer="he_normal", standardize=False``;
- MLP: ``MLPClassifier``/``MLPRegressor`` of the same depth and width, its
  defaults otherwise (Adam, ReLU, alpha=1e-4, batch 'auto'), learning rate 7e-4,
  as a scikit-learn user fits it: behind a StandardScaler, and for Boston with
  the target standardized too (``StandardizedMLP``).

Pixels are scaled to [0, 1] for every model (as the article's notebook does);
Boston's features are used as they are. Each seed fixes one train/validation/
test split shared by the three models, and their initializations. Every model
trains one epoch per ``partial_fit`` call; after each epoch the validation
metric (accuracy, or MSE for Boston) and the test metrics are recorded, so the
test figures are those of the best validation epoch.

Writes to ``--out``: ``results.md`` (a table per data set, then the article's
claims beside what was measured), ``results.json`` (every curve) and PNG
figures: validation curves, the last hidden layer's weights across epochs
(SNN and regular), activation mean/std by depth on the test set.

Usage::

    python benchmarks/seed_experiments.py --data-dir ../shared/datasets --out results
    python benchmarks/seed_experiments.py --quick --out /tmp/quick        # < 3 minutes
    python benchmarks/seed_experiments.py --source openml --datasets boston  # needs internet
"""

import argparse
import json
import os
import pathlib
import platform
import time
import warnings

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error
from sklearn.model_selection import train_test_split

HIDDEN = (100,) * 20
LEARNING_RATE = 7e-4
DATASETS = ("fashion_mnist", "cifar10", "boston")
MODELS = ("SNN", "regular", "MLP")
OPENML_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR_10", "boston": "boston"}
# Validation rows taken from the training set (Fashion-MNIST and CIFAR-10 come with a test set).
VALIDATION = {"fashion_mnist": 5000, "cifar10": 2000}
QUICK_ROWS = {"fashion_mnist": (2000, 500, 500), "cifar10": (1000, 300, 300)}


# ----------------------------------------------------------------------------- data
def load_dataset(name, source, data_dir):
    """``(X_train, y_train, X_test, y_test)`` (Boston: ``X, y, None, None``), pixels in [0, 1]."""
    if source == "openml":
        from sklearn.datasets import fetch_openml

        try:
            bunch = fetch_openml(OPENML_NAMES[name], version=1, as_frame=False, parser="auto")
        except OSError as error:  # URLError, timeouts, DNS failures
            raise SystemExit(
                f"Could not download {OPENML_NAMES[name]!r} from OpenML ({error}). "
                "Without internet, use --source npz --data-dir DIR with the .npz copies."
            ) from None
        X, y = bunch.data.astype(np.float64), bunch.target
        if name == "boston":
            return X, y.astype(np.float64), None, None
        y = y.astype(np.int64)
        n_test = 10_000 if name == "fashion_mnist" else len(X) // 6  # OpenML's row order: train rows first
        return X[:-n_test] / 255.0, y[:-n_test], X[-n_test:] / 255.0, y[-n_test:]
    file = {"fashion_mnist": "fashion_mnist.npz", "cifar10": "cifar10_subset.npz", "boston": "boston_housing.npz"}
    path = pathlib.Path(data_dir) / file[name]
    if not path.exists():
        raise SystemExit(f"{path} not found: pass --data-dir, or --source openml with internet.")
    with np.load(path, allow_pickle=False) as data:
        if name == "boston":
            return data["X"].astype(np.float64), data["y"].astype(np.float64), None, None
        scale = lambda a: a.astype(np.float32) / 255.0  # noqa: E731
        return scale(data["X_train"]), data["y_train"], scale(data["X_test"]), data["y_test"]


def split(name, data, seed, quick):
    """Train/validation/test arrays for one seed: the same for every model."""
    X, y, X_test, y_test = data
    if name == "boston":
        X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.2, random_state=seed)
        X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.2, random_state=seed)
        return X_train, y_train, X_val, y_val, X_test, y_test
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=VALIDATION[name], stratify=y, random_state=seed)
    if quick:
        n_train, n_val, n_test = QUICK_ROWS[name]
        X_train, y_train, X_val, y_val = X_train[:n_train], y_train[:n_train], X_val[:n_val], y_val[:n_val]
        X_test, y_test = X_test[:n_test], y_test[:n_test]
    return X_train, y_train, X_val, y_val, X_test, y_test


# ----------------------------------------------------------------------------- models
class StandardizedMLP:
    """The MLP as a scikit-learn user would fit it: ``make_pipeline(StandardScaler(), mlp)``, for
    regression inside ``TransformedTargetRegressor(transformer=StandardScaler())``, epoch by epoch.

    A Pipeline has no ``partial_fit``: the scalers are fitted on the first
    call's data (the training rows, as the pipeline's ``fit`` would) and kept.
    """

    def __init__(self, mlp):
        from sklearn.base import is_regressor
        from sklearn.preprocessing import StandardScaler

        self.mlp, self.scaler = mlp, StandardScaler()
        self.target_scaler = StandardScaler() if is_regressor(mlp) else None
        self.fitted = False

    def partial_fit(self, X, y, **kwargs):
        if not self.fitted:
            self.scaler.fit(X)
            if self.target_scaler is not None:
                self.target_scaler.fit(y.reshape(-1, 1))
            self.fitted = True
        if self.target_scaler is not None:
            y = self.target_scaler.transform(y.reshape(-1, 1)).ravel()
        self.mlp.partial_fit(self.scaler.transform(X), y, **kwargs)
        return self

    def predict(self, X):
        predicted = self.mlp.predict(self.scaler.transform(X))
        if self.target_scaler is None:
            return predicted
        return self.target_scaler.inverse_transform(predicted.reshape(-1, 1)).ravel()


def make_model(model, classification, seed):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from sksnn import SNNClassifier, SNNRegressor

    if model == "MLP":
        cls = MLPClassifier if classification else MLPRegressor
        return StandardizedMLP(cls(hidden_layer_sizes=HIDDEN, learning_rate_init=LEARNING_RATE, random_state=seed))
    params = {
        "hidden_layer_sizes": HIDDEN,
        "solver": "nadam",
        "learning_rate_init": LEARNING_RATE,
        "batch_size": 32,
        "alpha": 0.0,
        "output_initializer": "lecun_normal",  # the article draws every kernel alike
        "random_state": seed,
    }
    if model == "regular":
        params.update(activation="elu", kernel_initializer="he_normal", output_initializer="he_normal")
        params.update(standardize=False)
    return (SNNClassifier if classification else SNNRegressor)(**params)


def run_model(model, classification, splits, epochs, seed):
    """Train epoch by epoch; the curves and the test metrics of every epoch."""
    X_train, y_train, X_val, y_val, X_test, y_test = splits
    est = make_model(model, classification, seed)
    extra = {"classes": np.unique(y_train)} if classification else {}
    curve, tests, weights, elapsed = [], [], {}, 0.0
    snapshot_epochs = sorted({1, max(1, epochs // 4), max(1, epochs // 2), epochs})
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        est.partial_fit(X_train, y_train, **extra)
        elapsed += time.perf_counter() - start
        predicted_val, predicted_test = est.predict(X_val), est.predict(X_test)
        if classification:
            curve.append(accuracy_score(y_val, predicted_val))
            tests.append((accuracy_score(y_test, predicted_test), f1_score(y_test, predicted_test, average="macro")))
        else:
            curve.append(mean_squared_error(y_val, predicted_val))
            tests.append((mean_squared_error(y_test, predicted_test),))
        if model != "MLP" and epoch in snapshot_epochs:
            weights[epoch] = est.coefs_[-2].ravel().tolist()  # the last hidden layer's kernel
    best = int(np.argmax(curve) if classification else np.argmin(curve))
    result = {
        "curve": curve,
        "best_epoch": best + 1,
        "best_validation": curve[best],
        "test": list(tests[best]),
        "wall_time": elapsed,
        "last_layer_weights": weights,
    }
    if model != "MLP":
        from sksnn.diagnostics import layer_statistics

        stats = layer_statistics(est, X_test)
        result["activations"] = {"mean": stats["mean"].tolist(), "std": stats["std"].tolist()}
    return result


# ----------------------------------------------------------------------------- report
def mean_std(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4g} ± {values.std():.2g}"


def dataset_table(name, runs, classification):
    metric = "accuracy" if classification else "MSE"
    test_cols = "test accuracy | test macro-F1" if classification else "test MSE"
    lines = [
        f"### {name}",
        "",
        f"| model | best epoch | best validation {metric} | {test_cols} (at the best epoch) | train time (s) |",
        "|---" * (5 + classification) + "|",
    ]
    for model in MODELS:
        seeds = runs[model]
        tests = np.array([r["test"] for r in seeds])
        test_text = " | ".join(mean_std(tests[:, i]) for i in range(tests.shape[1]))
        lines.append(
            f"| {model} | {mean_std([r['best_epoch'] for r in seeds])} | "
            f"{mean_std([r['best_validation'] for r in seeds])} | {test_text} | "
            f"{mean_std([r['wall_time'] for r in seeds])} |"
        )
    return lines + [""]


def claims_table(results):
    rows = []

    def fewer_epochs(dataset, claim, claimed_percent):
        snn = np.mean([r["best_epoch"] for r in results[dataset]["SNN"]])
        regular = np.mean([r["best_epoch"] for r in results[dataset]["regular"]])
        change = (regular - snn) / regular * 100
        held = "held" if change >= claimed_percent else ("held in direction only" if change > 0 else "did not hold")
        relation = f"{change:.0f}% fewer" if change >= 0 else f"{-change:.0f}% more"
        return [claim, f"SNN best epoch {snn:.1f} vs regular {regular:.1f}: {relation} epochs", held]

    if "fashion_mnist" in results:
        rows.append(
            fewer_epochs(
                "fashion_mnist", "Fashion-MNIST: SNN reaches its best validation accuracy in 28% fewer iterations", 28
            )
        )
    if "cifar10" in results:
        snn, regular = results["cifar10"]["SNN"], results["cifar10"]["regular"]
        better = np.mean([np.mean(np.array(s["curve"]) > np.array(r["curve"])) for s, r in zip(snn, regular)]) * 100
        f1_snn = np.mean([r["test"][1] for r in snn])
        f1_regular = np.mean([r["test"][1] for r in regular])
        change = (f1_snn - f1_regular) / f1_regular * 100
        rows.append(
            [
                "CIFAR-10: SNN validation accuracy consistently better",
                f"SNN ahead in {better:.0f}% of epochs",
                "held" if better >= 90 else "did not hold",
            ]
        )
        rows.append(
            [
                "CIFAR-10: SNN test F1 12% higher",
                f"macro-F1 {f1_snn:.3f} vs {f1_regular:.3f}: {change:+.0f}%",
                "held" if change >= 12 else ("held in direction only" if change > 0 else "did not hold"),
            ]
        )
    if "boston" in results:
        rows.append(
            fewer_epochs("boston", "Boston: SNN reaches its best validation score in 32% fewer epochs (34 vs 50)", 32)
        )
    lines = ["## The article's claims", "", "| claim | measured | verdict |", "|---|---|---|"]
    return lines + [f"| {' | '.join(r)} |" for r in rows] + [""]


def figures(name, runs, classification, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    for model in MODELS:
        curves = np.array([r["curve"] for r in runs[model]])
        epochs = np.arange(1, curves.shape[1] + 1)
        ax.plot(epochs, curves.mean(axis=0), label=model)
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), alpha=0.2)
    ax.set(xlabel="epoch", ylabel="validation " + ("accuracy" if classification else "MSE"), title=name)
    ax.legend()
    fig.savefig(out / f"{name}_validation.png", dpi=110)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True, constrained_layout=True)
    for ax, model in zip(axes, ("SNN", "regular")):
        # results.json keeps no weights: after --append only the seeds run now have them
        seed, run = next((seed, run) for seed, run in enumerate(runs[model]) if "last_layer_weights" in run)
        for epoch, values in run["last_layer_weights"].items():
            ax.hist(values, bins=60, histtype="step", density=True, label=f"epoch {epoch}")
        ax.set(title=f"{name}: {model}, last hidden layer weights (seed {seed})", xlabel="weight")
        ax.legend()
    fig.savefig(out / f"{name}_last_layer_weights.png", dpi=110)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
    for model in ("SNN", "regular"):
        for ax, key, target in ((axes[0], "mean", 0.0), (axes[1], "std", 1.0)):
            values = np.array([r["activations"][key] for r in runs[model]]).mean(axis=0)
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=model)
            ax.axhline(target, color="grey", linestyle=":")
            ax.set(xlabel="hidden layer", ylabel=f"activation {key} (test set)", title=name)
    axes[1].legend()
    fig.savefig(out / f"{name}_activations.png", dpi=110)
    plt.close("all")


# ----------------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(pathlib.Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    parser.add_argument("--source", choices=("npz", "openml"), default="npz")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="run seeds FIRST_SEED.. ; with --append, add them to the runs already saved for a data set",
    )
    parser.add_argument("--out", default="seed_experiments")
    parser.add_argument("--quick", action="store_true", help="1 seed, 2 epochs, small subsets: a smoke test")
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the data sets already in OUT/results.json and add these (with --datasets '': rewrite the report)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = set(names) - set(DATASETS)
    if unknown:
        parser.error(f"unknown data sets {sorted(unknown)}; choose from {DATASETS}")
    epochs, seeds = (2, 1) if args.quick else (args.epochs, args.seeds)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warnings.filterwarnings("ignore")  # ConvergenceWarnings of one-epoch partial fits

    results, meta = {}, {}
    if args.append and (out / "results.json").exists():
        saved = json.loads((out / "results.json").read_text())
        results, meta = saved["results"], saved["meta"]
    for name in names:  # the report is rewritten after each data set: a long run keeps what it finished
        start = time.time()
        data = load_dataset(name, args.source, args.data_dir)
        classification = name != "boston"
        earlier = results.get(name) if args.first_seed > 0 else None
        results[name] = earlier or {model: [] for model in MODELS}
        for seed in range(args.first_seed, args.first_seed + seeds):
            splits = split(name, data, seed, args.quick)
            for model in MODELS:
                run = run_model(model, classification, splits, epochs, seed)
                results[name][model].append(run)
                print(
                    f"{name} seed {seed} {model}: best epoch {run['best_epoch']}, "
                    f"validation {run['best_validation']:.4f}, test {run['test']}, {run['wall_time']:.0f} s",
                    flush=True,
                )
        figures(name, results[name], classification, out)
        import keras

        command = f"python benchmarks/seed_experiments.py --datasets {name} --epochs {epochs} --seeds {seeds}"
        command += (f" --first-seed {args.first_seed} --append" if args.first_seed else "") + (
            " --quick" if args.quick else ""
        )
        minutes = round((time.time() - start) / 60, 1)
        if earlier:  # one row tells how every seed of the data set was run
            command = f"{meta[name]['command']}; then {command}"
            minutes = round(meta[name]["minutes"] + minutes, 1)
        meta[name] = {
            "command": command,
            "backend": keras.backend.backend(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "date": time.strftime("%Y-%m-%d"),
            "minutes": minutes,
        }
        write_report(results, meta, out)
    if not names:
        write_report(results, meta, out)


def write_report(results, meta, out):
    names = list(results)
    header = [
        "# The source article's experiments, reproduced",
        "",
        "Mean ± std over seeds. How each data set was run:",
        "",
        "| data set | command | backend | machine | date | run time (min) |",
        "|---|---|---|---|---|---|",
        *(
            f"| {n} | `{meta[n]['command']}` | {meta[n]['backend']} | {meta[n]['machine']} | {meta[n]['date']} "
            f"| {meta[n]['minutes']} |"
            for n in names
        ),
        "",
    ]
    body = [line for name in names for line in dataset_table(name, results[name], name != "boston")]
    (out / "results.md").write_text("\n".join(header + claims_table(results) + ["## Per data set", ""] + body))

    def without_weights(run):
        return {k: v for k, v in run.items() if k != "last_layer_weights"}

    curves = {n: {m: [without_weights(r) for r in runs] for m, runs in models.items()} for n, models in results.items()}
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": curves}))
    print(f"wrote {out / 'results.md'}")


if __name__ == "__main__":
    main()
