"""scikit-learn's estimator checks, with nothing declared as expected to fail.

The instances keep every default but the size-and-speed settings: a small
network (32, 32). No ``non_deterministic`` or ``poor_score`` tag is declared.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sksnn import SNNClassifier, SNNRegressor


@parametrize_with_checks(
    [SNNClassifier(hidden_layer_sizes=(32, 32)), SNNRegressor(hidden_layer_sizes=(32, 32))],
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
