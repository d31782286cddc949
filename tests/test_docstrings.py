"""Every public object has a complete numpydoc docstring (checked with numpydoc's validator)."""

import pytest

# Style checks scikit-learn itself does not follow, or that the docs build already enforces.
IGNORED = {"GL01", "GL02", "GL03", "ES01", "SA04", "RT02", "RT05", "PR06", "PR08", "PR09", "SS05", "SS06", "YD01"}
PUBLIC = [
    "sksnn.SNNClassifier",
    "sksnn.SNNRegressor",
    "sksnn.build_snn",
    "sksnn.load",
    "sksnn.diagnostics.layer_statistics",
    "sksnn.diagnostics.plot_layer_statistics",
]
METHODS = [
    f"sksnn.{cls}.{method}"
    for cls, methods in {
        "SNNClassifier": ("fit", "partial_fit", "predict", "predict_proba", "predict_log_proba", "save"),
        "SNNRegressor": ("fit", "partial_fit", "predict", "save"),
    }.items()
    for method in methods
]


@pytest.mark.parametrize("name", PUBLIC + METHODS)
def test_numpydoc_docstring_is_complete(name):
    validate = pytest.importorskip("numpydoc.validate").validate
    # Classes and functions need See Also and Examples; methods follow scikit-learn's (no Examples).
    ignored = IGNORED | ({"EX01", "SA01"} if name in METHODS else set())
    errors = [f"{code}: {message}" for code, message in validate(name)["errors"] if code not in ignored]
    assert not errors, "\n".join(errors)
