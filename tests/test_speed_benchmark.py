"""benchmarks/speed.py's everyday figures run and print every row they promise."""

import pathlib
import re
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
UCI = ROOT.parent / "shared" / "datasets" / "uci121"
RUN = {"check": True, "capture_output": True, "text": True, "timeout": 900}


def assert_ratio_of(ours, base, ratio):
    """``ratio`` is ``ours / base`` up to the rounding of the three printed numbers (to 0.01)."""
    assert ours > 0 and base > 0
    # each time is off by up to 0.005 s, the ratio itself by up to 0.005
    bound = 0.005 + (ours / base) * (0.005 / ours + 0.005 / base) * 1.01
    assert abs(ratio - ours / base) <= bound, (ours, base, ratio)


@pytest.mark.slow
@pytest.mark.skipif(not UCI.exists(), reason="../shared/datasets is not beside the checkout")
def test_everyday_figures_print_ratios_against_mlp():
    command = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--backend", keras.backend.backend()]
    command += ["--figures", "datasets,search", "--data-dir", str(UCI), "--dataset-step", "40", "--search-fits", "31"]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900).stdout
    assert "(3 data sets, X as float64)" in out
    for name in ("many data sets, total", "same shape, refit"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        ours, base, ratio = (float(v) for v in re.findall(r"(\d+\.\d+)", line)[:3])
        assert_ratio_of(ours, base, ratio)
    setup = next(line for line in out.splitlines() if line.startswith("a new shape"))
    assert re.search(r"-?\d+\.\d+ s", setup)
    growth = next(line for line in out.splitlines() if line.startswith("search RSS growth"))
    assert re.search(r"fits 30-30 -> 30-31: \d+ -> \d+ MB", growth)


@pytest.mark.slow
def test_first_minute_figures_print_new_processes_against_mlp():
    command = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--backend", keras.backend.backend()]
    out = subprocess.run(command + ["--figures", "first", "--rounds", "1"], **RUN).stdout
    for name in ("new process, warm", "new process, cold", "new search, warm", "new search, cold"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        ours, base, ratio = (float(v) for v in re.findall(r"(\d+\.\d+)", line)[:3])
        assert_ratio_of(ours, base, ratio)
        assert "StandardScaler+MLPClassifier" in line
    again = next(line for line in out.splitlines() if line.startswith("next process, 1st fit"))
    assert "a refit in that process" in again
