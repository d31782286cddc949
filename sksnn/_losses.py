"""MLP's losses, written for Keras: what a train step and L-BFGS minimize.

``LOSSES`` maps MLP's loss names to Keras losses of the network's logits
(``squared_error``, ``poisson``, and the logistic loss: binary, multilabel,
softmax); ``MemberMeanLoss`` is a packed ensemble's, the mean of its
members' losses; ``weighted_loss_sum`` is their sum over weighted rows, for the
computations whose reduction sksnn writes itself (a TensorFlow strategy's
replicas, L-BFGS). Where these are used: ``_trainer`` and ``_lbfgs``.
"""

from ._backend import exact_mean, start_backend

start_backend()  # before Keras starts the backend

import keras  # noqa: E402
from keras import ops  # noqa: E402


class HalfSquaredError(keras.losses.Loss):
    """``0.5 * mean((y_pred - y_true) ** 2)``: MLPRegressor's squared loss."""

    def call(self, y_true, y_pred):
        return 0.5 * exact_mean(ops.square(y_pred - y_true), axis=-1)


class LabelSummedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy of logits, summed over the labels: MLPClassifier's logistic loss.

    Keras' ``BinaryCrossentropy`` averages over the labels: for a multilabel
    target of k labels its loss (and gradient) would be MLP's divided by k,
    which shifts the balance against the L2 penalty. One label: the same.
    """

    def call(self, y_true, y_pred):
        return ops.sum(ops.binary_crossentropy(y_true, y_pred, from_logits=True), axis=-1)


class HalfPoissonDeviance(keras.losses.Loss):
    """Half the Poisson deviance of ``exp(y_pred)``, summed over the outputs: MLPRegressor's 'poisson' loss.

    ``y_pred`` is the log of the prediction (the output layer gives it; the
    estimator applies ``exp``), so the loss needs no log of a prediction:
    ``exp(y_pred) - y * y_pred + y * log(y) - y``. The last two terms, constant
    in the weights, make the reported loss MLP's.
    """

    def call(self, y_true, y_pred):
        y_log_y = ops.where(y_true > 0, y_true * ops.log(ops.maximum(y_true, 1e-300)), 0.0)
        return ops.sum(ops.exp(y_pred) - y_true * y_pred + y_log_y - y_true, axis=-1)


LOSSES = {
    # Outputs are logits: the losses apply sigmoid/softmax themselves, which is
    # numerically safer than differentiating through the activation. A Keras
    # loss computes in floatx (float32) unless given a dtype: it would cast
    # float64 predictions to float32.
    "binary": lambda dtype: LabelSummedBinaryCrossentropy(reduction="mean_with_sample_weight", dtype=dtype),
    "categorical": lambda dtype: keras.losses.CategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight", dtype=dtype
    ),
    "squared_error": lambda dtype: HalfSquaredError(reduction="mean_with_sample_weight", dtype=dtype),
    "poisson": lambda dtype: HalfPoissonDeviance(reduction="mean_with_sample_weight", dtype=dtype),
}


class MemberMeanLoss(keras.losses.Loss):
    """The mean of a packed ensemble's member losses (TabM), each member's the loss ``inner`` of ``LOSSES``.

    ``y_pred`` holds each member's logits, ``(batch, n_members, n_outputs)``;
    every member is trained against the row's target. Training the members'
    mean loss, not the loss of their mean, keeps them apart: each must fit
    the data alone, and their average is the ensemble's prediction.
    """

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, y_true, y_pred):
        y_true = ops.broadcast_to(ops.expand_dims(ops.cast(y_true, y_pred.dtype), 1), ops.shape(y_pred))
        return exact_mean(self.inner.call(y_true, y_pred), axis=1)


def weighted_loss_sum(data_loss, y_true, y_pred, sample_weight):
    """The sum over rows of ``data_loss``'s values (a loss of ``LOSSES``) times ``sample_weight``.

    Over a summed weight it is the loss with ``mean_with_sample_weight``,
    written out: Keras' own reduction also divides the value by the replicas
    of a TensorFlow strategy whose scope it runs in, which is not the batch's
    mean when the replicas' weights differ, and wrong for a computation that
    runs whole on one device (L-BFGS).
    """
    rows = data_loss.call(y_true, y_pred)
    return ops.sum(rows * ops.cast(sample_weight, rows.dtype))
