"""scikit-learn's own MLP tests, run on sksnn's estimators.

Copies ``sklearn/neural_network/tests/test_mlp.py`` of the installed
scikit-learn, changes exactly one line (its import of MLPClassifier and
MLPRegressor becomes an import of SNNClassifier and SNNRegressor under those
names) and runs pytest on the copy. Everything else, sksnn's defaults
included, is as the file has it; ``--mlp-defaults`` gives the SNN classes
MLP's values of the defaults that differ (alpha, the output kernel's start,
early stopping, no numerical embedding, the classifier's label smoothing and
tol). Prints pytest's summary; ``--junit FILE`` keeps the per-test outcome.

Usage::

    python benchmarks/sklearn_mlp_tests.py                  # the whole file
    python benchmarks/sklearn_mlp_tests.py -- -k lbfgs -x   # arguments after -- go to pytest
    python benchmarks/sklearn_mlp_tests.py --mlp-defaults   # alpha=1e-4, a LeCun output kernel, no smoothing, ...
"""

import argparse
import pathlib
import sys
import tempfile

ORIGINAL_IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
SUBSTITUTE = "from sksnn import SNNClassifier as MLPClassifier, SNNRegressor as MLPRegressor"


CONFTEST = """
import pytest


@pytest.fixture
def global_random_seed():
    return 42
"""

# The tests expected to fail, and why: they read or write MLP's private internals, which
# sksnn does not have (its network lives in Keras), or assert what only unscaled inputs produce.
PRIVATE_INTERNALS = {
    "test_fit": "sets MLP's private _coef_indptr and calls _forward_pass/_backprop on hand-set weights",
    "test_gradient": "calls MLP's private _loss_grad_lbfgs to compare it with numerical gradients",
    "test_learning_rate_warmstart": "reads MLP's private _optimizer.learning_rate",
    "test_adaptive_learning_rate": "reads MLP's private _optimizer.learning_rate",
    # Not internals: sksnn standardizes, and on standardized digits L-BFGS converges (gradient
    # norm <= tol) in 9 iterations with identity and tanh units, so max_fun=10 raises no
    # ConvergenceWarning; make_pipeline(StandardScaler(), MLPClassifier(...)) does the same.
    "test_lbfgs_classification_maxfun[X1-y1]": "expects non-convergence that only MLP's unscaled inputs produce",
}


# Tests that assert what MLP's own defaults produce where sksnn's defaults differ (a zero output
# kernel, alpha=1e-2: docs/defaults.md). With MLP's values of those (``--mlp-defaults``) they pass.
SKSNN_DEFAULTS = {
    "test_alpha": "larger alpha, smaller weights in every layer: a zero-initialized output kernel grows from "
    "zero, and more with alpha=1 (smaller hidden weights) than with alpha=0",
    "test_partial_fit_regression": "asks R^2 > 0.65 after 100 SGD epochs at lr 0.01; from a zero output kernel "
    "the first step moves only that layer, and it reaches 0.51",
    "test_mlp_regressor_dtypes_casting": "float32 and float64 fits within rtol 5e-4 everywhere: one prediction "
    "of 60, ~7e-5 (near zero), is 2.4% apart",
    "test_mlp_loading_from_joblib_partial_fit": "fits one row to rtol 1e-4; alpha=1e-2 holds it at 1.43 for 1",
}
MLP_DEFAULTS = {
    "alpha": 1e-4,
    "output_initializer": "lecun_normal",
    "early_stopping": False,
    "numerical_embedding": None,
    "learned_input_scale": False,
}
MLP_CLASSIFIER_DEFAULTS = {"label_smoothing": 0.0, "tol": 1e-4}  # MLP's log loss and tolerance
SET_MLP_DEFAULTS = f"""
for _estimator in (MLPClassifier, MLPRegressor):  # --mlp-defaults: MLP's values where sksnn's differ
    _estimator.__init__.__kwdefaults__.update({MLP_DEFAULTS!r})
MLPClassifier.__init__.__kwdefaults__.update({MLP_CLASSIFIER_DEFAULTS!r})
"""


def substituted_source(mlp_defaults=False):
    """The installed test_mlp.py with the one import changed (and, with ``mlp_defaults``, MLP's defaults set)."""
    import sklearn

    path = pathlib.Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    source = path.read_text()
    if source.count(ORIGINAL_IMPORT) != 1:
        raise RuntimeError(f"{path} no longer has exactly one line {ORIGINAL_IMPORT!r}")
    return source.replace(ORIGINAL_IMPORT, SUBSTITUTE + (SET_MLP_DEFAULTS if mlp_defaults else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--junit", help="write pytest's JUnit XML here")
    parser.add_argument(
        "--mlp-defaults",
        action="store_true",
        help=f"give the SNN classes {MLP_DEFAULTS}, the classifier {MLP_CLASSIFIER_DEFAULTS}",
    )
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    import pytest

    with tempfile.TemporaryDirectory() as folder:
        test_file = pathlib.Path(folder) / "test_mlp_on_sksnn.py"
        test_file.write_text(substituted_source(args.mlp_defaults))
        # scikit-learn's own conftest provides this fixture (42 unless SKLEARN_TESTS_GLOBAL_RANDOM_SEED says otherwise)
        (pathlib.Path(folder) / "conftest.py").write_text(CONFTEST)
        options = [str(test_file), "-q", "-p", "no:cacheprovider", "-rfE", "--rootdir", folder]
        if args.junit:
            options.append(f"--junitxml={args.junit}")
        return int(pytest.main(options + args.pytest_args))


if __name__ == "__main__":
    sys.exit(main())
