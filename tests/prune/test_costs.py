"""What pruning reports of a pruned Fashion CNN: seed 001's FLOP formula beside torch's counter,
the FLOP table, the measured speed-up record and the time by layer."""

import pytest
import torch
from torch import nn

from course_lib import costs, models, prune
from course_lib.errors import CourseError
from course_lib.models import build_model

torch.set_num_threads(1)


@pytest.mark.parametrize(
    "shape", [(12, 16, 100, 3, 5), (1, 7, 72, 3, 5), (5, 3, 20, 5, 3), (16, 1, 1, 3, 3)]
)
def test_flop_formula_matches_the_counter(shape):
    c1, c2, f1, k1, k2 = shape
    net = build_model("fashion_cnn", (1, 28, 28), 10, c1=c1, k1=k1, c2=c2, k2=k2, f1=f1)
    counted = costs.count_flops(net, (1, 28, 28))
    assert costs.fashion_cnn_flops(c1, c2, f1, k1=k1, k2=k2) == counted
    assert costs.fashion_cnn_flops(**models.fashion_cnn_shape(net)) == counted


def test_seed_001_convention():
    # seed 001's formula written out for (12, 16, 100):
    # 26²·9·12 + 2·12·26² + 22²·12·25·16 + 2·16·22² + 100·22²·16 + 2·100 + 100·10
    expected = 73008 + 16224 + 2323200 + 15488 + 774400 + 200 + 1000
    assert costs.fashion_cnn_flops(12, 16, 100, convention="seed001") == expected
    with pytest.raises(CourseError):
        costs.fashion_cnn_flops(12, 16, 100, convention="macs")
    with pytest.raises(CourseError):
        costs.fashion_cnn_flops(0, 16, 100)


def test_flop_table_counts_and_formulas():
    original = build_model("fashion_cnn", (1, 28, 28), 10)
    pruned = prune.remove_unit(original, "conv1", 0)
    table = costs.flop_table({"original": original, "pruned": pruned}, (1, 28, 28))
    assert list(table["c1"]) == [12, 11]
    assert (table["flops"] == table["formula_torch"]).all()
    assert table.loc["pruned", "formula_seed001"] == costs.fashion_cnn_flops(
        11, 16, 100, convention="seed001"
    )
    assert table.loc["original", "params"] == costs.count_params(original)
    lenet = costs.flop_table({"lenet5": build_model("lenet5")}, (1, 28, 28))
    assert "formula_torch" not in lenet and not models.is_fashion_cnn(build_model("lenet5"))


def test_flop_table_takes_a_students_seed_001_formula_for_seed_001s_net_only():
    nets = {"original": build_model("fashion_cnn", (1, 28, 28), 10)}
    nets["k2=3"] = build_model("fashion_cnn", (1, 28, 28), 10, k2=3)
    table = costs.flop_table(nets, (1, 28, 28), seed001=lambda c1, c2, f1: c1 * 1000 + c2 + f1)
    assert table.loc["original", "formula_seed001"] == 12 * 1000 + 16 + 100
    assert table.loc["k2=3", "formula_seed001"] == costs.fashion_cnn_flops(
        12, 16, 100, k2=3, convention="seed001"
    )


def test_speedup_reports_both_timings_and_the_flop_ratio():
    original = build_model("fashion_cnn", (1, 28, 28), 10)
    pruned = build_model("fashion_cnn", (1, 28, 28), 10, c1=2, c2=4, f1=20)
    compared = costs.compare(
        {"original": original, "pruned": pruned}, (1, 28, 28), batch_size=8, repeats=2,
        warmup=1, threads=1,
    )  # fmt: skip
    result = prune.speedup(compared, repeats=2, images=20)
    expected_ratio = costs.fashion_cnn_flops(12, 16, 100) / costs.fashion_cnn_flops(2, 4, 20)
    assert result["flop_ratio"] == pytest.approx(expected_ratio)
    assert result["speedup"] == pytest.approx(result["original_s"] / result["pruned_s"])
    assert result["threads"] == 1 and result["batch_size"] == 8
    assert result["pruned_images_s"] == pytest.approx(result["pruned_s"] * 20 / 8)
    assert result["steady_heap"] and result["pruned_conv_backend"] in costs.CONV_BACKENDS
    assert (result["repeats"], result["rounds"], result["images"]) == (2, 3, 20)
    with pytest.raises(CourseError, match="two models"):
        prune.speedup(compared.iloc[:1], repeats=2)
    with pytest.raises(CourseError, match="images"):
        prune.speedup(compared, repeats=2, images=0)


def test_time_by_layer_sets_each_layers_flop_ratio_beside_its_speedup():
    original = build_model("fashion_cnn", (1, 28, 28), 10)
    pruned = build_model("fashion_cnn", (1, 28, 28), 10, c1=2, c2=4, f1=20)
    nets = {"original": original, "pruned": pruned}
    compared = costs.compare(nets, (1, 28, 28), batch_size=4, repeats=2, rounds=1, threads=1)
    timing = prune.speedup(compared, repeats=2, rounds=1)
    table = costs.time_by_layer(nets, (1, 28, 28), compared, repeats=2)
    assert table.loc["conv2", "flop_ratio"] == pytest.approx(12 * 16 / (2 * 4))
    assert table.loc["fc1", "flop_ratio"] == pytest.approx(16 * 100 / (4 * 20))
    assert table.loc["total", "flop_ratio"] == pytest.approx(timing["flop_ratio"])
    assert table.loc["total", "ms_pruned"] == pytest.approx(table["ms_pruned"].iloc[:-1].sum())
    speedup = table.loc["conv2", "ms_original"] / table.loc["conv2", "ms_pruned"]
    assert table.loc["conv2", "speedup"] == pytest.approx(speedup)
    with pytest.raises(CourseError, match="same layers"):
        costs.time_by_layer(
            {"original": original, "pruned": nn.Sequential(nn.Flatten())}, (1, 28, 28), compared
        )
