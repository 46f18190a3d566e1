"""Magnitude pruning: exactly the intended weights go, per layer or with one global threshold."""

import copy

import pytest
import torch
from factories import small_fashion_cnn
from prune.cases import with_distinct_weights

from course_lib import prune
from course_lib.errors import CourseError

torch.set_num_threads(1)


def test_layer_pruning_keeps_exactly_the_largest_weights_and_leaves_the_original():
    model = with_distinct_weights(small_fashion_cnn())
    before = copy.deepcopy(model.state_dict())
    pruned = prune.magnitude_prune(model, 0.3, layers=["conv2"])
    weight = model.conv2.weight.reshape(-1)
    n_removed = round(0.3 * weight.numel())
    expected_kept = set(weight.abs().argsort()[n_removed:].tolist())
    kept = set(torch.nonzero(pruned.conv2.weight.reshape(-1)).reshape(-1).tolist())
    assert kept == expected_kept
    assert torch.equal(pruned.conv2.weight.reshape(-1)[list(kept)], weight[list(kept)])
    for name in ("conv1", "fc1", "fc2"):  # layers not named are untouched
        assert torch.equal(getattr(pruned, name).weight, getattr(model, name).weight)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any("mask" in k or "orig" in k for k in pruned.state_dict())  # pruning is baked in


def test_global_pruning_shares_one_threshold_across_layers():
    model = with_distinct_weights(small_fashion_cnn(), seed=3)
    pruned = prune.magnitude_prune(model, 0.6, layers=["conv2", "fc1"], scope="global")
    together = torch.cat([model.conv2.weight.reshape(-1), model.fc1.weight.reshape(-1)])
    threshold = together.abs().sort().values[round(0.6 * together.numel())]
    for name in ("conv2", "fc1"):
        original, result = getattr(model, name).weight, getattr(pruned, name).weight
        assert torch.equal(result, torch.where(original.abs() >= threshold, original, 0.0))
    rates = prune.sparsity(pruned, ["conv2", "fc1"])
    assert rates["conv2"] != pytest.approx(rates["fc1"], abs=0.01)  # per-layer rates differ


def test_per_layer_rates_and_sparsity():
    model = with_distinct_weights(small_fashion_cnn())
    pruned = prune.magnitude_prune(model, {"conv1": 0.5, "fc1": 0.9})
    sizes = {n: m.weight.numel() for n, m in prune.weight_layers(model).items()}
    got = prune.sparsity(pruned)
    assert got["conv1"] == round(0.5 * sizes["conv1"]) / sizes["conv1"]
    assert got["fc1"] == round(0.9 * sizes["fc1"]) / sizes["fc1"]
    assert got["conv2"] == got["fc2"] == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 1.5},
        {"rate": -0.1},
        {"rate": "half"},
        {"rate": 0.5, "layers": ["conv9"]},
        {"rate": 0.5, "scope": "everywhere"},
        {"rate": {"conv1": 0.5}, "scope": "global"},
    ],
)
def test_bad_pruning_requests_are_refused(kwargs):
    with pytest.raises(CourseError):
        prune.magnitude_prune(small_fashion_cnn(), **kwargs)
