"""Notebook 03 runs under papermill in the smoke profile with injected parameters."""

import json
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.notebook
def test_pruning_notebook_runs_with_injected_parameters(tmp_path):
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "03_pruning.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={
            "profile": "smoke",
            "output_dir": str(out),
            "prune_rates": [0.8, 0.0],
            "scan_layers": ["conv2", "fc1"],
            "scope": "global",
            "histogram_rate": 0.8,
            "structured_layers": ["conv2", "fc1"],
            "norm": "l1",
            "order": "cheapest",
            "accuracy_floor": 0.0,
            "max_removals": 4,
            "round_to": {"fc1": 4},
            "finetune_epochs": 0,
            "final_epochs": 0,
            "eval_images": 200,
            "latency_batch": 64,
            "latency_repeats": 2,
        },
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["model"] == "fashion_cnn"
    scan = metrics["sensitivity"]
    assert scan["rates"] == [0.0, 0.8] and scan["scope"] == "global"
    assert list(scan["accuracy"]) == ["conv2", "fc1", "all layers"]
    assert all(curve[0] == scan["baseline"] for curve in scan["accuracy"].values())
    structured = metrics["structured"]
    assert structured["settings"]["order"] == "cheapest"
    assert structured["settings"]["round_to"] == {"conv2": 1, "fc1": 4}
    assert structured["widths"] == {"conv2": 12, "fc1": 96}  # 4 removals: 4 steps, 1 step of 4
    assert structured["trajectory"]["phase"] == ["start"] + ["prune"] * 5
    assert structured["settings"]["latency"]["batch_size"] == 64  # the table of layer times
    assert all(ms > 0 for ms in structured["trajectory"]["latency_ms"])
    assert structured["settings"]["latency_step"] is None  # only order "latency" steps by time
    chosen = metrics["chosen"]
    assert (chosen["c1"], chosen["c2"], chosen["f1"]) == (12, 12, 96)
    assert all(type(chosen[key]) is int for key in ("c1", "c2", "f1", "params", "flops"))
    assert chosen["final_epochs"] == 0
    assert chosen["test_accuracy"] == chosen["test_accuracy_before_finetune"]
    assert chosen["flops"] == chosen["formula_torch"] < chosen["original"]["flops"]
    assert chosen["timing"]["batch_size"] == 64 and chosen["timing"]["images"] == 10000
    by_layer = chosen["time_by_layer"]
    assert by_layer["conv2"]["flops_pruned"] == 64 * 2 * 12 * 12 * 25 * 22 * 22
    assert by_layer["total"]["flops_pruned"] == 64 * chosen["flops"]
    assert metrics["masked_speedup"]["flop_ratio"] == 1.0
    assert {"sensitivity", "histograms", "structured"} <= set(metrics["figures"])
    assert all((out / f"{name}.png").is_file() for name in metrics["figures"])
