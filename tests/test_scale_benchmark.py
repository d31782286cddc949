"""benchmarks/scale.py: its quick mode, and fits from an np.memmap that never copy X."""

import json
import os
import pathlib
import re
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCALE = str(ROOT / "benchmarks" / "scale.py")


@pytest.mark.slow
def test_quick_mode_prints_epoch_times_memory_and_ratios_against_mlp(tmp_path):
    command = [sys.executable, SCALE, "--quick", "--scratch", str(tmp_path), "--json", str(tmp_path / "out.json")]
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600, env=env).stdout
    assert re.search(r"NumPy GEMM: float64 \d+ GFLOP/s", out)
    assert re.search(rf"epoch time against MLP: {keras.backend.backend()} \d+\.\d\dx", out)
    figures = json.loads((tmp_path / "out.json").read_text())
    assert {run["model"] for run in figures["runs"]} == {keras.backend.backend(), "mlp"}
    assert all(run["epoch_s"] > 0 and run["gflops"] > 0 for run in figures["runs"])
    assert {run["early_stopping"] for run in figures["memmap"]} == {False, True}


@pytest.mark.parametrize("early_stopping", ["plain", "early"])
def test_a_fit_from_a_memmap_does_not_copy_it(tmp_path, early_stopping):
    # Before, early stopping copied the training rows (X[train_rows]): 1.24x a
    # 763 MB memmap in anonymous memory; now 0.08x (benchmarks/scale.py). At
    # 300,000 x 100 float32 (115 MB) the fixed costs (8 MB chunks, the
    # scaler's blocks, the backend's buffers) are ~0.1-0.3x; a copy of X is >= 0.9x.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import scale
    finally:
        sys.path.pop(0)
    path = scale._memmap_file(str(tmp_path), 300_000, 100)
    command = [sys.executable, SCALE, "--memmap-one", "300000", "100", early_stopping, path]
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend()}
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600, env=env).stdout
    run = json.loads(out.strip().splitlines()[-1])
    assert run["anon_x"] < 0.5, run
    assert run["predict_anon_x"] < 0.5, run
