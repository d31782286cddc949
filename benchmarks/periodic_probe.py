"""A probe outside sksnn: levers of RealMLP and of the embeddings paper, tried in one bare Keras recipe first.

Written for round 9 of the defaults (learned periodic embeddings), then the
home of every lever that needs new machinery in the network before sksnn
builds it: RealMLP's scaling layer (round 10), its parametric activations
and its learning-rate schedule (round 11).

Round 9's question: whether the periodic embedding of Gorishniy et al. 2022
("PLR": each feature ``z`` as ``cos(2 pi c z)``, ``sin(2 pi c z)`` over
``k`` frequencies ``c`` *learned* from ``N(0, sigma^2)``, then a per-feature
linear layer to ``d`` numbers and a ReLU) would beat sksnn's piecewise-linear
encoding (16 quantile bins, appended to X) before either is built into the
network. Round 9 of the defaults found the *fixed*-frequency form behind;
learning the frequencies needs a layer of its own, which this script builds
in plain Keras.

All arms share one bare recipe, close to sksnn's defaults from 1,000 rows
but not sksnn's code: standardized X (and y in regression), two SELU layers of
100 (LeCun normal), a zero output kernel, Nadam 1e-3, batch 200, an L2 penalty
of 1e-2 / 2 per batch of 200 on the hidden kernels (MLP's scaling), label smoothing 0.1, up to 200 epochs
stopped on the loss of 10% held-out rows (patience 10, the best epoch's
weights kept). "ple": X with each feature's encoding (sksnn's own
``PiecewiseLinearEncoding``, features of 3+ distinct values); "plr": X with
each such feature's PLR (``k=8`` frequencies, ``d=16``, so 16 numbers per
feature as the encoding has); "ple_scale": "ple" with RealMLP's scaling
layer on every input column (a learned factor per column, starting at 1,
learning 6x faster: ``6 v`` with ``v`` from 1/6, which under Nadam is a 6x
learning rate; no penalty); "..._pact": the hidden layers' SELU made
parametric as RealMLP's activations are, ``x + (selu(x) - x) * w`` with a
learned ``w`` per unit starting at 1 (so SELU at the start) at a tenth of the
learning rate (``w = v / 10``, ``v`` from 10; no penalty), "..._pact1" the
same at the full learning rate (RealMLP trains 256 epochs, these fits tens:
at a tenth the ``w`` stay within 1 +- 0.1); "..._coslog":
RealMLP-TD's schedule instead of stopping, a fixed budget of 64 epochs with
the learning rate ``2e-3 * (1 - cos(2 pi log2(1 + 15 t))) / 2`` at the
fraction ``t`` of the steps (four cycles, each from zero; RealMLP's
"coslog4"), the epoch of the lowest held-out loss kept; "..._cycles": the
same peak in cosine cycles of 16 epochs, each from ``2e-3`` down to zero
(warm restarts, Loshchilov & Hutter 2017), stopped a cycle's length (16
epochs) after the lowest held-out loss, the best epoch kept;
"ple_scale_plateau": sksnn's regressor's rule from 1,000 rows on the bare
recipe (round 7: at the first plateau, back to the best epoch's weights at a
tenth of the learning rate, stopped 2 epochs without a lower loss later),
the reference a schedule must beat to be worth building. ``--arms``
picks them, the first the reference of the others. Rows: the validation splits of ``benchmarks/defaults.py``
(never a test row), both halves.

Usage::

    python benchmarks/periodic_probe.py --task classification --collection pmlb54 --min-rows 1000 --n-jobs 2
    python benchmarks/periodic_probe.py --arms ple,ple_scale --task regression --collection uci --n-jobs 2
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import defaults  # noqa: E402
import tabular  # noqa: E402

ARMS = ("ple", "plr", "ple_scale", "ple_pact", "ple_scale_pact", "ple_pact1", "ple_scale_pact1")
ARMS += ("ple_coslog", "ple_scale_coslog", "ple_cycles", "ple_scale_cycles", "ple_scale_plateau")
COSLOG_EPOCHS = 64  # a quarter of RealMLP-TD's 256: near the stopping arms' fit time
COSLOG_PEAK = 2e-3  # RealMLP-TD's 0.04 under its NTK parametrization, ~0.04 / sqrt(256) here
CYCLE_EPOCHS = 16


def periodic_layer_class():
    """The PLR layer (defined once Keras is imported): ``(n, f) -> (n, f * d)``."""
    import keras
    from keras import ops

    class PeriodicLinearReLU(keras.layers.Layer):
        def __init__(self, k=8, d=16, sigma=0.1, seed=0, **kwargs):
            super().__init__(**kwargs)
            self.k, self.d, self.sigma, self.seed = k, d, sigma, seed

        def build(self, input_shape):
            f = input_shape[-1]
            normal = keras.initializers.RandomNormal(stddev=self.sigma, seed=self.seed)
            self.frequencies = self.add_weight(shape=(f, self.k), initializer=normal, name="frequencies")
            uniform = keras.initializers.RandomUniform(
                -((2 * self.k) ** -0.5), (2 * self.k) ** -0.5, seed=self.seed + 1
            )
            self.kernel = self.add_weight(shape=(f, 2 * self.k, self.d), initializer=uniform, name="kernel")
            self.bias = self.add_weight(shape=(f, self.d), initializer="zeros", name="bias")

        def call(self, z):
            phase = 2 * np.pi * z[..., None] * self.frequencies  # (n, f, k)
            periodic = ops.concatenate([ops.cos(phase), ops.sin(phase)], axis=-1)  # (n, f, 2k)
            out = ops.relu(ops.einsum("nfk,fkd->nfd", periodic, self.kernel) + self.bias)
            return ops.reshape(out, (-1, z.shape[-1] * self.d))

    return PeriodicLinearReLU


def input_scale_class():
    """RealMLP's scaling layer (defined once Keras is imported): each column times a learned factor.

    The factor is ``speed * v`` with ``v`` from ``1 / speed``: it starts at 1
    and, under Nadam, learns at ``speed`` times the learning rate.
    """
    import keras

    class InputScale(keras.layers.Layer):
        def __init__(self, speed=6.0, **kwargs):
            super().__init__(**kwargs)
            self.speed = speed

        def build(self, input_shape):
            start = keras.initializers.Constant(1.0 / self.speed)
            self.factor = self.add_weight(shape=(input_shape[-1],), initializer=start, name="factor")

        def call(self, x):
            return x * (self.speed * self.factor)

    return InputScale


def parametric_selu_class():
    """RealMLP's parametric activation around SELU (defined once Keras is imported): one learned ``w`` per unit.

    ``w`` is the input scale's learned factor (from 1, at ``speed`` times the
    learning rate), used as ``x + (selu(x) - x) * w``.
    """
    from keras import ops

    class ParametricSelu(input_scale_class()):
        def __init__(self, speed=0.1, **kwargs):
            super().__init__(speed=speed, **kwargs)

        def call(self, x):
            return x + (ops.selu(x) - x) * (self.speed * self.factor)

    return ParametricSelu


def coslog_schedule(total_steps):
    """RealMLP's "coslog4" learning rate over ``total_steps`` (defined once Keras is imported)."""
    import keras
    from keras import ops

    class CosLog4(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            t = ops.minimum(ops.cast(step, "float32") / total_steps, 1.0)
            return COSLOG_PEAK * 0.5 * (1 - ops.cos(2 * np.pi * ops.log2(1 + 15 * t)))

    return CosLog4()


def cycles_schedule(steps_per_epoch):
    """Cosine cycles of ``CYCLE_EPOCHS`` epochs from ``COSLOG_PEAK`` to zero (defined once Keras is imported)."""
    import keras
    from keras import ops

    period = CYCLE_EPOCHS * steps_per_epoch

    class CosineCycles(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            t = ops.mod(ops.cast(step, "float32"), period) / period
            return COSLOG_PEAK * 0.5 * (1 + ops.cos(np.pi * t))

    return CosineCycles()


def plateau_callback():
    """sksnn's regressor's plateau rule (``_base.AUTO_PLATEAU_*``) as a Keras callback."""
    import keras

    class ResumeSlowerOnce(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.best, self.wait, self.decayed, self.best_weights = np.inf, 0, False, None

        def on_epoch_end(self, epoch, logs=None):
            loss = logs["val_loss"]
            if loss < self.best:
                self.best, self.wait, self.best_weights = loss, 0, self.model.get_weights()
                return
            self.wait += 1
            if self.wait < (2 if self.decayed else 10):
                return
            if self.decayed:
                self.model.stop_training = True
                return
            self.model.set_weights(self.best_weights)
            self.model.optimizer.learning_rate = float(self.model.optimizer.learning_rate) / 10
            self.wait, self.decayed = 0, True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    return ResumeSlowerOnce()


def build_model(arm, n_inputs, n_encoded, n_outputs, task, seed, total_steps=None, steps_per_epoch=None):
    """The bare network: ``n_inputs`` standardized columns, ``n_encoded`` of them embedded ("plr") or pre-encoded."""
    import keras

    keras.utils.set_random_seed(seed)
    l2 = keras.regularizers.L2(1e-2 / (2 * 200))  # MLP's alpha / 2 * ||W||^2 over a batch of 200 rows
    x = inputs = keras.Input((n_inputs,))
    if arm == "plr" and n_encoded:
        encoded = keras.layers.Lambda(lambda t: t[:, n_inputs - n_encoded :])(inputs)
        x = keras.layers.Concatenate()([inputs, periodic_layer_class()(seed=seed)(encoded)])
    if "_scale" in arm:
        x = input_scale_class()()(x)
    parametric = arm.endswith(("_pact", "_pact1"))
    for _ in range(2):
        x = keras.layers.Dense(
            100, activation=None if parametric else "selu", kernel_initializer="lecun_normal", kernel_regularizer=l2
        )(x)
        if parametric:
            x = parametric_selu_class()(speed=1.0 if arm.endswith("_pact1") else 0.1)(x)
    out = keras.layers.Dense(
        n_outputs, kernel_initializer="zeros", activation="softmax" if task == "classification" else None
    )(x)
    model = keras.Model(inputs, out)
    loss = (
        keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
        if task == "classification"
        else keras.losses.MeanSquaredError()
    )
    rate = 1e-3
    if arm.endswith("_coslog"):
        rate = coslog_schedule(total_steps)
    elif arm.endswith("_cycles"):
        rate = cycles_schedule(steps_per_epoch)
    model.compile(optimizer=keras.optimizers.Nadam(rate), loss=loss)
    return model


def fit_score(arm, task, X_train, y_train, X_val, y_val, seed):
    """One arm's validation score (accuracy or RMSE) and fit seconds."""
    import keras
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer, StandardScaler

    from sksnn._embeddings import PiecewiseLinearEncoding

    scaler = StandardScaler().fit(X_train)
    Z_train, Z_val = scaler.transform(X_train), scaler.transform(X_val)
    encoding = PiecewiseLinearEncoding(16).fit(X_train, seed=seed)
    columns = encoding.feature_index_
    if arm != "plr":  # the encoding's components, standardized as sksnn's scaler does
        encoded = encoding.transform(X_train)[:, X_train.shape[1] :]
        components = StandardScaler().fit(encoded)
        Z_train = np.hstack([Z_train, components.transform(encoded)])
        Z_val = np.hstack([Z_val, components.transform(encoding.transform(X_val)[:, X_train.shape[1] :])])
        n_encoded = 0
    else:  # the features the encoding encodes, again at the end, for the PLR layer
        unique = np.unique(columns)
        Z_train, Z_val = np.hstack([Z_train, Z_train[:, unique]]), np.hstack([Z_val, Z_val[:, unique]])
        n_encoded = len(unique)
    if task == "classification":
        binarizer = LabelBinarizer().fit(y_train)
        Y = binarizer.transform(y_train).astype(np.float32)
        if Y.shape[1] == 1:
            Y = np.hstack([1 - Y, Y])
    else:
        target = StandardScaler().fit(y_train.reshape(-1, 1))
        Y = target.transform(y_train.reshape(-1, 1)).astype(np.float32)
    start = time.perf_counter()
    stratify = y_train if task == "classification" else None
    try:
        fit, held = train_test_split(np.arange(len(Y)), test_size=0.1, random_state=seed, stratify=stratify)
    except ValueError:
        fit, held = train_test_split(np.arange(len(Y)), test_size=0.1, random_state=seed)
    epochs = COSLOG_EPOCHS if arm.endswith("_coslog") else 200
    steps_per_epoch = -(-len(fit) // 200)
    model = build_model(
        arm, Z_train.shape[1], n_encoded, Y.shape[1], task, seed, epochs * steps_per_epoch, steps_per_epoch
    )
    if arm.endswith("_plateau"):
        stop = plateau_callback()
    else:  # the coslog arm trains its whole budget, the cycles arm whole cycles; all keep their best epoch
        patience = epochs if arm.endswith("_coslog") else CYCLE_EPOCHS if arm.endswith("_cycles") else 10
        stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    model.fit(
        Z_train[fit].astype(np.float32), Y[fit], validation_data=(Z_train[held].astype(np.float32), Y[held]),
        batch_size=200, epochs=epochs, callbacks=[stop], verbose=0,
    )  # fmt: skip
    predicted = model.predict(Z_val.astype(np.float32), batch_size=4096, verbose=0)
    seconds = time.perf_counter() - start
    if task == "classification":
        labels = binarizer.classes_[np.argmax(predicted, axis=1)]  # two classes: columns [1 - y, y]
        return float(np.mean(labels == y_val)), seconds
    predicted = target.inverse_transform(predicted).ravel()
    return float(np.sqrt(np.mean((predicted - y_val) ** 2))), seconds


def run_dataset(path, task, collection, halves, seed, arms=ARMS[:2]):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    with np.load(path) as data:
        data = dict(data)
    X, y = data["X"].astype(np.float64), data["y"]
    result = {
        "dataset": path.stem,
        "rows": len(y),
        "scores": {arm: [] for arm in arms},
        "fit_s": dict.fromkeys(arms, 0.0),
    }
    for train, val in defaults.validation_splits(data, task, halves, seed, collection):
        result["train_rows"] = len(train)
        for arm in arms:
            score, seconds = fit_score(arm, task, X[train], y[train], X[val], y[val], seed)
            result["scores"][arm].append(score)
            result["fit_s"][arm] += seconds
    return result


def report(results, task, arms=ARMS[:2]):
    """Each arm after the first against the first: wins / ties / losses, mean gain, Wilcoxon, fit time; per set."""
    from scipy.stats import wilcoxon

    better = (lambda a, b: a - b) if task == "classification" else (lambda a, b: (b - a) / b)
    tie = tabular.TIE_ACCURACY if task == "classification" else tabular.TIE_RMSE
    reference = arms[0]
    gain = "points" if task == "classification" else "% RMSE"
    metric = "accuracy" if task == "classification" else "RMSE"
    lines = []
    for arm in arms[1:]:
        gains = np.array([better(np.mean(r["scores"][arm]), np.mean(r["scores"][reference])) for r in results])
        wins, losses = int(np.sum(gains > tie)), int(np.sum(gains < -tie))
        p = wilcoxon(gains, alternative="greater").pvalue if np.any(gains) else 1.0
        seconds = {a: sum(r["fit_s"][a] for r in results) for a in (reference, arm)}
        lines.append(
            f"{arm} against {reference}, {len(results)} data sets: {wins} / {len(results) - wins - losses} / {losses}, "
            f"mean gain {np.mean(gains) * 100:+.2f} {gain}, one-sided Wilcoxon p {p:.3g}, "
            f"fit time {arm} / {reference} {seconds[arm] / seconds[reference]:.2f}x"
        )
    names = " / ".join(arms)
    lines += ["", f"| data set | training rows | {metric}: {names} | fit s: {names} |", "|---|---|---|---|"]
    for r in results:
        scores = " / ".join(f"{np.mean(r['scores'][a]):.4f}" for a in arms)
        fit_s = " / ".join(f"{r['fit_s'][a]:.1f}" for a in arms)
        lines.append(f"| {r['dataset']} | {r['train_rows']} | {scores} | {fit_s} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["classification", "regression"], default="classification")
    parser.add_argument("--collection", choices=["uci", "pmlb54"], default="pmlb54")
    parser.add_argument("--min-rows", type=int, default=1000, help="training rows of the first validation split")
    parser.add_argument("--halves", type=int, choices=[1, 2], default=2)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", default="ple,plr", help=f"comma-separated, of {', '.join(ARMS)}; first: reference")
    parser.add_argument("--datasets", help="comma-separated names (default: every file of the collection)")
    parser.add_argument("--data-dir", type=pathlib.Path, default=tabular.DEFAULT_DATA)
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args(argv)
    arms = tuple(args.arms.split(","))
    if len(arms) < 2 or not set(arms) <= set(ARMS):
        parser.error(f"--arms: two or more of {', '.join(ARMS)}")
    from joblib import Parallel, delayed

    names = args.datasets.split(",") if args.datasets else None
    paths = []
    for path in tabular.dataset_paths(args.data_dir, args.collection, args.task, names):
        with np.load(path) as data:
            data = dict(data)
        if len(defaults.validation_split(data, args.task, args.seed, args.collection)[0]) >= args.min_rows:
            paths.append(path)
    started = time.time()
    results = Parallel(n_jobs=args.n_jobs)(
        delayed(run_dataset)(p, args.task, args.collection, args.halves, args.seed, arms) for p in paths
    )
    command = "python benchmarks/periodic_probe.py " + " ".join(argv if argv is not None else sys.argv[1:])
    page = (
        f"## {args.task.capitalize()}, validation splits of {args.collection}, >= {args.min_rows} training rows\n\n"
        + report(results, args.task, arms)
        + f"\n\n`{command}`: {time.time() - started:.0f} s, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}\n"
    )
    print(page)
    if args.out:
        args.out.with_suffix(".md").write_text(page)
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
