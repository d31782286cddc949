"""Shared estimator logic: parameters, input validation, the steps of a fit, prediction's entry.

:class:`BaseSNN` holds what SNNClassifier and SNNRegressor share. Its ``_fit``
reads as MLP's: validate the data, split off the validation rows, fit the
scalers and the target encoder, train epoch by epoch (``_fit_stochastic``,
which hands the loop to ``_training``), check the outcome, and commit every
fitted attribute at once (``_commit``). The subclasses only say how targets
are encoded, decoded and scored (the hooks).
"""

import warnings
from abc import ABC, abstractmethod
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import LabelBinarizer, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from ._activations import HIDDEN_ACTIVATIONS
from ._blocks import STREAM_BLOCK_BYTES, RowSubset, batches_in_epoch, rows_per_block
from ._embeddings import EmbeddedRows, PiecewiseLinearEncoding
from ._inference import forward, output_loss, standardize
from ._persistence import save
from ._stopping import TrainingProgress, WeightAverage
from ._warm_worker import fit_in, worker_for

KERNEL_INITIALIZERS = frozenset(
    {
        "lecun_normal",
        "lecun_uniform",
        "he_normal",
        "he_uniform",
        "glorot_normal",
        "glorot_uniform",
        "random_normal",
        "random_uniform",
        "truncated_normal",
        "orthogonal",
    }
)
SOLVERS = frozenset({"nadam", "adam", "adamw", "sgd", "rmsprop", "lbfgs"})
# Fitted attributes of the minibatch solvers only: an 'lbfgs' fit does not keep a previous fit's.
_STOCHASTIC_ATTRIBUTES = (
    "loss_curve_",
    "best_loss_",
    "validation_scores_",
    "validation_loss_curve_",
    "best_validation_score_",
    "_no_improvement_count",
    "_optimizer_state",
)
# MLP's constraints for the parameters that keep MLP's meaning: the same ranges, the same errors.
_MLP_CONSTRAINTS = MLPRegressor._parameter_constraints

_MAX_SEED = np.iinfo(np.int32).max

# The "auto" choices, on from this many rows (of the data given to fit),
# chosen on validation splits only (docs/defaults.md, round 5).
AUTO_EARLY_STOPPING_ROWS = 1000
AUTO_EMBEDDING_ROWS = 1000
_AUTO_MONITOR = "loss"
# How many plateaus of the validation loss early_stopping="auto" trains
# through, by estimator kind: at each, back to the lowest-loss epoch's weights
# (AUTO_PLATEAU_RESTORE), the learning rate divided by AUTO_PLATEAU_FACTOR,
# then on to the next plateau, which is AUTO_PLATEAU_PATIENCE epochs without
# improvement (at most n_iter_no_change; None: n_iter_no_change). Round 7
# (docs/defaults.md): lower RMSE on both regression collections' validation
# splits, no loss, and a patience of 2 after the plateau kept that for less
# time than 10; in classification +0.03 point for 10-30% more time, so the
# classifier stops at the first plateau.
AUTO_PLATEAU_DECAYS = {"classifier": 0, "regressor": 1}
AUTO_PLATEAU_FACTOR = 10.0
AUTO_PLATEAU_RESTORE = True
AUTO_PLATEAU_PATIENCE = 2
# In place of those plateaus, early_stopping="auto" may train in cosine cycles
# of the learning rate with warm restarts, by estimator kind: cycles of this
# many epochs (None: none), the rate from twice learning_rate_init down to
# zero in each (learning_rate_init on average), stopping once a whole cycle
# (or n_iter_no_change epochs, if more) passes without a lower validation
# loss. Round 12 (docs/defaults.md): lower RMSE than the plateau rule on the
# regression sets of 1,000+ rows, most where the loss falls late; level in
# classification. Nadam, Adam and AdamW cycle (_optimizers._CosineCycles);
# sgd (MLP's schedules) and rmsprop keep the plateau rule.
AUTO_CYCLE_EPOCHS = {"classifier": None, "regressor": 16}
# Once those cycles have stopped: one more cycle of this many epochs (None:
# none), from the lowest-loss epoch's weights with a fresh optimizer, on every
# row, the validation rows included; its last weights are the model. Round 13
# (docs/defaults.md): lower validation RMSE on both regression collections'
# sets of 1,000+ rows, for ~1.16x the fit time on the test splits; the same
# fit again on every row for the best epoch's count gained somewhat more on
# uci_regression at ~1.7x the time, nothing on pmlb54 nor in classification.
AUTO_FINAL_CYCLE_EPOCHS = {"classifier": None, "regressor": 8}
# dtype="auto": a float32 network from this many rows, X's dtype below (round 8,
# docs/defaults.md): float32 scored as X's float64 on every validation split,
# and below it scikit-learn's checks compare two fits of a few rows to 1e-7,
# which float32's rounding does not hold.
AUTO_FLOAT32_ROWS = 1000
# learned_input_scale="auto": the regressor's network learns a factor of each
# input from this many rows (round 10, docs/defaults.md): lower validation RMSE
# on both regression collections' sets of 1,000+ rows; level in classification.
AUTO_INPUT_SCALE_ROWS = 1000
# early_stopping="auto" keeps, by estimator kind, the best epoch of a moving
# average of the epochs' weights over about this many epochs (None: the best
# epoch's own weights), by the average's own validation loss; stopping still
# follows the weights' (_stopping.WeightAverage). Round 14 (docs/defaults.md):
# higher validation accuracy on pmlb54's sets of 1,000+ rows (4 / 9 / 0),
# level on uci121's, for ~1.07x the fit time; regression has its final cycle.
AUTO_AVERAGE_EPOCHS = {"classifier": 4, "regressor": None}


def _standardization(scaler, dtype):
    """``(mean, scale)`` of a fitted StandardScaler in ``dtype``, or None for no scaler."""
    if scaler is None:
        return None
    return scaler.mean_.astype(dtype), scaler.scale_.astype(dtype)


def _fit_scaler(X, sample_weight):
    """A StandardScaler fitted block by block.

    ``StandardScaler.fit`` makes float64 temporaries the size of X (twice the
    size of a float32 X); fitting blocks of ~8 MB through ``partial_fit``
    bounds them. One block is exactly ``fit``.
    """
    if sp.issparse(X):
        # Centering would densify X: the sparse fit (mean_variance_axis) keeps
        # mean_ and scale_, and sksnn centers each batch once it is dense.
        scaler = StandardScaler(with_mean=False).fit(X, sample_weight=sample_weight)
        scaler.scale_[scaler.scale_ < np.finfo(X.dtype).tiny] = 1.0
        return scaler
    block_rows = rows_per_block(STREAM_BLOCK_BYTES, 8 * X.shape[1])  # the float64 temporaries' rows
    scaler = StandardScaler()
    for start in range(0, X.shape[0], block_rows):
        block = slice(start, start + block_rows)
        scaler.partial_fit(X[block], sample_weight=None if sample_weight is None else sample_weight[block])
    # A spread below the smallest normal number of X's dtype (found by
    # hypothesis: a float32 column of 0 and 4.6e-42) is flushed to zero by the
    # backends: x / 0 made the loss NaN. Such a column is constant in practice.
    scaler.scale_[scaler.scale_ < np.finfo(X.dtype).tiny] = 1.0
    return scaler


def _strata(y, classes=None):
    """Class codes (int32) that stratify ``train_test_split`` exactly as MLP's binarized labels do.

    MLP stratifies on ``LabelBinarizer().fit_transform(y)``; scikit-learn
    orders the strata of such a 2-D array by each row written as a string
    ("0 0 1" before "0 1 0"): the last class first, for binary the classes'
    own order. These codes give the same strata in the same order, hence the
    same split, without a Python string per row (2,000,000 rows: ~100 MB and
    seconds). ``classes``: ``np.unique(y)`` if known.
    """
    classes = np.unique(y) if classes is None else classes
    codes = np.searchsorted(classes, y).astype(np.int32)
    return codes if len(classes) <= 2 else np.subtract(len(classes) - 1, codes, out=codes)


def _stratified_split(codes, test_size, rng):
    """``train_test_split(np.arange(n), test_size=..., stratify=codes, random_state=rng)``, in arrays.

    scikit-learn's StratifiedShuffleSplit gathers each class's rows into
    Python lists of NumPy integers: ~80 bytes a row (165 MB for 2,000,000
    rows, more than the fit of a memory-mapped X of 763 MB). The same steps
    on arrays draw the same random numbers in the same order: the same split
    (tests/test_base.py compares them).
    """
    from sklearn.utils.extmath import _approximate_mode

    n_test = int(np.ceil(test_size * len(codes)))
    n_train = len(codes) - n_test
    class_counts = np.bincount(codes)
    # 4-byte row indices: the permutations below shuffle them as they would 8-byte ones
    order = np.argsort(codes, kind="stable").astype(np.int32 if len(codes) < 2**31 else np.int64)
    class_indices = np.split(order, np.cumsum(class_counts)[:-1])
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i, rows in enumerate(class_indices):
        shuffled = rows.take(rng.permutation(class_counts[i]), mode="clip")
        train.append(shuffled[: n_i[i]])
        test.append(shuffled[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


_Outcome = namedtuple("_Outcome", ["interrupted", "reached_max_iter"])


def _rows(rows, X, *arrays):
    """``X`` and ``arrays`` at ``rows`` (None: all of them; None arrays stay None).

    A dense X becomes a :class:`~sksnn._blocks.RowSubset` (its rows are read
    block by block, X is not copied); a sparse X's rows are copied (CSR).
    """
    if rows is None:
        return (X, *arrays)
    X_rows = X[rows] if sp.issparse(X) else RowSubset(X, rows)
    return (X_rows, *(None if a is None else a[rows] for a in arrays))


# MLP's message for the same problem
_NON_FINITE = (
    "Solver produced non-finite parameter weights. The input data may contain large values and need to be preprocessed."
)


def _current_learning_rate(trainer):
    from ._network import variable_values  # reads the variable without NumPy 2's __array__ warning

    return float(variable_values([trainer.optimizer.learning_rate])[0])


def _steps_per_epoch(n_rows, batch_size):
    """The optimizer steps of one epoch of ``n_rows`` rows in batches of ``batch_size``, as the chunks pad them."""
    from ._trainer import padded_batch_size

    return batches_in_epoch(n_rows, padded_batch_size(batch_size, n_rows))


def _member_attributes(members):
    """A packed ensemble's fitted scales as attributes; both None for one network."""
    input_scales, output_scales = (None, None) if members is None else members
    return {"member_input_scales_": input_scales, "member_output_scales_": output_scales}


def _in_step_embedding(X, standardization, dtype):
    """``(X's own rows, their standardization, components)`` for a train step in ``dtype`` that encodes.

    ``X`` is the network's input, ``EmbeddedRows`` when there is an
    embedding; ``components`` is None without one, else ``(column, affine)``
    (``_trainer.TrainingNetwork.use_components``): each component
    ``(clip((x - lower) / width, 0, 1) - mean) / scale`` written for the
    standardized column ``z = (x - x_mean) / x_scale`` it encodes, as
    ``clip(z * a + b, 0, 1) * c + d``.
    """
    if not isinstance(X, EmbeddedRows):
        return X, standardization, None
    encoding, n_features = X.encoding, X.array.shape[1]
    if not len(encoding.feature_index_):  # binary or constant columns only: nothing to encode
        return X.array, standardization, None
    if standardization is None:
        x_mean, x_scale = np.zeros(n_features), np.ones(n_features)
        mean, scale = np.zeros(X.shape[1] - n_features), np.ones(X.shape[1] - n_features)
    else:
        (x_mean, mean), (x_scale, scale) = (np.split(np.asarray(v, np.float64), [n_features]) for v in standardization)
    column = encoding.feature_index_
    a = x_scale[column] / encoding.width_
    b = (x_mean[column] - encoding.lower_) / encoding.width_
    affine = np.stack([a, b, 1.0 / scale, -mean / scale]).astype(dtype)
    # (X's own columns are standardized on the host, in X's dtype)
    own = None if standardization is None else (x_mean.astype(X.dtype), x_scale.astype(X.dtype))
    return X.array, own, (column, affine)


# Validation rows whose encoded, standardized input takes at most this much
# memory are prepared once a fit, not at each epoch's validation pass.
_PREPARED_VALIDATION_BYTES = 2**25


def _validation_input(validation, standardization):
    """``(input, standardization)`` of the validation rows for ``forward`` at each epoch's end.

    ``forward`` encodes (numerical embedding) and standardizes its input block
    by block: for the validation rows at every epoch, 40% of the pass (~3 ms
    an epoch of 4,000 rows). Up to ``_PREPARED_VALIDATION_BYTES`` they are
    encoded and standardized once, by the same operations (the same numbers);
    larger or sparse ones stay as they are (memory; sparse rows: the scaler is
    folded into the first layer).
    """
    if validation is None:
        return None, ()
    X, standardization = validation[0], standardization or ()
    encoded = isinstance(X, EmbeddedRows)
    if sp.issparse(X.array if encoded else X) or not (encoded or standardization):
        return X, standardization
    if X.shape[0] * X.shape[1] * np.dtype(X.dtype).itemsize > _PREPARED_VALIDATION_BYTES:
        return X, standardization
    X = X[0 : X.shape[0]]
    return (standardize(X, *standardization) if standardization else X), ()


def _in_dtype(weights, dtype):
    """``(coefs, intercepts, members)`` as arrays of ``dtype``."""
    coefs, intercepts, members = weights
    cast = lambda arrays: [np.asarray(a).astype(dtype, copy=False) for a in arrays]  # noqa: E731
    return cast(coefs), cast(intercepts), None if members is None else (cast(members[0]), cast(members[1]))


def _check_finite(weights):
    members = weights[2] if weights[2] is not None else ((), ())
    if not all(np.isfinite(w).all() for w in (*weights[0], *weights[1], *members[0], *members[1])):
        raise ValueError(_NON_FINITE)


class BaseSNN(BaseEstimator, ABC):
    """Base class for self-normalizing network estimators.

    Warning: This class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(HIDDEN_ACTIVATIONS)],
        "kernel_initializer": [StrOptions(KERNEL_INITIALIZERS)],
        "output_initializer": [StrOptions(KERNEL_INITIALIZERS | {"zeros"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": ["boolean"],
        "solver": [StrOptions(SOLVERS)],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": _MLP_CONSTRAINTS["learning_rate"],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": _MLP_CONSTRAINTS["power_t"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": _MLP_CONSTRAINTS["momentum"],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],  # as MLP: 0 is an error only with early stopping
        "beta_1": _MLP_CONSTRAINTS["beta_1"],
        "beta_2": _MLP_CONSTRAINTS["beta_2"],
        "epsilon": _MLP_CONSTRAINTS["epsilon"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": _MLP_CONSTRAINTS["max_fun"],
        "numerical_embedding": [StrOptions({"auto", "piecewise_linear"}), None],
        "n_bins": [Interval(Integral, 2, None, closed="left")],
        "n_members": [Interval(Integral, 1, None, closed="left")],
        "learned_input_scale": ["boolean", StrOptions({"auto"})],
        "dtype": [StrOptions({"auto", "float32", "float64"}), Options(type, {np.float32, np.float64}), None],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        *,
        kernel_initializer,
        output_initializer,
        dropout,
        standardize,
        solver,
        alpha,
        batch_size,
        learning_rate,
        learning_rate_init,
        power_t,
        max_iter,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        momentum,
        nesterovs_momentum,
        early_stopping,
        validation_fraction,
        beta_1,
        beta_2,
        epsilon,
        n_iter_no_change,
        max_fun,
        numerical_embedding,
        n_bins,
        n_members,
        learned_input_scale,
        dtype,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.output_initializer = output_initializer
        self.dropout = dropout
        self.standardize = standardize
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.numerical_embedding = numerical_embedding
        self.n_bins = n_bins
        self.n_members = n_members
        self.learned_input_scale = learned_input_scale
        self.dtype = dtype

    # ------------------------------------------------------------------ hooks
    # The subclasses say how targets are encoded and scored; none of these
    # writes to the estimator: what they produce is committed by ``_fit``.
    _score_function = None  # (y_true, y_pred, sample_weight=...) -> float: the validation score

    @abstractmethod
    def _fit_target_encoder(self, y, sample_weight, train_rows, classes):
        """A new encoder of the targets, for a fit's first pass.

        ``train_rows`` are the rows trained on (None: all): statistics come
        from them; labels from all of ``y`` (or ``classes``, in partial_fit).
        """

    @property
    @abstractmethod
    def _target_encoder(self):
        """The encoder of the last committed fit."""

    @abstractmethod
    def _target_attributes(self, encoder):
        """The fitted attributes that describe ``encoder``, committed with the weights."""

    def _check_targets(self, y, incremental, classes):
        """Check a later pass's ``y`` against the fitted encoder (warm start, partial_fit)."""

    @abstractmethod
    def _encode_targets(self, y, encoder):
        """Targets as the 2-D float matrix the network is trained on."""

    def _training_targets(self, y, encoder):
        """The targets the loss is computed against: ``y`` encoded (classifiers also smooth the labels)."""
        return self._encode_targets(y, encoder)

    @abstractmethod
    def _decode(self, output, encoder):
        """Predictions from the network's ``output`` (after the output activation)."""

    @abstractmethod
    def _training_setup(self, encoder):
        """``(loss name, output activation)`` for the encoded targets."""

    def _training_sample_weight(self, y, sample_weight, encoder):
        """Per-sample training weights; classifiers fold ``class_weight`` in."""
        return sample_weight

    # ------------------------------------------------------------- fitting
    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if any(not isinstance(s, Integral) or s <= 0 for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes}.")
        return [int(s) for s in sizes]

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return int(np.clip(self.batch_size, 1, n_samples))

    def _solver_params(self):
        """The constructor parameters of the Keras optimizer that ``solver`` names (MLP's meanings)."""
        if self.solver == "sgd":
            return {"momentum": float(self.momentum), "nesterov": bool(self.nesterovs_momentum)}
        params = {"epsilon": float(self.epsilon)}
        if self.solver != "rmsprop":
            params.update(beta_1=float(self.beta_1), beta_2=float(self.beta_2))
        return params

    def _validation_rows(self, n_samples):
        """The rows early stopping holds out of ``n_samples`` (rounded up, as train_test_split rounds)."""
        return int(np.ceil(self.validation_fraction * n_samples))

    def _check_validation_size(self, n_samples, n_classes):
        """Fail clearly, before splitting, when early stopping cannot hold out enough rows."""
        n_val = self._validation_rows(n_samples)
        if n_val < max(2, n_classes) or n_samples - n_val < n_classes:
            raise ValueError(
                f"The validation set is too small: validation_fraction={self.validation_fraction} of "
                f"{n_samples} samples holds out {n_val}, and early stopping needs at least {max(2, n_classes)} "
                f"(one per class when stratified) with as many left to train on. Increase 'validation_fraction' "
                "or the size of your dataset, or set early_stopping=False."
            )

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        """Fit, as MLP's ``_fit``; the estimator changes in one place, ``_commit``.

        The steps: validate the data, split off the validation rows, fit the
        scalers and the target encoder (first pass), train epoch by epoch,
        check the outcome. A fit that raises, or that is interrupted before
        its first epoch ends, leaves every attribute as it was. In a process
        that has not started the backend, with a search's loky worker alive,
        the whole fit may run in that worker instead (``_warm_worker``).
        """
        if self.early_stopping != "auto" and self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        worker = worker_for(self, X, y, sample_weight, incremental)
        if worker is not None:  # this process has no backend; the search's worker has
            return fit_in(worker, self, X, y, sample_weight)
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        before = dict(vars(self))
        try:
            fitted, outcome = self._fit_steps(X, y, sample_weight, incremental, first_pass, classes)
        finally:
            # Undo what was written along the way (scikit-learn's validate_data
            # records the input's features on the estimator): ``fitted`` holds it.
            vars(self).clear()
            vars(self).update(before)
        if outcome.interrupted:
            warnings.warn("Training interrupted by user.")
        if fitted is None:  # interrupted before the first epoch ended: nothing was fitted
            return self
        self._commit(fitted, first_pass)
        if not incremental and outcome.reached_max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return self

    def _fit_steps(self, X, y, sample_weight, incremental, first_pass, classes):
        """``(fitted attributes or None, outcome)`` of one fit; writes nothing that lasts."""
        hidden_sizes = self._hidden_sizes()
        self._check_members(first_pass)
        X, y, sample_weight, fitted = self._validate_fit_data(X, y, sample_weight, first_pass)
        rng = check_random_state(self.random_state)
        init_seed, train_seed = (int(s) for s in rng.randint(_MAX_SEED, size=2))
        early_stopping = self._early_stopping_on(y, incremental)
        train_rows, val_rows = self._split_validation(y, rng, early_stopping)

        if first_pass:
            encoder = self._fit_target_encoder(y, sample_weight, train_rows, classes)
            fitted.update(self._target_attributes(encoder))
        else:
            self._check_targets(y, incremental, classes)
            encoder = self._target_encoder
        sample_weight = self._training_sample_weight(y, sample_weight, encoder)
        train = _rows(train_rows, X, y, sample_weight)
        validation = None if val_rows is None else _rows(val_rows, X, y, sample_weight)
        every_row = (X, y, sample_weight)  # a final cycle's (AUTO_FINAL_CYCLE_EPOCHS)

        if first_pass:
            fitted["embedding_"] = self._fit_embedding(train[0], len(y), seed=init_seed)
        embedding = fitted["embedding_"] if first_pass else getattr(self, "embedding_", None)
        if embedding is not None:  # X's columns and their encoding, block by block
            train = (EmbeddedRows(train[0], embedding), *train[1:])
            if validation is not None:
                validation = (EmbeddedRows(validation[0], embedding), *validation[1:])
            every_row = (EmbeddedRows(X, embedding), *every_row[1:])
        if first_pass:
            fitted["scaler_"] = _fit_scaler(train[0], train[2]) if self.standardize else None
        standardization = _standardization(fitted["scaler_"] if first_pass else self.scaler_, X.dtype)

        if self.solver == "lbfgs":
            progress, weights = self._fit_lbfgs(
                train, encoder, standardization, hidden_sizes=hidden_sizes, first_pass=first_pass, seed=init_seed
            )
            optimizer_state, interrupted = None, False
        else:
            progress, weights, optimizer_state, interrupted = self._fit_stochastic(
                train,
                validation,
                encoder,
                standardization,
                hidden_sizes=hidden_sizes,
                first_pass=first_pass,
                incremental=incremental,
                seeds=(init_seed, train_seed),
                early_stopping=early_stopping,
                dtype=self._network_dtype(X.dtype, len(y)),
                input_scale=self._learns_input_scale(len(y)),
                every_row=every_row,
            )
        outcome = _Outcome(
            interrupted=interrupted,
            # (L-BFGS warns with MLP's own message when it stops at max_iter)
            reached_max_iter=self.solver != "lbfgs"
            and not progress.stopped_early
            and not interrupted
            and progress.n_iter == self.max_iter,
        )
        self._check_training(progress, standardization, early_stopping)
        if progress.n_iter == 0 and self.solver != "lbfgs":  # L-BFGS may start at a minimum: 0 iterations
            return None, outcome
        if early_stopping and progress.best_weights is not None and not progress.final_cycle:
            weights = progress.best_weights
        weights = _in_dtype(weights, X.dtype)  # as MLP's, in X's dtype whatever the network trained in
        _check_finite(weights)

        fitted.update(progress.fitted_attributes())
        fitted.update(
            coefs_=weights[0],
            intercepts_=weights[1],
            **_member_attributes(weights[2]),
            n_outputs_=weights[0][-1].shape[1],
            n_layers_=len(hidden_sizes) + 2,
            out_activation_=self._training_setup(encoder)[1],
        )
        if optimizer_state is not None:  # the minibatch solvers' (partial_fit continues it)
            fitted["_optimizer_state"] = optimizer_state
        return fitted, outcome

    def _check_members(self, first_pass):
        """``n_members`` fits the solver and, for a fit that continues, the fitted network."""
        if self.n_members > 1 and self.solver == "lbfgs":
            raise ValueError(
                "solver='lbfgs' trains one network: a packed ensemble (n_members > 1) trains with a "
                "minibatch solver ('nadam', 'adam', 'adamw', 'rmsprop', 'sgd')."
            )
        asked = not isinstance(self.learned_input_scale, str) and bool(self.learned_input_scale)
        if asked and self.solver == "lbfgs":
            raise ValueError(
                "learned_input_scale=True learns with a minibatch solver ('nadam', 'adam', 'adamw', 'rmsprop', "
                "'sgd'); solver='lbfgs' trains the network's own weights only."
            )
        if not first_pass and self._n_fitted_members != self.n_members:
            raise ValueError(
                f"n_members={self.n_members} differs from the {self._n_fitted_members} member(s) of the fitted "
                "network, which warm_start and partial_fit continue; fit with warm_start=False to change it."
            )

    def _members(self):
        """The fitted ``(member_input_scales_, member_output_scales_)``, or None for one network."""
        if getattr(self, "member_input_scales_", None) is None:
            return None
        return self.member_input_scales_, self.member_output_scales_

    @property
    def _n_fitted_members(self):
        """The fitted network's member count (1 for one network)."""
        members = self._members()
        return 1 if members is None else len(members[0][0])

    def _validate_fit_data(self, X, y, sample_weight, first_pass):
        """``X, y, sample_weight`` checked, and the input's fitted attributes on a first pass."""
        X, y = validate_data(
            self,
            X,
            y,
            multi_output=True,
            y_numeric=is_regressor(self),
            dtype=(np.float64, np.float32),
            reset=first_pass,
            accept_sparse="csr",  # rows are drawn batch by batch: CSR (CSC and others are converted)
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        fitted = {}
        if first_pass:
            fitted["n_features_in_"] = self.n_features_in_
            if hasattr(self, "feature_names_in_"):
                fitted["feature_names_in_"] = self.feature_names_in_
        else:
            X = X.astype(self.coefs_[0].dtype, copy=False)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            if not sample_weight.any():  # scikit-learn checks this itself from 1.7 on
                raise ValueError("Sample weights must contain at least one non-zero number.")
        return X, y, sample_weight, fitted

    def _early_stopping_on(self, y, incremental):
        """Whether this fit stops on validation rows: ``early_stopping``, "auto" decided by the rows given.

        True and False keep MLP's meaning; "auto" holds out rows from
        ``AUTO_EARLY_STOPPING_ROWS`` rows on (as HistGradientBoosting's
        ``early_stopping="auto"``), never in ``partial_fit`` or for 'lbfgs',
        and not where a stratified split cannot hold out a row of every
        class and leave one to train on, or ``validation_fraction`` holds out
        fewer than two rows (True raises there, as MLP does).
        """
        if not isinstance(self.early_stopping, str):
            return bool(self.early_stopping)
        if incremental or self.solver == "lbfgs" or len(y) < AUTO_EARLY_STOPPING_ROWS:
            return False
        n_val = self._validation_rows(len(y))
        if not (is_classifier(self) and y.ndim == 1):
            return n_val >= 2  # validation_fraction=0 turns it off, not an error
        counts = np.unique(y, return_counts=True)[1]
        return counts.min() >= 2 and n_val >= max(2, len(counts)) and len(y) - n_val >= len(counts)

    def _network_dtype(self, X_dtype, n_samples):
        """The name of the dtype the minibatch solvers' network trains in (``dtype``).

        "auto" is float32 from ``AUTO_FLOAT32_ROWS`` rows given to this call
        of fit or partial_fit, X's dtype below; None is X's dtype.
        """
        if self.dtype == "auto":
            return "float32" if n_samples >= AUTO_FLOAT32_ROWS else X_dtype.name
        return np.dtype(X_dtype if self.dtype is None else self.dtype).name

    def _learns_input_scale(self, n_samples):
        """Whether the minibatch solvers' network learns a factor of each input (``learned_input_scale``).

        "auto" learns it in regression from ``AUTO_INPUT_SCALE_ROWS`` rows
        given to this call of fit or partial_fit, never in classification.
        """
        if self.learned_input_scale == "auto":
            return not is_classifier(self) and n_samples >= AUTO_INPUT_SCALE_ROWS
        return bool(self.learned_input_scale)

    def _fit_embedding(self, X_train, n_samples, seed):
        """A new :class:`~sksnn._embeddings.PiecewiseLinearEncoding` of the training rows, or None.

        "auto" encodes a dense X of at least ``AUTO_EMBEDDING_ROWS`` rows
        (``n_samples``: the rows given to fit, validation rows included): a
        sparse X is kept sparse (its encoding would be dense and as wide as
        ``n_bins`` times its columns); "piecewise_linear" encodes any X.
        """
        if self.numerical_embedding is None:
            return None
        if self.numerical_embedding == "auto" and (sp.issparse(X_train) or n_samples < AUTO_EMBEDDING_ROWS):
            return None
        return PiecewiseLinearEncoding(self.n_bins).fit(X_train, seed=seed)

    def _split_validation(self, y, rng, early_stopping):
        """``(train rows, validation rows)`` for early stopping (stratified for classes), else ``(None, None)``."""
        if not early_stopping or self.solver == "lbfgs":  # as MLP: L-BFGS trains on every row
            return None, None
        single_label = is_classifier(self) and y.ndim == 1
        classes, counts = np.unique(y, return_counts=True) if single_label else (None, None)
        if counts is None or counts.min() >= 2:
            # (a class of one member: train_test_split's own error, as MLP raises it)
            self._check_validation_size(len(y), 1 if counts is None else len(counts))
        if single_label and counts.min() >= 2:
            return _stratified_split(_strata(y, classes), self.validation_fraction, rng)
        if single_label:
            # A class of one member: scikit-learn's error, naming the strata as
            # MLP's does (it stratifies on its boolean binarized labels).
            stratify = LabelBinarizer().fit(classes).transform(y).astype(bool)
        else:
            stratify = None
        return train_test_split(
            np.arange(len(y)), random_state=rng, test_size=self.validation_fraction, stratify=stratify
        )

    def _fit_stochastic(
        self,
        train,
        validation,
        encoder,
        standardization,
        *,
        hidden_sizes,
        first_pass,
        incremental,
        seeds,
        early_stopping,
        dtype,
        input_scale,
        every_row=None,
    ):
        """Train epoch by epoch with MLP's stopping rules, a network of ``dtype`` (a name).

        ``every_row``: ``(X, y, sample_weight)`` of the training and validation
        rows together, for a final cycle (``AUTO_FINAL_CYCLE_EPOCHS``).
        Returns ``(progress, (coefs, intercepts), optimizer state, interrupted)``:
        the weights reached, even when the loss diverged or Ctrl-C was pressed.
        """
        from ._backend import precision
        from ._optimizers import set_learning_rate_cycles
        from ._trainer import get_optimizer_state, set_optimizer_state, trainer_for
        from ._training import run_epochs

        X_train, y_train, sw_train = train
        # X stays in its own dtype: each chunk of batches is cast to the network's.
        Y_train = self._targets_by_blocks(y_train, encoder, dtype)
        Y_val = None if validation is None else self._encode_targets(validation[1], encoder)
        loss_name, out_activation = self._training_setup(encoder)
        init_seed, train_seed = seeds
        # As MLP: the learning-rate schedules are SGD's; the other solvers keep theirs constant.
        schedule = self.learning_rate if self.solver == "sgd" else "constant"
        progress = TrainingProgress(
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            early_stopping=early_stopping,
            # "auto" stops on the validation loss, as HistGradientBoosting's scoring='loss'
            monitor=_AUTO_MONITOR if isinstance(self.early_stopping, str) else "score",
            dtype=np.dtype(dtype),  # the compiled stopping rule's: both compare the same losses
            previous=None if first_pass else vars(self),
        )
        batch_size = self._batch_size(X_train.shape[0])
        val_input, val_standardization = _validation_input(validation, standardization)
        kind = "classifier" if is_classifier(self) else "regressor"
        auto_stopping = validation is not None and isinstance(self.early_stopping, str)
        average = WeightAverage(AUTO_AVERAGE_EPOCHS[kind]) if auto_stopping and AUTO_AVERAGE_EPOCHS[kind] else None
        architecture = {
            "hidden_layer_sizes": hidden_sizes,
            "activation": self.activation,
            "kernel_initializer": self.kernel_initializer,
            "output_initializer": self.output_initializer,
            "dropout": self.dropout,
            "n_members": int(self.n_members),
        }
        # A numerical embedding is computed in the train step: the batches hold X's own columns.
        X_batches, batch_standardization, components = _in_step_embedding(X_train, standardization, dtype)
        with (
            precision(dtype),
            trainer_for(
                architecture,
                n_features=X_batches.shape[1],
                n_outputs=Y_train.shape[1],
                loss=loss_name,
                solver=self.solver,
                solver_params=self._solver_params(),
                learning_rate=self.learning_rate_init,
                alpha=self.alpha,
                dtype=dtype,
                seed=init_seed,
                work_rows=X_train.shape[0] * (1 if incremental else self.max_iter),
                components=components,
                input_scale=input_scale,
            ) as trainer,
        ):
            if not first_pass:
                trainer.load_dense_weights(self.coefs_, self.intercepts_, self._members())
            if not first_pass and incremental:
                # As MLP: partial_fit continues the optimizer (moments, step
                # count); every fit, warm-started or not, starts a fresh one.
                set_optimizer_state(trainer, getattr(self, "_optimizer_state", ()))  # none after lbfgs

            def lower_learning_rate():  # MLP's SGDOptimizer.trigger_stopping
                rate = _current_learning_rate(trainer)
                if rate <= 1e-6:
                    return False, " Learning rate too small. Stopping."
                trainer.optimizer.learning_rate = rate / 5.0
                return True, f" Setting learning rate to {rate / 5.0:f}"

            decays_left = AUTO_PLATEAU_DECAYS[kind]

            def resume_slower():  # early_stopping="auto"'s plateaus (AUTO_PLATEAU_DECAYS)
                nonlocal decays_left
                if decays_left <= 0:
                    return False, " Stopping."
                decays_left -= 1
                if AUTO_PLATEAU_RESTORE and progress.best_weights is not None:
                    trainer.load_dense_weights(*progress.best_weights)
                rate = _current_learning_rate(trainer) / AUTO_PLATEAU_FACTOR
                trainer.optimizer.learning_rate = rate
                if AUTO_PLATEAU_PATIENCE is not None:
                    progress.n_iter_no_change = min(progress.n_iter_no_change, AUTO_PLATEAU_PATIENCE)
                return True, f" Back to the best epoch's weights, learning rate {rate:f}."

            cycle_epochs = AUTO_CYCLE_EPOCHS[kind] if auto_stopping else None
            # Every fit sets the cycles (a pooled trainer or partial_fit's saved state may hold a fit's before).
            steps = _steps_per_epoch(X_train.shape[0], batch_size)
            if not set_learning_rate_cycles(trainer.optimizer, cycle_epochs * steps if cycle_epochs else 0):
                cycle_epochs = None  # sgd, rmsprop: no cycles
            if cycle_epochs:
                progress.n_iter_no_change = max(progress.n_iter_no_change, cycle_epochs)
            elif schedule == "adaptive":
                progress.on_plateau = lower_learning_rate
            elif auto_stopping and decays_left > 0:
                progress.on_plateau = resume_slower

            def on_validation_rows(weights):
                """The network's output on the validation rows with ``weights``, and its loss there."""
                output = forward(
                    val_input, *weights[:2], self.activation, out_activation, *val_standardization,
                    members=weights[2],
                )  # fmt: skip
                return output, output_loss(output, Y_val, validation[2], out_activation)

            def on_epoch_end(loss):
                score = weights = validation_loss = None
                if validation is not None and not np.isfinite(loss):
                    score = validation_loss = np.nan  # as MLP records it; the best epoch's weights are kept
                elif validation is not None:
                    weights = trainer.dense_weights()
                    output, validation_loss = on_validation_rows(weights)
                    score = self._validation_score(output, validation[1], validation[2], encoder)
                    if average is not None:
                        average.record(on_validation_rows(average.update(weights))[1])
                stop = progress.update(loss, X_train.shape[0], score, weights, validation_loss)
                if schedule == "invscaling":  # MLP's SGDOptimizer.iteration_ends, after every epoch
                    trainer.optimizer.learning_rate = float(self.learning_rate_init) / (progress.t + 1) ** self.power_t
                self._report_epoch(progress, score)
                return stop

            # Without validation rows or a learning-rate schedule, the epochs
            # only feed MLP's rule on the training loss, which the backend may
            # apply itself, several epochs a call.
            on_loss_alone = validation is None and schedule == "constant"
            interrupted = run_epochs(
                trainer,
                X_batches,
                Y_train,
                sw_train,
                standardization=batch_standardization,
                dtype=dtype,
                epochs=1 if incremental else self.max_iter,
                batch_size=batch_size,
                shuffle=self.shuffle,
                seed=train_seed,
                on_epoch_end=on_epoch_end,
                stopping_rule=progress.loss_rule() if on_loss_alone else None,
                progress_bar=self.verbose is not True and self.verbose >= 2,  # True == 1
            )
            if average is not None and average.best_weights is not None:
                progress.best_weights = average.best_weights  # what the fit commits (AUTO_AVERAGE_EPOCHS)
            final_epochs = min(AUTO_FINAL_CYCLE_EPOCHS[kind] or 0, self.max_iter - progress.n_iter)
            if cycle_epochs and final_epochs > 0 and progress.stopped_early and not interrupted:
                interrupted = self._final_cycle(
                    trainer, progress, every_row, encoder, standardization,
                    epochs=final_epochs, dtype=dtype, seed=train_seed,
                )  # fmt: skip
            return progress, trainer.dense_weights(), get_optimizer_state(trainer), interrupted

    def _final_cycle(self, trainer, progress, every_row, encoder, standardization, *, epochs, dtype, seed):
        """One more cosine cycle of ``epochs`` epochs on every row, from the best epoch's weights.

        Once early stopping has chosen its epoch, the held-out rows have done
        their job: a short cycle from that epoch's weights, with a fresh
        optimizer, trains on them too (``AUTO_FINAL_CYCLE_EPOCHS``). Its last
        weights are the model (``progress.final_cycle``); if it diverges or
        is interrupted, the best epoch's weights stay the model. Returns
        whether Ctrl-C was pressed.
        """
        from ._optimizers import set_learning_rate_cycles
        from ._trainer import reset_optimizer
        from ._training import run_epochs

        X, y, sample_weight = every_row
        X_batches, batch_standardization, _ = _in_step_embedding(X, standardization, dtype)
        batch_size = self._batch_size(X.shape[0])
        trainer.load_dense_weights(*progress.best_weights)
        reset_optimizer(trainer, self.learning_rate_init)
        set_learning_rate_cycles(trainer.optimizer, epochs * _steps_per_epoch(X.shape[0], batch_size))
        if self.verbose:
            print(f"One more cycle of {epochs} epochs on every row, from the best epoch's weights.")
        diverged = False

        def on_epoch_end(loss):
            nonlocal diverged
            diverged = progress.update_final(loss, X.shape[0])
            self._report_epoch(progress, None)
            return diverged

        interrupted = run_epochs(
            trainer,
            X_batches,
            self._targets_by_blocks(y, encoder, dtype),
            sample_weight,
            standardization=batch_standardization,
            dtype=dtype,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=self.shuffle,
            seed=seed,
            on_epoch_end=on_epoch_end,
            progress_bar=self.verbose is not True and self.verbose >= 2,  # True == 1
        )
        progress.final_cycle = not (diverged or interrupted)
        if diverged:  # the best epoch's weights stay the model; partial_fit would continue a poisoned optimizer
            reset_optimizer(trainer, self.learning_rate_init)
        return interrupted

    def _targets_by_blocks(self, y, encoder, dtype):
        """``_training_targets(y)`` in ``dtype``, encoded 65,536 rows at a time.

        scikit-learn's label_binarize makes int64 and sparse temporaries of
        every row: encoding 2,000,000 labels at once peaked at ~100 MB, more
        than the training itself added on a memory-mapped X of 763 MB.
        """
        block = 65_536
        first = self._training_targets(y[:block], encoder)
        Y = np.empty((len(y), first.shape[1]), dtype=dtype)
        Y[: len(first)] = first
        for start in range(block, len(y), block):
            Y[start : start + block] = self._training_targets(y[start : start + block], encoder)
        return Y

    def _fit_lbfgs(self, train, encoder, standardization, *, hidden_sizes, first_pass, seed):
        """MLP's full-batch L-BFGS from fresh weights (the minibatch solvers' initialization) or the fitted ones."""
        from ._backend import precision
        from ._lbfgs import fit_lbfgs
        from ._network import initial_values

        X, y, sample_weight = train
        X = X[:] if isinstance(X, RowSubset | EmbeddedRows) else X  # full-batch: every row at once
        Y = self._training_targets(y, encoder)
        if standardization is not None and not sp.issparse(X):
            X, standardization = standardize(X, *standardization), None  # sparse: standardized on the backend
        if first_pass:
            weights = initial_values(
                X.shape[1],
                Y.shape[1],
                hidden_sizes,
                kernel_initializer=self.kernel_initializer,
                output_initializer=self.output_initializer,
                dropout=0.0,
                dtype=X.dtype.name,
                seed=seed,
            )
        else:
            weights = [w for pair in zip(self.coefs_, self.intercepts_) for w in pair]
        with precision(X.dtype.name):
            progress, (coefs, intercepts) = fit_lbfgs(
                weights,
                X,
                Y,
                sample_weight,
                activation=self.activation,
                loss=self._training_setup(encoder)[0],
                alpha=self.alpha,
                max_iter=self.max_iter,
                max_fun=self.max_fun,
                tol=self.tol,
                previous_t=0 if first_pass else self.t_,
                standardization=standardization,
            )
        return progress, (coefs, intercepts, None)  # one network: no member scales

    def _check_solver(self):
        """MLP's condition for ``partial_fit``: a minibatch solver."""
        if self.solver == "lbfgs":
            raise AttributeError(
                f"partial_fit is only available for stochastic optimizers. {self.solver} is not stochastic."
            )
        return True

    def _validation_score(self, output, y, sample_weight, encoder):
        """The score (accuracy, R^2) of the network's ``output`` on the validation rows."""
        if not np.isfinite(output).all():
            return np.nan
        return type(self)._score_function(y, self._decode(output, encoder), sample_weight=sample_weight)

    def _report_epoch(self, progress, score):
        """MLP's ``verbose`` lines for the epoch just ended."""
        if not self.verbose:
            return
        print(f"Iteration {progress.n_iter}, loss = {progress.loss:.8f}")
        if score is not None:
            print(f"Validation score: {score:f}")
        if progress.message is not None:
            print(progress.message)

    def _check_training(self, progress, standardization, early_stopping):
        """A loss that became NaN or infinite stops training at once: MLP's error, and the likely cause.

        With early stopping and a best epoch before it, as in MLP, there is no
        error: that epoch's weights are the model (validation_scores_ ends in NaN).
        """
        if not progress.diverged or (early_stopping and progress.best_weights is not None):
            return
        if standardization is not None and not all(np.isfinite(v).all() for v in standardization):
            cause = "the built-in scaler's statistics overflow on values this large; rescale X first"
        elif standardization is None:
            cause = "standardize=True or a lower learning_rate_init may help"
        else:
            cause = "a lower learning_rate_init may help"
        raise ValueError(
            f"{_NON_FINITE} Training diverged: the loss became {progress.loss} at epoch {progress.n_iter}; {cause}."
        )

    def _commit(self, fitted, first_pass):
        """The one place a fit changes the estimator: all its fitted attributes at once."""
        if first_pass and "feature_names_in_" not in fitted:
            vars(self).pop("feature_names_in_", None)  # as validate_data: unnamed columns forget the names
        if first_pass and self.solver == "lbfgs":
            for name in _STOCHASTIC_ATTRIBUTES:
                vars(self).pop(name, None)
        vars(self).update(fitted)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # CSR and CSC, as MLP
        return tags

    # ------------------------------------------------------------- inference
    def _forward(self, X):
        """Network output (after the output activation) for raw input X."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.coefs_[0].dtype, accept_sparse="csr")
        if getattr(self, "embedding_", None) is not None:  # (absent from models of sksnn 0.x before it)
            X = EmbeddedRows(X, self.embedding_)
        standardization = _standardization(self.scaler_, X.dtype) or (None, None)
        return forward(
            X, self.coefs_, self.intercepts_, self.activation, self.out_activation_, *standardization,
            members=self._members(),
        )  # fmt: skip

    def save(self, path):
        """Save the fitted estimator in a format that runs no code when loaded.

        A zip of a JSON description and the arrays (no pickle); read it back
        with :func:`sksnn.load`, which refuses modified or foreign files.
        Prefer it to pickle/joblib for files from others; a ``random_state``
        given as a ``RandomState`` instance is saved as None.

        Parameters
        ----------
        path : str or path-like or file-like
            Where to write.
        """
        save(self, path)

    @property
    def model_(self):
        """The trained network as a new, uncompiled :class:`keras.Sequential`.

        Built on each access from ``coefs_`` and ``intercepts_`` (and a
        packed ensemble's member scales, its last layer the members' mean),
        with the output activation included; use it to ``summary()``, save
        or export.
        Inputs must be encoded with ``embedding_`` (if any), then
        standardized with ``scaler_``, first.
        """
        check_is_fitted(self)
        from ._backend import precision
        from ._network import build_snn, set_dense_weights, set_member_scales

        dtype = self.coefs_[0].dtype.name
        with precision(dtype):
            model = build_snn(
                self.coefs_[0].shape[0],  # X's columns, and the embedding's with one
                self.n_outputs_,
                hidden_layer_sizes=[c.shape[1] for c in self.coefs_[:-1]],
                activation=self.activation,
                kernel_initializer=self.kernel_initializer,
                output_initializer=self.output_initializer,
                dropout=self.dropout,
                output_activation=self.out_activation_,
                dtype=dtype,
                n_members=self._n_fitted_members,
            )
            set_dense_weights(model, self.coefs_, self.intercepts_)
            if (members := self._members()) is not None:
                set_member_scales(model, members)
        return model
