"""The search for sksnn's defaults, on hyper-parameter splits only.

Every candidate is a set of constructor parameters (the rest at today's
defaults; ``auto_*`` keys set the constants of the "auto" rules for its fits,
see ``AUTO_RULES``; ``preprocessing`` puts a transform of X before it), fitted
beside the baseline of ``tabular.py`` (the standardized MLP,
defaults) on rows that no reported test score uses:

- classification: each ``uci121`` file's hyper-parameter split (train on
  ``val_train``, score accuracy on ``val_val``), as the SNN paper chose its
  hyper-parameters; with ``--halves 2`` also the other way round (train on
  ``val_val``, score on ``val_train``), the mean of the two;
- regression: the training rows of split 0 of each ``uci_regression`` file,
  cut 80 / 20 with a fixed seed (train, validation); with ``--halves 2`` a
  second cut with the next seed, the mean of the two. Test rows are never read.
- ``--collection pmlb54``: the training rows of the first of ``tabular.py``'s
  two 75 / 25 splits of each ``pmlb54`` file of the task, cut 80 / 20 the same
  way (stratified for classification).

One half alone is a weak guide: the same defaults were level with MLP on it
(46 / 24 / 46) and clearly behind on the test folds (26 / 37 / 53), where both
halves together agreed with the test folds (30 / 34 / 52).

Per candidate: wins/ties/losses against the baseline, mean score and rank, the
one-sided Wilcoxon test and the fit-time ratio, as ``tabular.py`` reports them
(same ties, same test). The chosen defaults are then measured on the test
folds by ``tabular.py``; docs/defaults.md records both.

Usage::

    python benchmarks/defaults.py --task classification --n-jobs 2 --out docs/results/defaults_search
    python benchmarks/defaults.py --candidates '{"name": "wide", "hidden_layer_sizes": [256, 256]}' ...
    python benchmarks/defaults.py --candidates '{"name": "auto from 500", "auto_early_stopping_rows": 500}' ...
"""

import argparse
import contextlib
import json
import os
import pathlib
import sys
import time
import warnings
import zlib

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tabular  # noqa: E402

# The last round (round 5, both tasks; docs/defaults.md): the chosen defaults
# (numerical embeddings and early stopping on the validation loss, both from
# 1,000 rows), round 4's, and each choice varied.
CANDIDATES = {
    task: [
        {"name": "defaults"},
        {"name": "round 4 defaults", "numerical_embedding": None, "early_stopping": False},
        {"name": "no embedding", "numerical_embedding": None},
        {"name": "no early stopping", "early_stopping": False},
        {"name": "MLP's early stopping (validation score)", "early_stopping": True},
        {"name": "n_bins 8", "n_bins": 8},
        {"name": "n_bins 32", "n_bins": 32},
    ]
    for task in ("classification", "regression")
}
VALIDATION_FRACTION = 0.2  # regression: the validation rows cut from split 0's training rows

# Candidate keys that are not constructor parameters: the constants of the
# "auto" rules of sksnn._base (the row counts from which they turn on, the
# plateaus early stopping trains through), set for that candidate's fits only:
# a size rule is chosen on validation splits like any default.
AUTO_RULES = {
    "auto_early_stopping_rows": "AUTO_EARLY_STOPPING_ROWS",
    "auto_embedding_rows": "AUTO_EMBEDDING_ROWS",
    "auto_plateau_decays": "AUTO_PLATEAU_DECAYS",
    "auto_plateau_factor": "AUTO_PLATEAU_FACTOR",
    "auto_plateau_restore": "AUTO_PLATEAU_RESTORE",
    "auto_plateau_patience": "AUTO_PLATEAU_PATIENCE",
    "auto_float32_rows": "AUTO_FLOAT32_ROWS",
    "auto_cycle_epochs": "AUTO_CYCLE_EPOCHS",
    "auto_final_cycle_epochs": "AUTO_FINAL_CYCLE_EPOCHS",
}


def _smooth_clip(X):
    """RealMLP-TD's smooth clipping of robustly scaled features: x / sqrt(1 + (x / 3)^2), in (-3, 3)."""
    return X / np.sqrt(1.0 + (X / 3.0) ** 2)


def _periodic_features(X, frequencies):
    """Each standardized feature z with its cos(2 pi f z) and sin(2 pi f z) for the feature's frequencies f."""
    phase = 2 * np.pi * X[:, :, None] * frequencies[None]
    n = X.shape[0]
    return np.hstack([X, np.cos(phase).reshape(n, -1), np.sin(phase).reshape(n, -1)])


def _periodic(sigma, n_frequencies=8, seed=0):
    """Standardize, then append fixed random periodic features (frequencies ~ N(0, sigma^2), per feature)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    class Periodic(FunctionTransformer):
        def fit(self, X, y=None):
            frequencies = np.random.RandomState(seed).normal(0.0, sigma, (X.shape[1], n_frequencies))
            self.kw_args = {"frequencies": frequencies}
            return super().fit(X, y)

    return make_pipeline(StandardScaler(), Periodic(_periodic_features))


def _preprocessing(name):
    """The transformer a ``"preprocessing"`` candidate puts before sksnn (whose scaler still standardizes after it).

    A probe of input transforms before building one in: "robust_smooth_clip"
    (median and interquartile range, then smooth clipping, as RealMLP-TD
    prepares numerical features), "quantile_normal" (scikit-learn's
    QuantileTransformer to a normal distribution, as TabM's papers prepare
    them for MLPs), "periodic_<sigma>" (each standardized feature with 8
    cosines and 8 sines of fixed random frequencies ~ N(0, sigma^2): the
    periodic embedding of Gorishniy et al. 2022 without learned frequencies,
    a probe of whether building the learned one could pay; pair it with
    ``numerical_embedding: null``).
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, QuantileTransformer, RobustScaler

    if name == "robust_smooth_clip":
        return make_pipeline(RobustScaler(), FunctionTransformer(_smooth_clip))
    if name == "quantile_normal":
        return QuantileTransformer(output_distribution="normal", subsample=20_000, random_state=0)
    if name.startswith("periodic_"):
        return _periodic(float(name.removeprefix("periodic_")))
    raise ValueError(f"unknown preprocessing {name!r}")


def _candidate_model(task, seed, candidate):
    """sksnn with the candidate's parameters, behind its preprocessing if it names one."""
    from sklearn.pipeline import make_pipeline

    skip = {"name", "preprocessing", *AUTO_RULES}
    model = tabular.models(task, seed)["sksnn"].set_params(**{k: v for k, v in candidate.items() if k not in skip})
    if "preprocessing" in candidate:
        return make_pipeline(_preprocessing(candidate["preprocessing"]), model)
    return model


def validation_split(data, task, seed=0, collection="uci"):
    """``(train rows, validation rows)``: the hyper-parameter split; never a test row."""
    if collection == "pmlb54":
        from sklearn.model_selection import train_test_split

        train = tabular.pmlb_splits(data, task, 1)[0][0]
        stratify = data["y"][train] if task == "classification" else None
        try:
            fit, val = train_test_split(train, test_size=VALIDATION_FRACTION, random_state=seed, stratify=stratify)
        except ValueError:  # a class too small to stratify
            fit, val = train_test_split(train, test_size=VALIDATION_FRACTION, random_state=seed)
        return fit, val
    if task == "classification":
        return data["val_train"], data["val_val"]
    train = tabular.regression_splits(data, 1)[0][0]
    order = np.random.RandomState(seed).permutation(len(train))
    n_val = int(round(VALIDATION_FRACTION * len(train)))
    return train[order[n_val:]], train[order[:n_val]]


def _score(task, model, X, y):
    from sklearn.metrics import accuracy_score, mean_squared_error, r2_score

    predicted = model.predict(X)
    if task == "classification":
        return {"accuracy": accuracy_score(y, predicted)}
    return {"rmse": float(np.sqrt(mean_squared_error(y, predicted))), "r2": r2_score(y, predicted)}


def validation_splits(data, task, halves, seed=0, collection="uci"):
    """``halves`` (1 or 2) train/validation splits: the split and its mirror, or two cuts."""
    first = validation_split(data, task, seed, collection)
    if halves == 1:
        return [first]
    if task == "classification" and collection == "uci":
        return [first, first[::-1]]
    return [first, validation_split(data, task, seed + 1, collection)]


@contextlib.contextmanager
def _auto_rules(rules):
    """sksnn._base's "auto" constants set to ``rules`` (name: value), restored on exit.

    A constant kept per estimator kind (``AUTO_PLATEAU_DECAYS``) takes the
    one value for both: a candidate's fits are of one task.
    """
    from sksnn import _base

    saved = {name: getattr(_base, name) for name in rules}
    try:
        for name, value in rules.items():
            setattr(_base, name, dict.fromkeys(saved[name], value) if isinstance(saved[name], dict) else value)
        yield
    finally:
        for name, value in saved.items():
            setattr(_base, name, value)


def fit_order(candidates, dataset):
    """The candidates in the order one data set fits them: rotated by the data set's name.

    A data set's first sksnn fit compiles its network's shapes and later
    candidates of the same shapes reuse them (round 7: ~0.5x the first's fit
    time for that reason alone); a rotation per data set spreads that cost
    over the candidates, where one fixed order charged it to the first.
    """
    start = zlib.crc32(dataset.encode()) % len(candidates)
    return candidates[start:] + candidates[:start]


def run_dataset(path, task, candidates, seed, halves=1, collection="uci"):
    """``{candidate name: {"sksnn": scores, "mlp": baseline scores}}`` on one data set's validation split(s)."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    tabular._warm_up(task)
    with np.load(path) as data:
        data = dict(data)
    X, y = data["X"], data["y"]
    splits = validation_splits(data, task, halves, seed, collection)
    fitted = {}
    models = tabular.models(task, seed)
    for name, model, rules in [("mlp", models["mlp"], {})] + [
        (c["name"], _candidate_model(task, seed, c), {AUTO_RULES[k]: v for k, v in c.items() if k in AUTO_RULES})
        for c in fit_order(candidates, path.stem)
    ]:
        scores, start = [], time.perf_counter()
        try:
            with _auto_rules(rules):
                for train, val in splits:
                    model.fit(X[train], y[train])
                    scores.append(_score(task, model, X[val], y[val]))
            mean = {metric: float(np.mean([s[metric] for s in scores])) for metric in scores[0]}
            fitted[name] = {"fit_s": time.perf_counter() - start, **mean}
        except ValueError as error:  # e.g. early stopping on a set too small to hold rows out
            fitted[name] = {"error": str(error)}
    common = {"dataset": path.stem, "rows": len(splits[0][0]), "features": X.shape[1]}
    return {c["name"]: {**common, "sksnn": fitted[c["name"]], "mlp": fitted["mlp"]} for c in candidates}


# Size bands of the summary, by the rows a candidate is trained on.
BANDS = ((0, 1000, "< 1,000 rows"), (1000, np.inf, ">= 1,000 rows"))


def summary_table(per_candidate, task):
    """One line per candidate and size band (all sets, then each band)."""
    metric = "accuracy" if task == "classification" else "rmse"
    lines = [
        f"| candidate | rows | data sets | wins / ties / losses | mean {metric} candidate / MLP | "
        "Wilcoxon p (candidate better) | fit time candidate / MLP |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, results in per_candidate.items():
        for low, high, band in ((0, np.inf, "all"), *BANDS):
            in_band = [r for r in results if low <= r["rows"] < high]
            ok = [r for r in in_band if "error" not in r["sksnn"]]
            if not ok:
                continue
            s = tabular.compare(ok, task)
            failed = f" ({len(in_band) - len(ok)} failed)" if len(ok) < len(in_band) else ""
            lines.append(_summary_line(name, band, s, failed, metric))
    return "\n".join(lines) + "\n"


def _summary_line(name, band, s, failed, metric):
    return (
        f"| {name} | {band} | {s['datasets']}{failed} | {s['wins']} / {s['ties']} / {s['losses']} | "
        f"{s[f'mean_{metric}_sksnn']:.4f} / {s[f'mean_{metric}_mlp']:.4f} | "
        f"{s['wilcoxon_p_sksnn_better']:.3g} | {s['fit_s_sksnn'] / max(s['fit_s_mlp'], 1e-9):.2f}x |"
    )


def against_table(per_candidate, reference, task):
    """Each other candidate against the candidate ``reference`` (not MLP): the summary, then per data set.

    Ties and the test are ``tabular.compare``'s, with ``reference`` in MLP's place.
    """
    metric = "accuracy" if task == "classification" else "rmse"
    base = {r["dataset"]: r["sksnn"] for r in per_candidate[reference] if "error" not in r["sksnn"]}
    paired = {
        name: [{**r, "mlp": base[r["dataset"]]} for r in results if "error" not in r["sksnn"] and r["dataset"] in base]
        for name, results in per_candidate.items()
        if name != reference
    }
    lines = [
        f"| candidate | rows | data sets | wins / ties / losses against {reference} | mean {metric} candidate / "
        f"{reference} | Wilcoxon p (candidate better) | fit time candidate / {reference} |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, results in paired.items():
        for low, high, band in ((0, np.inf, "all"), *BANDS):
            in_band = [r for r in results if low <= r["rows"] < high]
            if in_band:
                lines.append(_summary_line(name, band, tabular.compare(in_band, task), "", metric))
    names = list(paired)
    lines += [
        "",
        f"| data set | rows | {metric}: {reference} / " + " / ".join(names) + " / MLP | fit s: "
        f"{reference} / " + " / ".join(names) + " |",
        "|---|---|---|---|",
    ]
    for r in per_candidate[reference]:
        if r["dataset"] not in base:
            continue
        others = [next(o for o in per_candidate[n] if o["dataset"] == r["dataset"])["sksnn"] for n in names]
        scores = [base[r["dataset"]], *others]
        lines.append(
            f"| {r['dataset']} | {r['rows']} | "
            + " / ".join(f"{x[metric]:.4f}" if metric in x else "failed" for x in [*scores, r["mlp"]])
            + " | "
            + " / ".join(f"{x['fit_s']:.1f}" if "fit_s" in x else "-" for x in scores)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["classification", "regression"], default="classification")
    parser.add_argument("--collection", choices=["uci", "pmlb54"], default="uci", help="uci: uci121 / uci_regression")
    parser.add_argument("--candidates", nargs="+", type=json.loads, help="JSON objects: a name and parameters")
    parser.add_argument("--datasets", help="comma-separated names (default: every file of the collection)")
    parser.add_argument("--backend", choices=["tensorflow", "jax"], help="KERAS_BACKEND for sksnn")
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--halves", type=int, choices=(1, 2), default=1, help="2: the split and its mirror (see above)")
    parser.add_argument("--data-dir", type=pathlib.Path, default=tabular.DEFAULT_DATA)
    parser.add_argument("--out", type=pathlib.Path, help="write the table (.md) and the raw results (.json)")
    parser.add_argument("--against", help="also compare every candidate with this one, per data set")
    parser.add_argument(
        "--report", type=pathlib.Path, help="the tables of an earlier run's .json (with its --task), fitting nothing"
    )
    args = parser.parse_args(argv)
    if args.report:
        per_candidate = json.loads(args.report.read_text())["results"]
        print(summary_table(per_candidate, args.task))
        if args.against:
            print(against_table(per_candidate, args.against, args.task))
        return 0
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    from joblib import Parallel, delayed

    candidates = args.candidates or CANDIDATES[args.task]
    if args.collection == "pmlb54":
        folder = args.data_dir / "pmlb54"
        paths = sorted(folder.glob(("clf_" if args.task == "classification" else "reg_") + "*.npz"))
    else:
        folder = args.data_dir / ("uci121" if args.task == "classification" else "uci_regression")
        paths = sorted(folder.glob("*.npz"))
    if args.datasets:
        paths = [folder / f"{n}.npz" for n in args.datasets.split(",")]
    started = time.time()
    per_dataset = Parallel(n_jobs=args.n_jobs)(
        delayed(run_dataset)(p, args.task, candidates, args.seed, args.halves, args.collection) for p in paths
    )
    per_candidate = {c["name"]: [d[c["name"]] for d in per_dataset] for c in candidates}
    command = "python benchmarks/defaults.py " + " ".join(argv if argv is not None else sys.argv[1:])
    page = (
        f"## {args.task.capitalize()}, validation splits of {args.collection}: {len(paths)} data sets\n\n"
        + summary_table(per_candidate, args.task)
        + f"\n`{command}`: {time.time() - started:.0f} s, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n"
    )
    if args.against:
        page += f"\nAgainst {args.against}:\n\n" + against_table(per_candidate, args.against, args.task)
    print(page, flush=True)
    if args.out:
        args.out.with_suffix(".md").write_text(page)
        args.out.with_suffix(".json").write_text(json.dumps({"candidates": candidates, "results": per_candidate}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
