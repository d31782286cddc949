"""sksnn beside the best MLP-family defaults: TabM-D and RealMLP-TD (pytabkit).

The same data, splits and seed as ``tabular.py``, four models fitted one after
the other on every split, in one process:

- ``sksnn``: ``SNNClassifier`` / ``SNNRegressor`` with defaults;
- ``mlp``: the standardized MLP of ``tabular.py`` (the baseline of every
  comparison in these docs);
- ``tabm_d``: pytabkit's ``TabM_D_Classifier`` / ``TabM_D_Regressor`` (TabM,
  Gorishniy et al. 2024: 32 packed members, 512 units, stopping on a 20%
  validation split with patience 16);
- ``realmlp_td``: pytabkit's ``RealMLP_TD_Classifier`` / ``RealMLP_TD_Regressor``
  (Holzmueller et al. 2024: tuned defaults, 256 epochs, best epoch on a 20%
  validation split).

The anchors run on PyTorch's CPU build with as many threads as the machine has
cores (MLP's BLAS and sksnn's backend use them too). They are not sksnn
dependencies: install them beside sksnn (``pip install torch==<cpu build>``
first where PyPI's default is a CUDA build, then ``pip install sksnn[anchors]``).

Each data set's results are appended to ``--out`` (JSON lines) as soon as its
splits are done, so a long run can be stopped and resumed: data sets already
in the file are skipped. ``--report`` turns the file into the comparison
(Markdown): every model against the MLP, and sksnn against each anchor, with
``tabular.py``'s ties and one-sided Wilcoxon test, and the fit-time ratios.
TabM-D's 32 members of 512 units cost minutes per fit on a laptop CPU:
``--max-rows tabm_d=N`` leaves it out above N rows (recorded, and said in the
report).

Usage::

    python benchmarks/anchors.py --task classification --collection pmlb54 --splits 1 \\
        --min-rows 1000 --max-rows tabm_d=7000 --out docs/results/anchors_pmlb54.jsonl
    python benchmarks/anchors.py --report docs/results/anchors_pmlb54.jsonl
"""

import argparse
import json
import os
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import tabular  # noqa: E402

MODELS = ("sksnn", "mlp", "tabm_d", "realmlp_td")
LABELS = {"sksnn": "sksnn", "mlp": "MLP", "tabm_d": "TabM-D", "realmlp_td": "RealMLP-TD"}


def anchor(name, task, seed):
    """pytabkit's estimator ``name`` with its defaults, on the CPU (ImportError names the extra)."""
    try:
        import pytabkit
    except ImportError as error:
        raise ImportError(f"{LABELS[name]} needs pytabkit: pip install 'sksnn[anchors]'") from error
    kind = "Classifier" if task == "classification" else "Regressor"
    cls = getattr(pytabkit, {"tabm_d": "TabM_D_", "realmlp_td": "RealMLP_TD_"}[name] + kind)
    return cls(random_state=seed, device="cpu", n_threads=os.cpu_count(), verbosity=0)


def model(name, task, seed):
    if name in ("sksnn", "mlp"):
        return tabular.models(task, seed)[name]
    return anchor(name, task, seed)


def run_dataset(path, task, n_splits, seed, names, max_rows):
    """Scores and fit times of every model in ``names`` on one data set (None: left out by ``max_rows``)."""
    from sklearn.metrics import accuracy_score, mean_squared_error

    with np.load(path) as data:
        data = dict(data)
    X, y = data["X"], data["y"]
    result = {"dataset": path.stem, "task": task, "rows": len(y), "features": X.shape[1], "splits": n_splits}
    fitted = [n for n in names if len(y) <= max_rows.get(n, np.inf)]
    result.update({n: None for n in names if n not in fitted})
    totals = {n: {"fit_s": 0.0, "scores": []} for n in fitted}
    for train, test in tabular.dataset_splits(path, data, task, n_splits):
        for name in fitted:  # interleaved: every model on a split before the next split
            estimator = model(name, task, seed)
            start = time.perf_counter()
            estimator.fit(X[train], y[train])
            totals[name]["fit_s"] += time.perf_counter() - start
            predicted = np.asarray(estimator.predict(X[test])).reshape(-1)
            if task == "classification":
                totals[name]["scores"].append(accuracy_score(y[test], predicted))
            else:
                totals[name]["scores"].append(float(np.sqrt(mean_squared_error(y[test], predicted))))
    metric = "accuracy" if task == "classification" else "rmse"
    for name, total in totals.items():
        result[name] = {"fit_s": total["fit_s"], metric: float(np.mean(total["scores"]))}
    return result


def read(path):
    path = pathlib.Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------ summary
def pair(results, ours, theirs):
    """``tabular.compare`` of model ``ours`` against ``theirs`` on the data sets that have both."""
    both = [r for r in results if r.get(ours) and r.get(theirs)]
    if not both:
        return None
    renamed = [{"dataset": r["dataset"], "rows": r["rows"], "sksnn": r[ours], "mlp": r[theirs]} for r in both]
    summary = tabular.compare(renamed, both[0]["task"])
    if both[0]["task"] == "regression":  # mean RMSEs follow the sets of large targets: the typical ratio too
        summary["geomean_rmse_ratio"] = float(
            np.exp(np.mean([np.log(r[ours]["rmse"] / r[theirs]["rmse"]) for r in both]))
        )
    return summary


def report(results, header):
    """The comparison as Markdown: every model against MLP, sksnn against each anchor, then per data set."""
    lines = [header, ""]
    for task in ("classification", "regression"):
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        metric = "accuracy" if task == "classification" else "rmse"
        present = [n for n in MODELS if any(r.get(n) for r in rows)]
        lines += [f"### {task} ({len(rows)} data sets)", ""]
        lines += ["| model A | model B | data sets | A wins / ties / losses | mean " + metric + " A / B | "
                  "Wilcoxon p (A better) | fit time A / B |" + (" RMSE A / B, geometric mean |" if metric == "rmse"
                  else ""), "|---|---|---|---|---|---|---|" + ("---|" if metric == "rmse" else "")]  # fmt: skip
        pairs = [(n, "mlp") for n in present if n != "mlp"] + [
            ("sksnn", n) for n in present if n not in ("sksnn", "mlp")
        ]
        for ours, theirs in pairs:
            s = pair(rows, ours, theirs)
            if s is None:
                continue
            ratio = s["fit_s_sksnn"] / max(s["fit_s_mlp"], 1e-9)
            lines.append(
                f"| {LABELS[ours]} | {LABELS[theirs]} | {s['datasets']} | {s['wins']} / {s['ties']} / {s['losses']} | "
                f"{s[f'mean_{metric}_sksnn']:.4f} / {s[f'mean_{metric}_mlp']:.4f} | "
                f"{s['wilcoxon_p_sksnn_better']:.3g} | {ratio:.2f}x |"
                + (f" {s['geomean_rmse_ratio']:.3f} |" if metric == "rmse" else "")
            )
        left_out = {n: [r["dataset"] for r in rows if n in r and r[n] is None] for n in present}
        for name, sets in left_out.items():
            if sets:
                lines += ["", f"{LABELS[name]} left out (rows above --max-rows): {', '.join(sets)}."]
        lines += ["", "| data set | rows | " + " | ".join(f"{LABELS[n]} {metric}" for n in present)
                  + " | " + " | ".join(f"{LABELS[n]} fit s" for n in present) + " |"]  # fmt: skip
        lines.append("|---|---|" + "---|" * (2 * len(present)))
        for r in sorted(rows, key=lambda r: r["rows"]):
            scores = [f"{r[n][metric]:.4f}" if r.get(n) else "-" for n in present]
            times = [f"{r[n]['fit_s']:.1f}" if r.get(n) else "-" for n in present]
            lines.append(f"| {r['dataset']} | {r['rows']} | " + " | ".join(scores + times) + " |")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------- main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["classification", "regression", "both"], default="both")
    parser.add_argument("--collection", choices=["uci", "pmlb54"], default="pmlb54")
    parser.add_argument("--datasets", help="comma-separated names (default: every file of the task in the collection)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--splits", type=int, default=1, help="splits per data set (tabular.py's, in its order)")
    parser.add_argument("--min-rows", type=int, default=1000)
    parser.add_argument("--max-rows", action="append", default=[], help="MODEL=N: leave MODEL out above N rows")
    parser.add_argument("--backend", choices=["tensorflow", "jax"], help="KERAS_BACKEND for sksnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=pathlib.Path, default=tabular.DEFAULT_DATA)
    parser.add_argument("--out", type=pathlib.Path, help="results file (JSON lines), appended to and resumed")
    parser.add_argument("--report", type=pathlib.Path, help="print the comparison of a results file and stop")
    args = parser.parse_args(argv)
    if args.report:
        print(report(read(args.report), f"## sksnn, MLP and the anchors ({args.report.name})"))
        return 0
    names = args.models.split(",")
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    max_rows = {name: int(n) for name, n in (item.split("=") for item in args.max_rows)}

    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    tabular._warm_up("classification")  # the backend's import belongs to no data set
    tasks = ["classification", "regression"] if args.task == "both" else [args.task]
    done = {(r["dataset"], r["task"]) for r in read(args.out)} if args.out else set()
    results = []
    for task in tasks:
        wanted = args.datasets.split(",") if args.datasets else None
        sizes = {}
        for path in tabular.dataset_paths(args.data_dir, args.collection, task, wanted):
            with np.load(path) as data:
                sizes[path] = len(data["y"])
        # smallest first: a run stopped early has covered the most data sets
        for path in sorted(sizes, key=sizes.get):
            if (path.stem, task) in done or sizes[path] < args.min_rows:
                continue
            result = run_dataset(path, task, args.splits, args.seed, names, max_rows)
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.out:
                with open(args.out, "a") as out:
                    out.write(json.dumps(result) + "\n")
    print(report(read(args.out) if args.out else results, "## sksnn, MLP and the anchors"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
