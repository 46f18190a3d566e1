"""Plausible wrong implementations of every exercise, written as a student would (no library
call), each with the words its feedback must contain. ``tests/assign/test_mistakes.py`` grades
them all through the judge and the README's instructor section lists their scores."""

from dataclasses import dataclass

IMPORTS = """
import copy
import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
"""


@dataclass(frozen=True)
class Mistake:
    exercise: str
    name: str
    words: str  # what the feedback of at least one failed case says
    source: str  # defines a function named after the exercise

    @property
    def alias(self) -> str:
        return f"{self.exercise}__{self.name}"

    def renamed(self) -> str:
        return self.source.replace(f"def {self.exercise}(", f"def {self.alias}(", 1)


def _all(exercise: str, *mistakes: tuple[str, str, str]) -> list[Mistake]:
    return [Mistake(exercise, name, words, source.strip()) for name, words, source in mistakes]


_REMOVE = """
def remove_unit(model, layer, unit):
    smaller = COPY
    names = [name for name, _ in model.named_children()]
    target = getattr(smaller, layer)
    keep = [u for u in range(target.weight.shape[0]) if u != UNIT]
    target.weight = nn.Parameter(target.weight.detach()[keep].clone())
    target.bias = nn.Parameter(target.bias.detach()[BIAS].clone())
    if isinstance(target, nn.Conv2d):
        target.out_channels = len(keep)
    else:
        target.out_features = len(keep)
    for name in names[names.index(layer) + 1 :]:
        module = getattr(smaller, name)
        if isinstance(module, nn.BatchNorm2d):
            for key in ("weight", "bias"):
                setattr(module, key, nn.Parameter(getattr(module, key).detach()[keep].clone()))
            module.running_mean = module.running_mean[keep].clone()
            module.running_var = module.running_var[keep].clone()
            module.num_features = len(keep)
        elif isinstance(module, nn.Conv2d | nn.Linear):
            inputs = keep
            if isinstance(module, nn.Linear) and isinstance(target, nn.Conv2d):
                block = module.in_features // (len(keep) + 1)
                inputs = BLOCK
            NEXT
            return smaller
    return smaller
"""
_MASK = """
def magnitude_mask(w, rate):
    mask = torch.START_like(w)
    chosen = round(rate * w.numel())
    if chosen:
        mask.view(-1)[torch.topk(w.abs().reshape(-1), chosen, largest=LARGEST).indices] = MARK
    return mask
"""  # round(rate·n) weights chosen by magnitude (START, LARGEST, MARK: which, and how marked)
_HOSVD = """
def hosvd_factors(weight, r1, r2):
    inputs = UNFOLD
    outputs = weight.reshape(weight.shape[0], -1)
    first = torch.linalg.svd(FIRST, full_matrices=True)[0][:, KEEP1]
    second = torch.linalg.svd(SECOND, full_matrices=True)[0][:, KEEP2]
    return RETURN
"""
_HOSVD_RIGHT = {
    "UNFOLD": "weight.movedim(1, 0).reshape(weight.shape[1], -1)",
    "FIRST": "inputs",
    "SECOND": "outputs",
    "KEEP1": ":r1",
    "KEEP2": ":r2",
    "RETURN": "first, second",
}
_COLD = """
def kmeans_1d(values, k, init=None):
    VALUES
    distinct = np.unique(values)
    if len(distinct) <= k:
        return distinct
    centers = values[((np.arange(k) + 0.5) / k * len(values)).astype(np.int64)]
    for _ in range(300):
        nearest = np.abs(values[:, None] - centers[None, :]).argmin(axis=1)
        moved = np.array([values[nearest == j].mean() if (nearest == j).any() else c
                          for j, c in enumerate(centers)])
        if np.array_equal(moved, centers):
            break
        centers = moved
    return np.sort(centers)
"""  # Lloyd's iterations from the quantile seeds alone (VALUES: what is done to the values first)
_SGD = """
def sgd_epoch(model, batches, optimizer, scheduler):
    losses = []
    for x, y in batches:
        ZERO
        loss = F.cross_entropy(model(x), y REDUCTION)
        loss.backward()
        STEP
        PER_BATCH
        losses.append(loss.item())
    AFTER
    return losses
"""
_SGD_RIGHT = {
    "ZERO": "optimizer.zero_grad()",
    "REDUCTION": "",
    "STEP": "optimizer.step()",
    "PER_BATCH": "",
    "AFTER": "scheduler.step()",
}
_REMOVE_RIGHT = {
    "COPY": "copy.deepcopy(model)",
    "UNIT": "unit",
    "BIAS": "keep",
    "BLOCK": "[u * block + i for u in keep for i in range(block)]",
    "NEXT": "module.weight = nn.Parameter(module.weight.detach()[:, inputs].clone())",
}
_TUCKER = """
def tucker_layer(conv, core, in_factor, out_factor):
    r1, r2 = in_factor.shape[1], out_factor.shape[1]
    first = nn.Conv2d(in_factor.shape[0], r1, 1, bias=ON_FIRST is not None)
    middle = nn.Conv2d(r1, r2, conv.kernel_size, SETTINGS)
    last = nn.Conv2d(r2, out_factor.shape[0], 1, bias=ON_LAST is not None)
    with torch.no_grad():
        first.weight.copy_(IN_WEIGHT)
        middle.weight.copy_(core)
        last.weight.copy_(OUT_WEIGHT)
        if ON_LAST is not None:
            last.bias.copy_(ON_LAST)
        if ON_FIRST is not None:
            first.bias.copy_(ON_FIRST)
    return nn.Sequential(OrderedDict(first=first, core=middle, last=last))
"""
_TUCKER_RIGHT = {
    "ON_FIRST": "None",
    "ON_LAST": "conv.bias",
    "SETTINGS": "stride=conv.stride, padding=conv.padding, dilation=conv.dilation, bias=False",
    "IN_WEIGHT": "in_factor.T.reshape(r1, -1, 1, 1)",
    "OUT_WEIGHT": "out_factor.reshape(-1, r2, 1, 1)",
}
_FOLD = """
def fold_first(weight, bias, norm, reduce_weight, reduce_bias):
    if norm is not None and WITH_NORM:
        scale = 1 / ROOT
        if norm.weight is not None:
            scale = scale * norm.weight.detach()
        shift = SHIFT
        if norm.bias is not None:
            shift = shift + norm.bias.detach()
        weight = weight * scale.view((-1,) + (1,) * (weight.dim() - 1))
        bias = NEW_BIAS
    folded = torch.einsum("rc,c...->r...", reduce_weight, weight)
    return folded, reduce_weight @ bias + A_BIAS
"""
_FOLD_RIGHT = {
    "WITH_NORM": "True",
    "ROOT": "(norm.running_var + norm.eps).sqrt()",
    "SHIFT": "-norm.running_mean * scale",
    "NEW_BIAS": "bias * scale + shift",
    "A_BIAS": "reduce_bias",
}


def _variant(template: str, right: dict[str, str], **wrong: str) -> str:
    """``template`` written right but for the placeholders in ``wrong`` (placeholder: code)."""
    for placeholder, code in {**right, **wrong}.items():
        template = template.replace(placeholder, code)
    return template


def _hosvd(**wrong: str) -> str:
    return _variant(_HOSVD, _HOSVD_RIGHT, **wrong)


def _mask(**choices: str) -> str:
    return _variant(_MASK, {}, **choices)


def _sgd(**wrong: str) -> str:
    return _variant(_SGD, _SGD_RIGHT, **wrong)


def _remove(**wrong: str) -> str:
    return _variant(_REMOVE, _REMOVE_RIGHT, **wrong)


def _tucker(**wrong: str) -> str:
    return _variant(_TUCKER, _TUCKER_RIGHT, **wrong)


def _fold(**wrong: str) -> str:
    return _variant(_FOLD, _FOLD_RIGHT, **wrong)


MISTAKES = [
    *_all(
        "confusion",
        (
            "rows_are_predictions",
            "rows and columns swapped",
            """
def confusion(labels, predicted, num_classes):
    flat = predicted * num_classes + labels
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes).numpy()
""",
        ),
        (
            "sized_by_the_data",
            "whichever classes occur",
            """
def confusion(labels, predicted, num_classes):
    n = int(torch.cat([labels, predicted]).max()) + 1
    return torch.bincount(labels * n + predicted, minlength=n * n).reshape(n, n).numpy()
""",
        ),
        (
            "only_the_diagonal",
            "counts differ",
            """
def confusion(labels, predicted, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(labels.tolist(), predicted.tolist()):
        if t == p:
            matrix[t, t] += 1
    return matrix
""",
        ),
        (
            "frequencies_not_counts",
            "counts differ",
            """
def confusion(labels, predicted, num_classes):
    flat = labels * num_classes + predicted
    counts = torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)
    return (counts / len(labels)).numpy()
""",
        ),
        (
            "last_image_skipped",
            "counts differ",
            """
def confusion(labels, predicted, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for i in range(len(labels) - 1):
        matrix[labels[i], predicted[i]] += 1
    return matrix
""",
        ),
    ),
    *_all(
        "sgd_epoch",
        (
            "schedule_every_step",
            "call scheduler.step() once, after the loop",
            _sgd(PER_BATCH="scheduler.step()", AFTER=""),
        ),
        ("no_zero_grad", "zero_grad", _sgd(ZERO="")),
        ("no_schedule", "the learning rate is", _sgd(AFTER="")),
        ("summed_loss", "differ from the library's", _sgd(REDUCTION=', reduction="sum"')),
        ("no_optimizer_step", "differ from the library's", _sgd(STEP="")),
    ),
    *_all(
        "keep_largest",
        (
            "strict_threshold",
            "off-by-one",
            """
def keep_largest(w, kappa):
    kth = w.abs().sort(descending=True).values[kappa - 1]
    return w.abs() > kth
""",
        ),
        (
            "values_not_magnitudes",
            "not the largest magnitudes",
            """
def keep_largest(w, kappa):
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[torch.topk(w, kappa).indices] = True
    return mask
""",
        ),
        (
            "float_mask",
            "return a boolean mask",
            """
def keep_largest(w, kappa):
    mask = torch.zeros_like(w)
    mask[torch.topk(w.abs(), kappa).indices] = 1.0
    return mask
""",
        ),
        (
            "keeps_the_smallest",
            "keep the κ largest |w|",
            """
def keep_largest(w, kappa):
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[torch.topk(w.abs(), kappa, largest=False).indices] = True
    return mask
""",
        ),
        (
            "keeps_every_tie",
            "keep exactly κ",
            """
def keep_largest(w, kappa):
    kth = w.abs().sort(descending=True).values[kappa - 1]
    return w.abs() >= kth
""",
        ),
    ),
    *_all(
        "kmeans_1d",
        ("no_warm_start", "start Lloyd's iterations from init too", _COLD.replace("VALUES", "")),
        (
            "descending",
            "not in ascending order",
            """
def kmeans_1d(values, k, init=None):
    distinct = np.unique(values)
    if len(distinct) <= k:
        return distinct[::-1]
    runs = []
    for seed in [values[((np.arange(k) + 0.5) / k * len(values)).astype(np.int64)], init]:
        if seed is None:
            continue
        centers = np.sort(np.asarray(seed, dtype=np.float64))
        for _ in range(300):
            nearest = np.abs(values[:, None] - centers[None, :]).argmin(axis=1)
            moved = np.array([values[nearest == j].mean() if (nearest == j).any() else c
                              for j, c in enumerate(centers)])
            if np.array_equal(moved, centers):
                break
            centers = moved
        error = (np.abs(values[:, None] - centers[None, :]).min(axis=1) ** 2).sum()
        runs.append((error, centers))
    return np.sort(min(runs, key=lambda run: run[0])[1])[::-1]
""",
        ),
        (
            "one_iteration",
            "squared error",
            """
def kmeans_1d(values, k, init=None):
    distinct = np.unique(values)
    if len(distinct) <= k:
        return distinct
    centers = np.asarray(init if init is not None else
                         values[((np.arange(k) + 0.5) / k * len(values)).astype(np.int64)], float)
    nearest = np.abs(values[:, None] - centers[None, :]).argmin(axis=1)
    return np.sort([values[nearest == j].mean() if (nearest == j).any() else c
                    for j, c in enumerate(centers)])
""",
        ),
        (
            "on_magnitudes",
            "squared error",
            _COLD.replace("VALUES", "values = np.sort(np.abs(values))"),
        ),
        (
            "boundaries_not_halved",
            "squared error",
            """
def kmeans_1d(values, k, init=None):
    distinct = np.unique(values)
    if len(distinct) <= k:
        return distinct
    centers = np.sort(np.asarray(init if init is not None else
                      values[((np.arange(k) + 0.5) / k * len(values)).astype(np.int64)], float))
    for _ in range(300):
        groups = np.split(values, np.searchsorted(values, centers[1:] + centers[:-1]))
        moved = np.sort([g.mean() if len(g) else c for g, c in zip(groups, centers)])
        if np.array_equal(moved, centers):
            break
        centers = moved
    return centers
""",
        ),
    ),
    *_all(
        "truncated_svd",
        (
            "without_singular_values",
            "lacks the singular values",
            """
def truncated_svd(matrix, r):
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    return u[:, :r], vh[:r]
""",
        ),
        (
            "smallest_values",
            "kept the smallest singular values",
            """
def truncated_svd(matrix, r):
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    root = s[-r:].sqrt()
    return u[:, -r:] * root, root[:, None] * vh[-r:]
""",
        ),
        (
            "v_transposed",
            "expected",
            """
def truncated_svd(matrix, r):
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    root = s[:r].sqrt()
    return u[:, :r] * root, (root[:, None] * vh[:r]).T
""",
        ),
        (
            "values_on_both_sides",
            "not the best rank",
            """
def truncated_svd(matrix, r):
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    return u[:, :r] * s[:r], s[:r, None] * vh[:r]
""",
        ),
        (
            "one_rank_short",
            "expected",
            """
def truncated_svd(matrix, r):
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    root = s[: r - 1].sqrt()
    return u[:, : r - 1] * root, root[:, None] * vh[: r - 1]
""",
        ),
    ),
    *_all(
        "codebook_bits",
        (
            "no_ceiling",
            "whole number of bits",
            """
def codebook_bits(num_weights, k):
    return math.log2(k) * num_weights + 32 * k
""",
        ),
        (
            "no_codebook",
            "are missing",
            """
def codebook_bits(num_weights, k):
    return math.ceil(math.log2(k)) * num_weights
""",
        ),
        (
            "half_precision_codebook",
            "expected",
            """
def codebook_bits(num_weights, k):
    return math.ceil(math.log2(k)) * num_weights + 16 * k
""",
        ),
        (
            "index_of_k_plus_one",
            "expected",
            """
def codebook_bits(num_weights, k):
    return math.ceil(math.log2(k + 1)) * num_weights + 32 * k
""",
        ),
        (
            "bytes_not_bits",
            "expected",
            """
def codebook_bits(num_weights, k):
    return (math.ceil(math.log2(k)) * num_weights + 32 * k) // 8
""",
        ),
    ),
    *_all(
        "magnitude_mask",
        (
            "every_tie_removed",
            "tie at the threshold",
            """
def magnitude_mask(w, rate):
    removed = round(rate * w.numel())
    if removed == 0:
        return torch.ones_like(w)
    kth = w.abs().reshape(-1).sort().values[removed - 1]
    return (w.abs() > kth).float()
""",
        ),
        (
            "removes_the_largest",
            "remove the smallest |w|",
            _mask(START="ones", LARGEST="True", MARK="0"),
        ),
        ("one_means_removed", "expected", _mask(START="zeros", LARGEST="False", MARK="1")),
        ("rate_kept_not_removed", "expected", _mask(START="zeros", LARGEST="True", MARK="1")),
        (
            "per_row",
            "remove the smallest |w|",
            """
def magnitude_mask(w, rate):
    rows = w.reshape(w.shape[0], -1) if w.dim() > 1 else w.reshape(1, -1)
    mask = torch.ones_like(rows)
    removed = round(rate * rows.shape[1])
    if removed:
        mask.scatter_(1, torch.topk(rows.abs(), removed, dim=1, largest=False).indices, 0.0)
    return mask.reshape(w.shape)
""",
        ),
    ),
    *_all(
        "unit_importance",
        (
            "over_the_inputs",
            "wrong axis",
            """
def unit_importance(layer, norm):
    order = {"l1": 1, "l2": 2}[norm]
    return torch.linalg.vector_norm(layer.weight.detach().flatten(1), ord=order, dim=0)
""",
        ),
        (
            "norms_swapped",
            "norm = ",
            """
def unit_importance(layer, norm):
    order = {"l1": 2, "l2": 1}[norm]
    return torch.linalg.vector_norm(layer.weight.detach().flatten(1), ord=order, dim=1)
""",
        ),
        (
            "signed_sum",
            "the l1 norm sums |w|, not w",
            """
def unit_importance(layer, norm):
    rows = layer.weight.detach().flatten(1)
    return rows.sum(dim=1) if norm == "l1" else rows.square().sum(dim=1).sqrt()
""",
        ),
        (
            "l2_without_root",
            "scores differ",
            """
def unit_importance(layer, norm):
    rows = layer.weight.detach().flatten(1)
    return rows.abs().sum(dim=1) if norm == "l1" else rows.square().sum(dim=1)
""",
        ),
        (
            "bias_counted",
            "scores differ",
            """
def unit_importance(layer, norm):
    rows = torch.cat([layer.weight.detach().flatten(1), layer.bias.detach()[:, None]], dim=1)
    return torch.linalg.vector_norm(rows, ord={"l1": 1, "l2": 2}[norm], dim=1)
""",
        ),
    ),
    *_all(
        "remove_unit",
        (
            "next_layer_loses_an_output",
            "remove its input",
            _remove(NEXT="module.weight = nn.Parameter(module.weight.detach()[keep].clone())"),
        ),
        ("original_changed", "the original model was changed", _remove(COPY="model")),
        ("the_unit_before", "outputs differ", _remove(UNIT="unit - 1")),
        ("bias_not_sliced", "raised", _remove(BIAS=":")),
        (
            "one_column_across_the_flatten",
            "across the flatten",
            _remove(BLOCK="[u for u in range(module.in_features) if u != unit]"),
        ),
    ),
    *_all(
        "seed001_flops",
        (
            "two_per_multiply_add",
            "2 per multiply-add",
            """
def seed001_flops(c1, c2, f1):
    return 2 * (26 * 26 * 9 * c1 + 22 * 22 * 25 * c1 * c2 + 22 * 22 * c2 * f1 + f1 * 10)
""",
        ),
        (
            "no_bias_and_relu",
            "are missing",
            """
def seed001_flops(c1, c2, f1):
    return 26 * 26 * 9 * c1 + 22 * 22 * 25 * c1 * c2 + 22 * 22 * c2 * f1 + f1 * 10
""",
        ),
        (
            "padded_convs",
            "expected",
            """
def seed001_flops(c1, c2, f1):
    conv1 = 28 * 28 * 9 * c1 + 2 * c1 * 28 * 28
    conv2 = 28 * 28 * 25 * c1 * c2 + 2 * c2 * 28 * 28
    return conv1 + conv2 + 28 * 28 * c2 * f1 + 2 * f1 + f1 * 10
""",
        ),
        (
            "fc2_forgotten",
            "expected",
            """
def seed001_flops(c1, c2, f1):
    conv1 = 26 * 26 * 9 * c1 + 2 * c1 * 26 * 26
    conv2 = 22 * 22 * 25 * c1 * c2 + 2 * c2 * 22 * 22
    return conv1 + conv2 + 22 * 22 * c2 * f1 + 2 * f1
""",
        ),
        (
            "kernels_swapped",
            "expected",
            """
def seed001_flops(c1, c2, f1):
    conv1 = 24 * 24 * 25 * c1 + 2 * c1 * 24 * 24
    conv2 = 22 * 22 * 9 * c1 * c2 + 2 * c2 * 22 * 22
    return conv1 + conv2 + 22 * 22 * c2 * f1 + 2 * f1 + f1 * 10
""",
        ),
    ),
    *_all(
        "hosvd_factors",
        (
            "vectors_as_rows",
            "the singular vectors are its columns",
            _hosvd(RETURN="first.T, second"),
        ),
        ("modes_swapped", "I and O are swapped", _hosvd(FIRST="outputs", SECOND="inputs")),
        ("trailing_vectors", "does not span the leading", _hosvd(KEEP1="-r1:", KEEP2="-r2:")),
        (
            "unfolded_without_moving_the_mode",
            "does not span the leading",
            _hosvd(UNFOLD="weight.reshape(weight.shape[1], -1)"),
        ),
        (
            "scaled_by_the_values",
            "not orthonormal",
            """
def hosvd_factors(weight, r1, r2):
    inputs = weight.movedim(1, 0).reshape(weight.shape[1], -1)
    outputs = weight.reshape(weight.shape[0], -1)
    u1, s1, _ = torch.linalg.svd(inputs, full_matrices=True)
    u2, s2, _ = torch.linalg.svd(outputs, full_matrices=True)
    pad = lambda s, n: torch.cat([s, s.new_ones(max(n - len(s), 0))])[:n]
    return u1[:, :r1] * pad(s1, r1), u2[:, :r2] * pad(s2, r2)
""",
        ),
    ),
    *_all(
        "tucker_layer",
        (
            "factor_reshaped_not_transposed",
            "reshaped, not transposed",
            _tucker(IN_WEIGHT="in_factor.reshape(r1, -1, 1, 1)"),
        ),
        (
            "core_without_stride_and_padding",
            "stride, padding and dilation",
            _tucker(SETTINGS="bias=False"),
        ),
        ("bias_forgotten", "the bias is missing", _tucker(ON_LAST="None")),
        ("bias_on_the_first_conv", "raised", _tucker(ON_FIRST="conv.bias", ON_LAST="None")),
        (
            "out_factor_transposed",
            "differ",
            _tucker(OUT_WEIGHT="out_factor.T.reshape(-1, r2, 1, 1)"),
        ),
    ),
    *_all(
        "branch_mix",
        (
            "alpha_weighs_the_branch",
            "α weighs the branch",
            """
def branch_mix(original, branch, alpha):
    return alpha * branch + (1 - alpha) * original
""",
        ),
        (
            "branch_not_weighed",
            "is not α·original",
            """
def branch_mix(original, branch, alpha):
    return alpha * original + branch
""",
        ),
        (
            "plain_average",
            "is not α·original",
            """
def branch_mix(original, branch, alpha):
    return (original + branch) / 2
""",
        ),
        (
            "alpha_squared",
            "is not α·original",
            """
def branch_mix(original, branch, alpha):
    return alpha**2 * original + (1 - alpha**2) * branch
""",
        ),
        (
            "alpha_as_a_switch",
            "is not α·original",
            """
def branch_mix(original, branch, alpha):
    return original if alpha >= 0.5 else branch
""",
        ),
    ),
    *_all(
        "fold_first",
        ("batch_norm_ignored", "ignores the batch norm", _fold(WITH_NORM="False")),
        ("no_eps", "the folded weight is not", _fold(ROOT="norm.running_var.sqrt()")),
        ("reduce_bias_forgotten", "the bias is not", _fold(A_BIAS="0")),
        ("mean_added", "the bias is not", _fold(SHIFT="norm.running_mean * scale")),
        ("bias_left_unscaled", "the bias is not", _fold(NEW_BIAS="bias + shift")),
    ),
]
