"""benchmarks/seed_experiments.py --quick: the whole pipeline on small subsets."""

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "boston_housing.npz").exists(), reason="../shared/datasets is not beside the checkout")
def test_quick_run_writes_tables_claims_and_figures(tmp_path):
    script = ROOT / "benchmarks" / "seed_experiments.py"
    env_args = [sys.executable, str(script), "--quick", "--data-dir", str(DATA), "--out", str(tmp_path)]
    result = subprocess.run(env_args, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "results.md").read_text()
    for heading in ("## The article's claims", "### fashion_mnist", "### cifar10", "### boston"):
        assert heading in report
    for claim in ("28% fewer iterations", "test F1 12% higher", "32% fewer epochs"):
        assert claim in report
    assert report.count("| SNN |") == report.count("| regular |") == report.count("| MLP |") == 3
    for name in ("fashion_mnist", "cifar10", "boston"):
        for figure in ("validation", "last_layer_weights", "activations"):
            assert (tmp_path / f"{name}_{figure}.png").stat().st_size > 1000


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "boston_housing.npz").exists(), reason="../shared/datasets is not beside the checkout")
def test_first_seed_with_append_adds_seeds_to_the_saved_runs(tmp_path):
    script = ROOT / "benchmarks" / "seed_experiments.py"
    base = [
        sys.executable,
        str(script),
        "--quick",
        "--datasets",
        "boston",
        "--data-dir",
        str(DATA),
        "--out",
        str(tmp_path),
    ]
    for extra in ([], ["--first-seed", "1", "--append"]):
        result = subprocess.run(base + extra, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((tmp_path / "results.json").read_text())
    runs = saved["results"]["boston"]
    assert {model: len(seeds) for model, seeds in runs.items()} == {"SNN": 2, "regular": 2, "MLP": 2}
    # seed 0 and seed 1 use different splits and initializations
    assert runs["SNN"][0]["curve"] != runs["SNN"][1]["curve"]
    command = saved["meta"]["boston"]["command"]
    assert "; then " in command and command.endswith("--first-seed 1 --append --quick")
    assert (tmp_path / "boston_last_layer_weights.png").stat().st_size > 1000


def test_unknown_data_set_and_missing_files_are_clear_errors(tmp_path):
    script = ROOT / "benchmarks" / "seed_experiments.py"
    bad = subprocess.run([sys.executable, str(script), "--datasets", "mnist"], capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown data sets" in bad.stderr
    missing = subprocess.run(
        [sys.executable, str(script), "--datasets", "boston", "--data-dir", str(tmp_path), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "not found" in missing.stderr
