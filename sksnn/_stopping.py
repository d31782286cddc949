"""When to stop training, and which weights to keep: scikit-learn MLP's rules, epoch by epoch.

The progress of a fit is gathered here and copied onto the estimator only once
training ends, so an interrupted or failed fit never leaves half-updated
fitted attributes. :class:`WeightAverage` is the moving average of the
epochs' weights that early_stopping="auto" keeps in classification.
"""

import numpy as np


class TrainingProgress:
    """Loss curve, validation scores and the no-improvement counter of one fit.

    Mirrors ``BaseMultilayerPerceptron._update_no_improvement_count``: an epoch
    counts as "no improvement" when the training loss is not lower than the
    best loss by ``tol`` (or, with early stopping, the validation score is not
    higher than the best score by ``tol``); training stops once more than
    ``n_iter_no_change`` such epochs come in a row, unless ``on_plateau``
    (MLP's ``trigger_stopping`` of ``learning_rate='adaptive'``) answers
    ``(True, note)``: it lowered the learning rate, and the count starts over.
    """

    def __init__(
        self,
        *,
        tol,
        n_iter_no_change,
        early_stopping,
        dtype=np.float64,
        previous=None,
        on_plateau=None,
        monitor="score",
    ):
        self.tol = tol
        # The training loss is compared in the training dtype, as MLP does on
        # NumPy 2 (a float32 loss minus a Python float is a float32), and as
        # the backend's compiled rule does (TrainingNetwork.chunk_trainer).
        self._as_trained = np.dtype(dtype).type
        self.on_plateau = on_plateau  # () -> (keep training, what to add to the message)
        self.message = None  # the plateau message of the epoch just recorded, if any
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        # With early stopping: what decides, the validation "score" (MLP's) or
        # the validation "loss" (HistGradientBoosting's scoring='loss').
        self.monitor = monitor
        previous = previous or {}
        self.n_iter = 0
        self.t = previous.get("t_", 0)
        self.loss = previous.get("loss_")
        self.loss_curve = list(previous.get("loss_curve_", []))
        self.no_improvement_count = previous.get("_no_improvement_count", 0)
        if early_stopping:
            self.best_loss = None
            self.validation_scores = list(previous.get("validation_scores_") or [])
            self.validation_losses = list(previous.get("validation_loss_curve_") or [])
            best = previous.get("best_validation_score_")
            self.best_validation_score = -np.inf if best is None else best
            finite = [v for v in self.validation_losses if np.isfinite(v)]
            self._best_validation_loss = min(finite) if finite else np.inf
        else:
            best = previous.get("best_loss_")
            self.best_loss = np.inf if best is None else best
            self.validation_scores = None
            self.validation_losses = None
            self.best_validation_score = None
        self.best_weights = None
        self.stopped_early = False
        self.diverged = False
        self.final_cycle = False  # True once a final cycle on every row has given the model's weights

    def update(self, loss, n_samples, validation_score=None, weights=None, validation_loss=None):
        """Record one epoch; return True when training should stop."""
        self._record(loss, n_samples)
        if not np.isfinite(loss):
            self.diverged = True
            if self.early_stopping:
                self.validation_scores.append(float(validation_score))
                self.validation_losses.append(float(validation_loss))
            return True
        if self.early_stopping:
            self.validation_scores.append(validation_score)
            self.validation_losses.append(validation_loss)
            if self.monitor == "loss":
                improved = validation_loss < self._best_validation_loss - self.tol
                best = validation_loss < self._best_validation_loss
                self._best_validation_loss = min(self._best_validation_loss, validation_loss)
                self.best_validation_score = max(self.best_validation_score, validation_score)
            else:
                improved = not validation_score < self.best_validation_score + self.tol  # NaN: as MLP
                best = validation_score > self.best_validation_score
                self.best_validation_score = max(self.best_validation_score, validation_score)
            self.no_improvement_count = 0 if improved else self.no_improvement_count + 1
            if best:
                self.best_weights = weights
        else:
            as_trained = self._as_trained
            if as_trained(loss) > as_trained(as_trained(self.best_loss) - as_trained(self.tol)):
                self.no_improvement_count += 1
            else:
                self.no_improvement_count = 0
            self.best_loss = min(self.best_loss, loss)
        if self.no_improvement_count > self.n_iter_no_change:
            plateau = self._plateau_message()  # before on_plateau, which may shorten the patience
            keep_training, note = (False, " Stopping.") if self.on_plateau is None else self.on_plateau()
            self.message = plateau + note
            if keep_training:
                self.no_improvement_count = 0
                return False
            self.stopped_early = True
            return True
        return False

    def update_final(self, loss, n_samples):
        """Record one epoch of a final cycle on every row (no validation rows left); return True when it diverged."""
        self._record(loss, n_samples)
        return not np.isfinite(loss)

    def _record(self, loss, n_samples):
        """The epoch's count, samples seen and training loss (no message yet)."""
        self.message = None
        self.n_iter += 1
        self.t += n_samples
        self.loss = loss
        self.loss_curve.append(loss)

    def loss_rule(self):
        """``(best_loss, no_improvement_count, tol, n_iter_no_change)``: the rule's state, for the backend to apply.

        Only the rule on the training loss: with early stopping (or a
        plateau handler) the estimator looks at every epoch itself.
        """
        if self.early_stopping or self.on_plateau is not None:
            return None
        return self.best_loss, self.no_improvement_count, self.tol, self.n_iter_no_change

    def _plateau_message(self):
        """MLP's message for ``n_iter_no_change`` epochs without improvement."""
        what = "Training loss"
        if self.early_stopping:
            what = "Validation loss" if self.monitor == "loss" else "Validation score"
        return f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."

    def fitted_attributes(self):
        """The estimator attributes this fit produced."""
        return {
            "n_iter_": self.n_iter,
            "t_": self.t,
            "loss_": self.loss,
            "loss_curve_": self.loss_curve,
            "best_loss_": self.best_loss,
            "validation_scores_": self.validation_scores,
            "validation_loss_curve_": self.validation_losses,
            "best_validation_score_": self.best_validation_score,
            "_no_improvement_count": self.no_improvement_count,
        }


class WeightAverage:
    """A moving average of the weights at each epoch's end, and its best epoch on the validation rows.

    The weights of one epoch carry the noise of its last minibatches; their
    exponential moving average over about ``horizon`` epochs (a Polyak
    average, as Keras' optimizers keep with ``use_ema``, taken here once an
    epoch from the weights the validation pass reads anyway) smooths it.
    Stopping still follows the epochs' own validation loss; the average of
    the epoch where its own validation loss was lowest is kept.
    """

    def __init__(self, horizon):
        self.momentum = 1.0 - 1.0 / horizon
        self.weights = None
        self.best_loss = np.inf
        self.best_weights = None

    def update(self, weights):
        """Fold one epoch's ``(coefs, intercepts, members)`` into the average; return the average."""
        if self.weights is None:
            self.weights = _tree_map(np.copy, weights)
        else:
            kept = self.momentum
            self.weights = _tree_map(lambda average, new: kept * average + (1.0 - kept) * new, self.weights, weights)
        return self.weights

    def record(self, validation_loss):
        """The average's validation loss at this epoch: keep the average if it is the lowest yet."""
        if validation_loss < self.best_loss:
            self.best_loss, self.best_weights = validation_loss, self.weights


def _tree_map(function, *trees):
    """``function`` over the arrays of nested lists and tuples (None stays None)."""
    first = trees[0]
    if first is None:
        return None
    if isinstance(first, (list, tuple)):
        return type(first)(_tree_map(function, *parts) for parts in zip(*trees, strict=True))
    return function(*trees)
