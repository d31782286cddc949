"""scikit-learn's estimator checks, with no ``non_deterministic`` or ``poor_score`` tag.

The instances keep every default but the size-and-speed settings: a small
network (32, 32). Every check passes on both backends, including
``check_sample_weight_equivalence_on_dense_data`` (15 weighted rows against
their repetition, predictions equal to ``atol=1e-9``): the two fits differ only
in the order of float64 sums, ~1e-15 in the predictions. Until the losses
computed in the training dtype (a Keras loss casts to float32 unless told),
float32 rounding in the loss made that ~1e-8 and the check failed.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sksnn import SNNClassifier, SNNRegressor


@parametrize_with_checks([SNNClassifier(hidden_layer_sizes=(32, 32)), SNNRegressor(hidden_layer_sizes=(32, 32))])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
