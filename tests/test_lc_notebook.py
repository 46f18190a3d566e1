"""Notebook 02 runs under papermill in the smoke profile with injected parameters."""

import json
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.notebook
def test_lc_notebook_runs_with_injected_parameters(tmp_path):
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "02_lc_compression.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={
            "profile": "smoke",
            "output_dir": str(out),
            "codebook_sizes": [2],
            "prune_fractions": [0.05],
            "rank_alphas": [],
            "ranks": [5],
        },
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["model"] == "lenet300"
    assert 0 < metrics["reference"]["test_error"] < 0.9
    runs = {run["run"]: run for run in metrics["runs"]}
    assert set(runs) == {"pruning 0.05", "quantization 2", "fixed rank 5"}
    assert round(runs["quantization 2"]["ratio"], 1) == 30.5
    assert runs["pruning 0.05"]["params"] == round(0.05 * 266200) + 410
    assert runs["fixed rank 5"]["tasks"].startswith("fc1: low-rank r = 5")
    for run in metrics["runs"] + metrics["mixes"] + metrics["schedules"]:
        assert {"ratio", "train_error", "test_error", "direct_test_error", "tasks"} <= set(run)
    assert len(metrics["mixes"]) == 7
    assert metrics["lc_config"]["mu_schedule"] == [9e-4]
    assert {"error_vs_ratio", "error_vs_codebook", "pareto_lenet300", "mu_effect"} <= set(
        metrics["figures"]
    )
    assert all((out / f"{name}.png").is_file() for name in metrics["figures"])
