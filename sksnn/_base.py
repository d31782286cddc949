"""Shared estimator logic: parameters, validation, fit orchestration, tags."""

import warnings
from abc import ABC, abstractmethod
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._activations import HIDDEN_ACTIVATIONS
from ._blocks import rows_per_block
from ._inference import forward, standardize
from ._stopping import TrainingProgress

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
OPTIMIZER_NAMES = frozenset({"nadam", "adam", "adamw", "sgd", "rmsprop"})

_MAX_SEED = np.iinfo(np.int32).max


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
    block_rows = rows_per_block(2**23, 8 * X.shape[1])  # the float64 temporaries' rows
    scaler = StandardScaler()
    for start in range(0, X.shape[0], block_rows):
        block = slice(start, start + block_rows)
        scaler.partial_fit(X[block], sample_weight=None if sample_weight is None else sample_weight[block])
    # A spread below the smallest normal number of X's dtype (found by
    # hypothesis: a float32 column of 0 and 4.6e-42) is flushed to zero by the
    # backends: x / 0 made the loss NaN. Such a column is constant in practice.
    scaler.scale_[scaler.scale_ < np.finfo(X.dtype).tiny] = 1.0
    return scaler


class BaseSNN(BaseEstimator, ABC):
    """Base class for self-normalizing network estimators.

    Warning: This class should not be used directly. Use derived classes instead.
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(HIDDEN_ACTIVATIONS)],
        "kernel_initializer": [StrOptions(KERNEL_INITIALIZERS)],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "standardize": ["boolean"],
        "optimizer": [StrOptions(OPTIMIZER_NAMES)],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["boolean", Interval(Integral, 0, 2, closed="both")],
        "warm_start": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
    }

    @abstractmethod
    def __init__(
        self,
        hidden_layer_sizes,
        activation,
        *,
        kernel_initializer,
        dropout,
        standardize,
        optimizer,
        alpha,
        batch_size,
        learning_rate_init,
        max_iter,
        shuffle,
        random_state,
        tol,
        verbose,
        warm_start,
        early_stopping,
        validation_fraction,
        n_iter_no_change,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.dropout = dropout
        self.standardize = standardize
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _validate_input(self, X, y, incremental, reset):
        """Validate X and y; set up target encoding on a first pass."""

    @abstractmethod
    def _encode_targets(self, y, sample_weight, first_pass):
        """Targets as the 2-D float matrix the network is trained on."""

    @abstractmethod
    def _training_setup(self):
        """``(loss name, output activation)`` for the encoded targets."""

    @abstractmethod
    def _validation_score(self, output, y, sample_weight):
        """Score of the network ``output`` against original targets ``y``."""

    def _training_sample_weight(self, y, sample_weight):
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

    def _check_validation_size(self, n_samples, n_classes):
        """Fail clearly, before splitting, when early stopping cannot hold out enough rows."""
        n_val = int(np.ceil(self.validation_fraction * n_samples))  # as train_test_split rounds
        if n_val < max(2, n_classes) or n_samples - n_val < n_classes:
            raise ValueError(
                f"The validation set is too small: validation_fraction={self.validation_fraction} of "
                f"{n_samples} samples holds out {n_val}, and early stopping needs at least {max(2, n_classes)} "
                f"(one per class when stratified) with as many left to train on. Increase 'validation_fraction' "
                "or the size of your dataset, or set early_stopping=False."
            )

    def _fit(self, X, y, sample_weight=None, incremental=False):
        """Fit; a fit that raises leaves every attribute as it was before the call."""
        before = dict(vars(self))
        try:
            return self._train(X, y, sample_weight, incremental)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise

    def _train(self, X, y, sample_weight, incremental):
        hidden_sizes = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")

        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if not first_pass:
            X = X.astype(self.coefs_[0].dtype, copy=False)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            if not sample_weight.any():  # scikit-learn checks this itself from 1.7 on
                raise ValueError("Sample weights must contain at least one non-zero number.")
        sample_weight = self._training_sample_weight(y, sample_weight)

        rng = check_random_state(self.random_state)
        init_seed, train_seed = (int(s) for s in rng.randint(_MAX_SEED, size=2))

        if self.early_stopping:
            stratify = y if is_classifier(self) and y.ndim == 1 else None
            self._check_validation_size(X.shape[0], 1 if stratify is None else len(np.unique(stratify)))
            arrays = [X, y] if sample_weight is None else [X, y, sample_weight]
            split = train_test_split(*arrays, random_state=rng, test_size=self.validation_fraction, stratify=stratify)
            X_train, X_val, y_train, y_val = split[:4]
            sw_train, sw_val = split[4:] if sample_weight is not None else (None, None)
        else:
            X_train, y_train, sw_train = X, y, sample_weight
            X_val = y_val = sw_val = None

        state = {}  # fitted attributes, set on self only once training is over
        if first_pass:
            state["scaler_"] = _fit_scaler(X_train, sw_train) if self.standardize else None
        standardization = _standardization(state["scaler_"] if first_pass else self.scaler_, X.dtype)
        if X_val is not None and standardization is not None:
            X_val = standardize(X_val, *standardization)
        Y_train = self._encode_targets(y_train, sw_train, first_pass).astype(X.dtype, copy=False)
        loss_name, out_activation = self._training_setup()

        from ._network import get_dense_weights, set_dense_weights
        from ._training import get_optimizer_state, precision, run_epochs, set_optimizer_state, trainer_for

        progress = TrainingProgress(
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            early_stopping=self.early_stopping,
            previous=None if first_pass else vars(self),
        )
        n_train = X_train.shape[0]
        batch_size = self._batch_size(n_train)
        architecture = {
            "hidden_layer_sizes": hidden_sizes,
            "activation": self.activation,
            "kernel_initializer": self.kernel_initializer,
            "dropout": self.dropout,
        }
        with (
            precision(X.dtype.name),
            trainer_for(
                architecture,
                n_features=X.shape[1],
                n_outputs=Y_train.shape[1],
                loss=loss_name,
                optimizer=self.optimizer,
                learning_rate=self.learning_rate_init,
                alpha=self.alpha,
                dtype=X.dtype.name,
                seed=init_seed,
                steps_per_epoch=-(-n_train // batch_size),
                batch_size=batch_size,
            ) as trainer,
        ):
            if not first_pass:
                set_dense_weights(trainer.network, self.coefs_, self.intercepts_)
            if not first_pass and incremental:
                # As MLP: partial_fit continues the optimizer (moments, step
                # count); every fit, warm-started or not, starts a fresh one.
                set_optimizer_state(trainer, self._optimizer_state)

            def on_epoch_end(loss):
                score = weights = None
                if self.early_stopping and np.isfinite(loss):
                    weights = get_dense_weights(trainer.network)
                    output = forward(X_val, *weights, self.activation, out_activation)
                    score = self._validation_score(output, y_val, sw_val)
                stop = progress.update(loss, n_train, score, weights)
                if self.verbose:
                    print(f"Iteration {progress.n_iter}, loss = {loss:.8f}")
                    if score is not None:
                        print(f"Validation score: {score:f}")
                    if progress.stopped_early:
                        print(progress.stop_message())
                return stop

            interrupted = run_epochs(
                trainer,
                X_train,
                Y_train,
                sw_train,
                standardization=standardization,
                epochs=1 if incremental else self.max_iter,
                batch_size=batch_size,
                shuffle=self.shuffle,
                seed=train_seed,
                on_epoch_end=on_epoch_end,
                progress_bar=self.verbose is not True and self.verbose >= 2,
            )
            coefs, intercepts = get_dense_weights(trainer.network)
            optimizer_state = get_optimizer_state(trainer)

        if progress.diverged:
            raise ValueError(
                f"Training diverged: the loss became {progress.loss} at epoch {progress.n_iter}. "
                "Lower learning_rate_init, or keep standardize=True for inputs of large magnitude."
            )
        if interrupted:
            warnings.warn("Training interrupted by user.")
        if progress.n_iter == 0:  # interrupted before the first epoch ended
            return self

        if self.early_stopping and progress.best_weights is not None:
            coefs, intercepts = progress.best_weights
        if not all(np.isfinite(w).all() for w in (*coefs, *intercepts)):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )

        state.update(progress.fitted_attributes())
        state.update(
            coefs_=coefs,
            intercepts_=intercepts,
            n_outputs_=Y_train.shape[1],
            n_layers_=len(hidden_sizes) + 2,
            out_activation_=out_activation,
            _optimizer_state=optimizer_state,
        )
        vars(self).update(state)

        if not incremental and not progress.stopped_early and not interrupted and progress.n_iter == self.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return self

    # ------------------------------------------------------------- inference
    def _forward(self, X):
        """Network output (after the output activation) for raw input X."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.coefs_[0].dtype)
        standardization = _standardization(self.scaler_, X.dtype) or (None, None)
        return forward(X, self.coefs_, self.intercepts_, self.activation, self.out_activation_, *standardization)

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
        from ._persistence import save

        save(self, path)

    @property
    def model_(self):
        """The trained network as a new, uncompiled :class:`keras.Sequential`.

        Built on each access from ``coefs_`` and ``intercepts_``, with the
        output activation included; use it to ``summary()``, save or export.
        Inputs must be standardized with ``scaler_`` first.
        """
        check_is_fitted(self)
        from ._network import build_snn, set_dense_weights
        from ._training import precision

        dtype = self.coefs_[0].dtype.name
        with precision(dtype):
            model = build_snn(
                self.n_features_in_,
                self.n_outputs_,
                hidden_layer_sizes=[c.shape[1] for c in self.coefs_[:-1]],
                activation=self.activation,
                kernel_initializer=self.kernel_initializer,
                dropout=self.dropout,
                output_activation=self.out_activation_,
                dtype=dtype,
            )
            set_dense_weights(model, self.coefs_, self.intercepts_)
        return model
