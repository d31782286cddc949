"""scikit-learn's estimator checks, with no ``non_deterministic`` or ``poor_score`` tag.

The instances keep every default but the size-and-speed settings: a small
network (32, 32).

One check is out of reach and is declared here, with its reason:
``check_sample_weight_equivalence_on_dense_data`` for SNNRegressor fits 15
weighted rows and their repetition (~30 rows) and wants predictions equal to
``atol=1e-9``. The two fits are the same mathematically: full batches, the loss
normalized by the summed weight, MLP's weight-normalized L2 penalty, weighted
feature and target scalers, float64 training on both backends. What differs is
the order of floating-point sums over 15 vs 30 rows (~1e-16 relative), and the
Nadam/Adam updates, which divide each gradient by its own running magnitude,
turn that into ~1e-8 differences in the predictions within 30-70 epochs
(measured: max |diff| 1.0e-8 on TensorFlow, 1.8e-8 on JAX; plain SGD stays at
6e-10 and passes). SNNClassifier passes the same check on TensorFlow and
misses it the same way on JAX.
"""

import keras
from sklearn.utils.estimator_checks import parametrize_with_checks

from sksnn import SNNClassifier, SNNRegressor

_ADAM_AMPLIFIES_ROUNDING = (
    "Nadam amplifies ~1e-16 summation-order differences between weighted and repeated rows "
    "to ~1e-8 in the predictions; the check allows 1e-9 (see module docstring)"
)


def _expected_failed_checks(estimator):
    # On JAX the classifier shows the same ~1e-9 drift; on TensorFlow it passes.
    if isinstance(estimator, SNNRegressor) or keras.backend.backend() == "jax":
        return {"check_sample_weight_equivalence_on_dense_data": _ADAM_AMPLIFIES_ROUNDING}
    return {}


@parametrize_with_checks(
    [SNNClassifier(hidden_layer_sizes=(32, 32)), SNNRegressor(hidden_layer_sizes=(32, 32))],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
