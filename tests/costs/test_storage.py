"""costs.storage: the formulas behind every compression ratio."""

import pytest
import torch

from course_lib import CourseError, costs
from course_lib.models import build_model


def mask_of(n, kept):
    mask = torch.zeros(n, dtype=torch.bool)
    mask[list(kept)] = True
    return mask


def test_pruned_bits_chooses_the_cheapest_index_width():
    # gaps 0, 2, 15: 4-bit indices hold them all -> 3 entries of 32 + 4 bits
    assert costs.pruned_bits(mask_of(20, [0, 3, 19])) == 3 * 36
    # one gap of 38 zeros: 5-bit indices need one filler (3 × 37 = 111), 6-bit none (2 × 38 = 76)
    assert costs.pruned_bits(mask_of(40, [0, 39])) == 2 * 38
    # 1-bit values: 5-bit indices cost 3 × 6 = 18 (one filler), 6-bit 2 × 7 = 14, 7-bit 2 × 8
    assert costs.pruned_bits(mask_of(40, [0, 39]), value_bits=1) == 2 * 7
    assert costs.pruned_bits(mask_of(10, [])) == 0


def test_pruned_bits_falls_back_to_dense():
    assert costs.pruned_bits(torch.ones(10, dtype=torch.bool)) == 320


def test_codebook_and_low_rank_bits():
    assert costs.codebook_bits(1000, 2) == 1000 + 64
    assert costs.codebook_bits(1000, 64) == 6000 + 32 * 64
    assert costs.codebook_bits(1000, 3, stored_entries=1) == 2000 + 32
    assert costs.low_rank_bits(300, 100, 10) == 32 * 10 * 400
    assert costs.low_rank_bits(300, 100, 90) == 32 * 300 * 100  # factors would be larger
    assert costs.dense_bits(7) == 224


def test_lenet300_with_a_two_entry_codebook_per_layer_is_30_5x():
    model = build_model("lenet300")
    layers = {"fc1": 784 * 300, "fc2": 300 * 100, "fc3": 100 * 10}
    compressed = {(f"{n}.weight",): costs.codebook_bits(size, 2) for n, size in layers.items()}
    summary = costs.storage_summary(model, compressed)
    assert summary["dense_bits"] == 32 * (266200 + 410)
    assert summary["compressed_bits"] == 266200 + 3 * 64 + 32 * 410  # biases stay float32
    assert round(summary["ratio"], 1) == 30.5


def test_keeping_5_percent_of_lenet300_is_about_16x_not_20x():
    model = build_model("lenet300")
    gen = torch.Generator().manual_seed(0)
    compressed = {
        (name,): costs.pruned_bits(torch.rand(p.shape, generator=gen) < 0.05)
        for name, p in model.named_parameters()
        if name.endswith("weight")
    }
    ratio = costs.storage_summary(model, compressed)["ratio"]
    assert 15.5 < ratio < 16.5


def test_storage_summary_refuses_unknown_or_double_counted_parameters():
    model = build_model("lenet300")
    with pytest.raises(CourseError, match="No parameters"):
        costs.storage_summary(model, {("fc9.weight",): 10})
    with pytest.raises(CourseError, match="two compressed groups"):
        costs.storage_summary(model, {("fc1.weight",): 10, ("fc1.weight", "fc2.weight"): 10})
