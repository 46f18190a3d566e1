"""The hidden cases of every exercise: the instructor's, never handed out.

This file stays beside the points file. It is not part of the ``course_lib`` package a student
installs, ``course assign`` never copies it, and ``course grade`` runs these cases in its own
process (``--hidden``), never inside a submission's. The instructor's notebooks read it through
``assign.check(name, function, hidden=True)`` in their hidden regions (``$COURSE_HIDDEN_CASES``,
else ``assignments/hidden_cases.py`` of the working folder or the one above it).

``HIDDEN`` maps each exercise to its cases, built from the same case makers as the visible ones.
"""

import numpy as np
import torch

from course_lib.assign.checks_branches import fold_case, mix_case
from course_lib.assign.checks_lc import (
    bits_case,
    keep_case,
    kmeans_case,
    mixture,
    normal_values,
    seeded_matrix,
    svd_case,
)
from course_lib.assign.checks_pruning import (
    flops_case,
    importance_case,
    mask_case,
    remove_case,
    seeded_conv,
    seeded_linear,
)
from course_lib.assign.checks_training import confusion_case, epoch_case, random_labels
from course_lib.assign.checks_tucker import factors_case, layer_case
from course_lib.assign.exercises import Case, seeded


def _rounded(seed: int, *shape: int) -> torch.Tensor:
    """Weights rounded to halves: many tie in magnitude."""
    return torch.round(seeded(seed, *shape) * 2) / 2


def _one_small_row(seed: int, *shape: int) -> torch.Tensor:
    """Rounded weights whose first row (filter) is a hundred times smaller than the others."""
    weights = _rounded(seed, *shape)
    weights[0] /= 100
    return weights


def _two_magnitudes(seed: int, *shape: int) -> torch.Tensor:
    return torch.where(seeded(seed, *shape) > 0, 1.0, -0.5)


HIDDEN = {
    "confusion": (
        Case("500 random images, 10 classes", confusion_case(*random_labels(1, 500, 10), 10)),
        Case("a class neither true nor predicted", confusion_case([0, 1, 1, 3], [1, 1, 0, 3], 5)),
        Case("rows are the true classes", confusion_case([2, 2, 2, 0], [0, 0, 1, 0], 3)),
        Case("one image", confusion_case([1], [2], 3)),
        Case("the last class never occurs", confusion_case([0, 1, 1, 0], [1, 1, 0, 0], 4)),
        Case("5 of 10 classes occur", confusion_case(*random_labels(2, 40, 5), 10)),
        Case("one image of class 0", confusion_case([0], [0], 3)),
        Case("two classes of ten", confusion_case([0, 1, 0], [0, 0, 1], 10)),
    ),
    "sgd_epoch": (
        Case("Nesterov, uneven batches", epoch_case(2, [8, 5, 3], nesterov=True)),
        Case("a batch of one image", epoch_case(3, [1], epochs=3)),
        Case("StepLR(3, 0.5): no decay yet", epoch_case(4, [4, 4], step_size=3)),
    ),
    "keep_largest": (
        Case("10 000 random weights, κ = 500", keep_case(seeded(2, 10_000), 500)),
        Case("κ = every weight", keep_case(seeded(3, 7), 7)),
        Case("ties at the κ-th magnitude", keep_case([1.0, -1.0, 1.0, 0.5, 1.0], 2)),
        Case("quantized weights", keep_case([0.5, -0.5, 0.5, 0.25, -0.25, 0.5, 1.0, -1.0], 3)),
        Case("every weight equal", keep_case([2.0] * 6, 2)),
        Case("three ties above four", keep_case([3.0, -3.0, 3.0, 1.0, -1.0, 1.0, -1.0], 4)),
        Case("four ties below the largest", keep_case([-0.2, 0.2, -0.2, 0.2, 0.7], 2)),
        Case("a codebook of two values", keep_case([0.1, -0.1] * 5, 3)),
    ),
    "kmeans_1d": (
        Case("5000 values, k = 2", kmeans_case(normal_values(1, 5000) ** 3, 2)),
        Case("warm start, twice as wide", kmeans_case(2 * mixture(10), 3, [0, 12, 18])),
        Case("k = 8 from an init", kmeans_case(normal_values(2, 400), 8, np.linspace(-2, 2, 8))),
    ),
    "truncated_svd": (
        Case("a 30×80 matrix at rank 1", svd_case(seeded_matrix(3, 30, 80), 1)),
        Case("a 100×20 matrix at rank 7", svd_case(seeded_matrix(4, 100, 20), 7)),
        Case("rank 1 of a rank-1 matrix", svd_case(seeded_matrix(5, 9, 4, rank=1), 1)),
    ),
    "codebook_bits": (
        Case("10 weights, k = 256", bits_case(10, 256)),
        Case("k = 1: no index at all", bits_case(500, 1)),
        Case("k = 5", bits_case(7, 5)),
    ),
    "magnitude_mask": (
        Case("ties at the threshold", mask_case(torch.tensor([1.0, -1, 1, -1, 2, 3]), 0.5)),
        Case("rate 0.35 of 10 weights", mask_case(seeded(3, 10), 0.35)),
        Case("rate 1 removes every weight", mask_case(seeded(4, 2, 5), 1.0)),
        Case("1000 weights at rate 0.9", mask_case(seeded(5, 1000), 0.9)),
        Case("a rounded (4, 6) weight at rate 0.5", mask_case(_rounded(6, 4, 6), 0.5)),
        Case("a rounded conv weight at rate 0.4", mask_case(_rounded(7, 3, 2, 3, 3), 0.4)),
        Case("two magnitudes at rate 0.6", mask_case(_two_magnitudes(9, 5, 5), 0.6)),
        Case(
            "a row of zeros at rate 0.5",
            mask_case(torch.cat([torch.zeros(1, 8), torch.ones(1, 8)]), 0.5),
        ),
        Case("one magnitude at rate 0.5", mask_case(torch.sign(seeded(10, 3, 4)), 0.5)),
        Case("the small weights in one row", mask_case(_one_small_row(12, 4, 5), 0.25)),
        Case("the small weights in one filter", mask_case(_one_small_row(13, 3, 2, 2, 2), 0.3)),
        Case("one small filter at rate 0.5", mask_case(_one_small_row(14, 2, 3, 3, 3), 0.5)),
        Case("one small row at rate 0.125", mask_case(_one_small_row(15, 4, 6), 0.125)),
        Case("a rounded (6, 10) weight at rate 0.3", mask_case(_rounded(11, 6, 10), 0.3)),
    ),
    "unit_importance": (
        Case("a conv's channels, l1", importance_case(seeded_conv(2, 6, 4, 5), "l1")),
        Case("a wide linear layer, l2", importance_case(seeded_linear(3, 300, 20), "l2")),
        Case("a single unit", importance_case(seeded_linear(4, 5, 1), "l1")),
        Case("an 8-channel conv, l2", importance_case(seeded_conv(5, 3, 8, 3), "l2")),
        Case("a linear layer, l2", importance_case(seeded_linear(6, 50, 10), "l2")),
    ),
    "remove_unit": (
        Case("the last channel of conv2, conv2 padded", remove_case("conv2", 4, padding=1)),
        Case(
            "the first channel of conv1, a batch norm between", remove_case("conv1", 0, norm=True)
        ),
        Case("the first neuron of fc1", remove_case("fc1", 0, seed=3)),
        Case("the first channel of conv2", remove_case("conv2", 0, seed=1)),
        Case("a middle channel of conv2, padded", remove_case("conv2", 2, padding=1, seed=4)),
    ),
    "seed001_flops": (
        Case("one unit each (1, 1, 1)", flops_case(1, 1, 1)),
        Case("a wide net (32, 64, 256)", flops_case(32, 64, 256)),
    ),
    "hosvd_factors": (
        Case("(16, 12, 3, 3) at ranks (5, 7)", factors_case(seeded(3, 16, 12, 3, 3), 5, 7)),
        Case("ranks (1, 1)", factors_case(seeded(4, 6, 7, 3, 3), 1, 1)),
        Case("a 5×5 kernel", factors_case(seeded(5, 4, 3, 5, 5), 2, 3)),
    ),
    "tucker_layer": (
        Case("no bias", layer_case((4, 6, 3), (2, 2), seed=2, bias=False)),
        Case("dilation 2", layer_case((4, 5, 3), (3, 3), seed=3, dilation=2)),
        Case("a 5×5 kernel, padding 2", layer_case((3, 6, 5), (2, 4), seed=4, padding=2)),
    ),
    "branch_mix": (
        Case("α = 0.75 on vectors", mix_case(0.75, 8, 10, seed=3)),
        Case("α = 0.9 on feature maps", mix_case(0.9, 1, 2, 3, 3, seed=4)),
    ),
    "fold_first": (
        Case("a conv without bias", fold_case(True, 2, bias=False)),
        Case("a batch norm without affine weights", fold_case(True, 3, affine=False)),
        Case("a tiny running variance (eps matters)", fold_case(False, 4, tiny_var=True)),
        Case("a conv, a tiny running variance", fold_case(True, 5, tiny_var=True)),
        Case("no bias, a tiny variance", fold_case(False, 6, bias=False, tiny_var=True)),
        Case("no affine, a tiny variance", fold_case(True, 7, affine=False, tiny_var=True)),
    ),
}
