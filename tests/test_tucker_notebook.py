"""Notebook 04 runs under papermill in the smoke profile with injected parameters."""

import json
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.notebook
def test_tucker_notebook_runs_with_injected_parameters(tmp_path):
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "04_tucker.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={
            "profile": "smoke",
            "output_dir": str(out),
            "layers": ["conv3", "conv5"],
            "ks": [1, 8],
            "fine_tune_ks": [1],
            "curve_layer": "conv3",
            "curve_points": 3,
            "method": "hosvd",
        },
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["model"] == "vgg_small"
    assert metrics["layers"] == ["conv3", "conv5"] and metrics["method"] == "hosvd"
    assert metrics["full_rank_output_error"] < 1e-5
    curves = metrics["curves"]
    assert [(row["varied"], row["rank"]) for row in curves] == [
        ("R1", 1), ("R1", 16), ("R1", 32), ("R2", 1), ("R2", 32), ("R2", 64)
    ]  # fmt: skip
    sweep = {row["model"]: row for row in metrics["sweep"]}
    assert list(sweep) == ["original", "k=1", "k=8"]
    assert sweep["original"]["accuracy"] == metrics["reference_accuracy"]
    # full ranks: the same outputs up to float rounding, so at most one of 256 test images flips
    assert sweep["k=8"]["accuracy"] == pytest.approx(metrics["reference_accuracy"], abs=1 / 256)
    assert sweep["k=1"]["flop_ratio"] > 1 > sweep["k=8"]["flop_ratio"]
    assert sweep["k=1"]["accuracy_tuned"] is not None and sweep["k=8"]["accuracy_tuned"] is None
    assert {row["layer"] for row in metrics["sweep_layers"]} == {"conv3", "conv5"}
    assert [row["k"] for row in metrics["methods"]] == [1, 8]
    assert {"reconstruction", "accuracy", "forward_time"} <= set(metrics["figures"])
    assert all((out / f"{name}.png").is_file() for name in metrics["figures"])
