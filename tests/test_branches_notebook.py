"""Notebook 05 runs under papermill in the smoke profile with injected parameters."""

import json
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.notebook
def test_alpha_branch_notebook_runs_with_injected_parameters(tmp_path):
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "05_alpha_branch.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={
            "profile": "smoke",
            "output_dir": str(out),
            "layers": ["conv6", "fc1"],
            "widths": {"conv6": 32, "fc1": 64},
            "branch_init": "random",
            "alphas": [0.5, 0.0],
            "pretrained_weights": ["frozen"],
        },
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["model"] == "vgg_small"
    assert metrics["schedule"] == [0.5, 0.0]
    assert [row["pair"] for row in metrics["branches"]] == ["conv6 -> fc1", "fc1 -> fc2"]
    stages = metrics["runs"]["frozen"]["stages"]
    assert [stage["alpha"] for stage in stages] == [0.5, 0.0]
    assert metrics["folded_run"] == "frozen"
    check = metrics["fold_check"]
    assert check["folded_accuracy"] == check["branched_accuracy"] == stages[-1]["test_accuracy"]
    costs = {row["model"]: row for row in metrics["costs"] if row["device"] == "cpu"}
    # conv6 128 -> 32 outputs, bn6 folded away, fc1 32*9 -> 64, fc2 64 -> 10 inputs
    assert costs["original"]["params"] == 585066
    assert costs["folded"]["params"] == 585066 - 147584 + 36896 - 256 - 295168 + 18496 - 2570 + 650
    assert {"alpha_stages", "alpha_accuracy", "costs"} <= set(metrics["figures"])
    assert all((out / f"{name}.png").is_file() for name in metrics["figures"])
