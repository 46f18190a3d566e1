"""Studies for notebook 02: the method specs, mixes by layer group, Pareto fronts."""

import pandas as pd
import pytest
from factories import prototype_bundle

from course_lib import CourseError, lc
from course_lib.models import build_model


def test_layer_groups_are_conv_vs_linear_or_first_vs_rest():
    assert lc.layer_groups(build_model("lenet5")) == {
        "conv": ("conv1", "conv2"),
        "linear": ("fc1", "fc2"),
    }
    assert lc.layer_groups(build_model("lenet300")) == {"fc1": ("fc1",), "rest": ("fc2", "fc3")}


def test_mixing_specs_are_the_six_pairings_and_all_three_in_both_orders():
    model = build_model("lenet5")
    specs = lc.mixing_specs(model, {"pruning": 0.2, "quantization": 2, "low-rank": 1e-8})
    assert len(specs) == 8
    pairs = [label for label in specs if "/" not in label]
    assert len(set(pairs)) == 6 and "conv: pruning, linear: quantization" in pairs
    tasks = lc.task_map(model, specs["conv: pruning, linear: low-rank / quantization"])
    assert lc.describe_tasks(tasks) == (
        "conv1: prune to 20 % of the weights\nconv2: prune to 20 % of the weights\n"
        "fc1: rank selection α = 1e-08\nfc2: quantize with k = 2"
    )
    other = lc.task_map(model, specs["conv: pruning, linear: quantization / low-rank"])
    assert lc.describe_tasks(other).endswith(
        "fc1: quantize with k = 2\nfc2: rank selection α = 1e-08"
    )
    with pytest.raises(CourseError, match="mix budgets"):
        lc.mixing_specs(model, {"pruning": 0.2})


def test_a_pruning_budget_per_layer_gives_seed_002s_kappas():
    """Seed 002 kept 104 and 2,505 weights of LeNet-5's convs: 20.8 % of 500 and 10.02 % of
    25,000."""
    model = build_model("lenet5")
    budgets = {"pruning": [0.208, 0.1002], "quantization": 2, "low-rank": 2.5e-9}
    spec = lc.mixing_specs(model, budgets)["conv: pruning, linear: quantization"]
    tasks = lc.task_map(model, spec)
    result = lc.direct_compression(model, tasks, prototype_bundle((1, 28, 28)))
    kept = [int((result.deltas[f"conv{i}.weight"] != 0).sum()) for i in (1, 2)]
    assert kept == [104, 2505]
    with pytest.raises(CourseError, match="one fraction, or one per layer"):
        lc.mixing_specs(model, {**budgets, "pruning": [0.1, 0.2, 0.3]})


def test_a_mix_study_over_two_points_draws_a_curve_per_mix():
    model = build_model("lenet5")
    points = [
        {"pruning": 0.5, "quantization": 4, "low-rank": 1e-8},
        {"pruning": [0.2, 0.1], "quantization": 2, "low-rank": 1e-7},
    ]
    table, results = lc.mix_study(
        model,
        prototype_bundle((1, 28, 28), 200, 100),
        points,
        lc.LCConfig(steps=0),
        progress=False,
    )
    assert len(table) == len(results) == 16
    assert table.groupby("method").size().tolist() == [2] * 8
    assert set(table["budget"]) == {"kept 0.5, k 4, α 1e-08", "kept 0.2/0.1, k 2, α 1e-07"}
    one = table[table["method"] == "conv: quantization, linear: pruning"]
    assert one["ratio"].iloc[1] > one["ratio"].iloc[0]  # the second point compresses harder


def test_method_specs_fit_every_layer():
    model = build_model("lenet300")
    tasks = lc.task_map(model, lc.method_spec("fixed rank", model, 20))
    assert [t.compression.target_rank for t in tasks] == [20, 20, 10]  # fc3 is 10 × 100
    (joint,) = lc.task_map(model, lc.method_spec("pruning", model, 0.05))
    assert joint.layers == ("fc1", "fc2", "fc3")
    with pytest.raises(CourseError, match="Unknown method"):
        lc.method_spec("hashing", model, 1)


def test_pareto_front_keeps_the_runs_nothing_beats():
    table = pd.DataFrame(
        {
            "ratio": [10.0, 20.0, 20.0, 30.0, 5.0],
            "test_error": [0.10, 0.12, 0.15, 0.20, 0.10],
        }
    )
    assert lc.pareto_front(table).tolist() == [True, True, False, True, False]
