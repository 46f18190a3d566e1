"""Folding: the fold equals the α = 0 model, its shapes, the fold check and what it saves."""

import math

import matplotlib
import pytest
import torch
from branches.cases import CASES, SHAPE, inputs, prepared
from torch import nn

from course_lib import branches, plots

matplotlib.use("Agg")


@pytest.mark.parametrize("case", CASES)
def test_folded_model_equals_the_alpha_zero_model(case):
    _, branched, _ = prepared(case)
    x = inputs(case)
    original = branched(x)
    branches.set_alpha(branched, 0.0)
    at_zero = branched(x)
    folded = branches.fold(branched).eval()
    assert (at_zero - original).abs().max() > 1e-3  # the branch really replaced the path
    assert not any(isinstance(m, branches.BranchMix | branches.BranchTap) for m in folded.modules())
    torch.testing.assert_close(folded(x), at_zero, rtol=0, atol=1e-12)


def test_fold_in_float32_is_exact_to_float_precision():
    _, branched, _ = prepared("chained pairs", torch.float32)
    x = inputs("chained pairs", torch.float32)
    branches.set_alpha(branched, 0.0)
    torch.testing.assert_close(branches.fold(branched).eval()(x), branched(x), rtol=1e-5, atol=1e-6)


def test_folded_shapes_by_hand():
    """conv1 2->8 (3x3, no bias) + bn1 becomes 2->3 with a bias; conv2 8->5 becomes 3->5."""
    _, branched, _ = prepared("conv pair")
    folded = branches.fold(branched)
    assert tuple(folded.conv1.weight.shape) == (3, 2, 3, 3) and folded.conv1.bias.shape == (3,)
    assert tuple(folded.conv2.weight.shape) == (5, 3, 3, 3)
    assert isinstance(folded.bn1, nn.Identity)
    assert sum(p.numel() for p in folded.parameters()) == 3 * 2 * 9 + 3 + 5 * 3 * 9 + 5


def test_flatten_fold_keeps_the_positions_of_each_channel():
    _, branched, _ = prepared("conv to linear across a flatten")
    folded = branches.fold(branched)
    assert tuple(folded.fc1.weight.shape) == (7, 2 * 9)
    assert tuple(folded.conv1.weight.shape) == (2, 2, 3, 3)


def test_residual_fold_keeps_the_skip_connections():
    model, branched, _ = prepared("residual block")
    folded = branches.fold(branched)
    for before, after in zip(model.layers, folded.layers, strict=True):
        assert after.conv2.out_channels == before.conv2.out_channels
        assert after.bn2 is not before.bn2 and isinstance(after.bn2, nn.BatchNorm2d)
        assert (after.downsample is None) == (before.downsample is None)
    assert folded.layers[1].conv1.out_channels == 3 and folded.layers[1].conv2.in_channels == 3


def test_fold_check_of_a_trained_model(runs, data):
    model = runs["trainable"].model
    report = branches.check_fold(model, branches.fold(model), data)
    assert report["folded_accuracy"] == report["branched_accuracy"]
    assert report["max_output_difference"] < 1e-4


def test_costs_by_device(pretrained, runs):
    folded = branches.fold(runs["frozen"].model)
    table = branches.costs_by_device(pretrained, folded, SHAPE, batch_size=8, repeats=2, warmup=0)
    assert list(table["model"]) == ["original", "folded", "folded / original"]
    rows = table.set_index("model")
    original_params = sum(p.numel() for p in pretrained.parameters())
    assert rows.loc["original", "params"] == original_params
    assert rows.loc["folded / original", "params"] == pytest.approx(
        sum(p.numel() for p in folded.parameters()) / original_params
    )
    assert rows.loc["folded / original", "flops"] < 1
    assert all(math.isfinite(v) and v > 0 for v in table["ms_per_image"])
    # memory measured in a pass of 8 images: more than what sits in memory before it, and less
    # for the folded model
    for name, model in (("original", pretrained), ("folded", folded)):
        tensors = [*model.parameters(), *model.buffers(), torch.zeros(8, *SHAPE)]
        resident = sum(t.numel() * t.element_size() for t in tensors) / 2**20
        assert rows.loc[name, "memory_mb"] > resident
    assert rows.loc["folded / original", "memory_mb"] < 1


def test_cost_plot(pretrained, runs):
    table = branches.costs_by_device(
        pretrained, branches.fold(runs["frozen"].model), SHAPE, batch_size=8, repeats=1, warmup=0
    )
    assert len(plots.alpha_costs(table).axes) == 4
