"""benchmarks/drift.py runs and measures what its docs page claims: self-normalized at initialization."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "fashion_mnist.npz").exists(), reason="../shared/datasets is not beside the checkout")
def test_drift_script_reports_unit_std_at_initialization_and_drift_after_training(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "drift.py"), "--rows", "2000", "--epochs", "3"]
    subprocess.run([*command, "--data-dir", str(DATA), "--out", str(tmp_path)], check=True, capture_output=True)
    report = json.loads((tmp_path / "drift.json").read_text())
    assert (tmp_path / "drift.png").stat().st_size > 0
    for name in ("sksnn", "plain Keras"):
        stds = report["std_by_epoch"][name]
        assert sorted(stds) == ["0", "3"]
        at_start, trained = stds["0"], stds["3"]
        assert len(at_start) == len(trained) == 20
        # LeCun-normal + SELU + standardized inputs: every layer near 1 at the start.
        assert all(0.8 < s < 1.3 for s in at_start), at_start
        # Training moves the middle layers away from it.
        assert max(trained) > 1.2 * max(at_start), trained
