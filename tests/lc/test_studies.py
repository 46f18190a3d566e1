"""Studies for notebook 02: the method specs, mixes by layer group, Pareto fronts."""

import pandas as pd
import pytest

from course_lib import CourseError, lc
from course_lib.models import build_model


def test_layer_groups_are_conv_vs_linear_or_first_vs_rest():
    assert lc.layer_groups(build_model("lenet5")) == {
        "conv": ("conv1", "conv2"),
        "linear": ("fc1", "fc2"),
    }
    assert lc.layer_groups(build_model("lenet300")) == {"fc1": ("fc1",), "rest": ("fc2", "fc3")}


def test_mixing_specs_are_the_six_pairings_and_all_three():
    model = build_model("lenet5")
    specs = lc.mixing_specs(model, {"pruning": 0.2, "quantization": 2, "low-rank": 1e-8})
    assert len(specs) == 7
    pairs = [label for label in specs if "/" not in label]
    assert len(set(pairs)) == 6 and "conv: pruning, linear: quantization" in pairs
    tasks = lc.task_map(model, specs["conv: pruning, linear: low-rank / quantization"])
    assert lc.describe_tasks(tasks) == (
        "conv1: prune to 20 % of the weights\nconv2: prune to 20 % of the weights\n"
        "fc1: rank selection α = 1e-08\nfc2: quantize with k = 2"
    )
    with pytest.raises(CourseError, match="mix budgets"):
        lc.mixing_specs(model, {"pruning": 0.2})


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
