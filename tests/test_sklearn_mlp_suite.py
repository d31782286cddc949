"""scikit-learn's own test_mlp.py, on the SNN classes: every test passes but the named exceptions."""

import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_scikit_learns_mlp_tests_pass_on_the_snn_classes(tmp_path):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import sklearn_mlp_tests
    finally:
        sys.path.remove(str(BENCHMARKS))
    report = tmp_path / "junit.xml"
    script = BENCHMARKS / "sklearn_mlp_tests.py"
    subprocess.run([sys.executable, str(script), "--junit", str(report)], capture_output=True, timeout=900)
    cases = ET.parse(report).getroot().iter("testcase")
    outcome = {case.get("name"): "failed" if case.find("failure") is not None or case.find("error") is not None
               else "skipped" if case.find("skipped") is not None else "passed" for case in cases}  # fmt: skip
    failed = {name for name, result in outcome.items() if result == "failed"}
    expected = set(sklearn_mlp_tests.PRIVATE_INTERNALS)
    assert failed <= expected, f"unexpected failures: {sorted(failed - expected)}"
    assert sum(result == "passed" for result in outcome.values()) >= 50  # of 59 in scikit-learn 1.9.1
