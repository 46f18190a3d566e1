"""Folding the branches away at α = 0, checking the fold, and what the fold saves.

L1' = A ∘ BN ∘ L1 (r outputs; the batch norm is folded into L1 first) and L2' = L2 ∘ B (r inputs;
across a flatten every spatial position of the fc layer's input columns is contracted with B on
its own). B has no bias: it could not be folded exactly into a padded conv L2.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import pandas as pd
import torch
from torch import nn

from course_lib import costs
from course_lib.branches.modules import branched_mixes, mix_of, set_alpha, unwrap
from course_lib.branches.pairs import LayerPair
from course_lib.errors import CourseError
from course_lib.surgery import device_of, rebuild, replace
from course_lib.train import pick_device


def _affine(weight: torch.Tensor, bias: torch.Tensor, norm: nn.Module | None):
    """L1's weight and bias with its batch norm (eval statistics) folded in."""
    if norm is None:
        return weight, bias
    if norm.running_mean is None:
        raise CourseError(
            "The batch norm after the pair's first layer keeps no running statistics."
        )
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.detach()
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias.detach()
    shape = (-1,) + (1,) * (weight.dim() - 1)
    return weight * scale.view(shape), bias * scale + shift


def fold_first(
    weight: torch.Tensor,
    bias: torch.Tensor,
    norm: nn.Module | None,
    reduce_weight: torch.Tensor,
    reduce_bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of A ∘ BN ∘ L1 as one layer: L1's ``weight`` (C, ...) and ``bias``
    (C,), the batch norm ``norm`` after it (eval statistics; None: none), A's weight (r, C) and
    bias (r,)."""
    weight, bias = _affine(weight, bias, norm)
    return torch.einsum("rc,c...->r...", reduce_weight, weight), reduce_weight @ bias + reduce_bias


def _folded_layer(model, path, first_pair: LayerPair | None, second_pair: LayerPair | None, first):
    """The plain layer at ``path`` with the branch of ``first_pair`` (A after it, by ``first``:
    ``fold_first`` or a student's own) and of ``second_pair`` (B before it) multiplied in."""
    layer = unwrap(model.get_submodule(path))
    if first_pair is not None:
        norm = unwrap(model.get_submodule(first_pair.norm)) if first_pair.norm else None
        weight = layer.weight.detach()
        bias = layer.bias.detach() if layer.bias is not None else weight.new_zeros(weight.shape[0])
        reduce = mix_of(model, first_pair).branch.reduce
        a = reduce.weight.detach().flatten(1)  # (r, C)
        weight, bias = (first or fold_first)(weight, bias, norm, a, reduce.bias.detach())
    else:
        weight = layer.weight.detach()
        bias = None if layer.bias is None else layer.bias.detach()
    if second_pair is not None:
        b = mix_of(model, second_pair).branch.expand.weight.detach().flatten(1)  # (C, r)
        if isinstance(layer, nn.Conv2d):
            weight = torch.einsum("oc...,cr->or...", weight, b)
        else:
            columns = weight.view(weight.shape[0], second_pair.channels, second_pair.positions)
            weight = torch.einsum("ocp,cr->orp", columns, b).flatten(1)
    return rebuild(layer, weight, bias)


def fold(model: nn.Module, first: Callable | None = None) -> nn.Module:
    """The plain smaller model (no branches, no α) that computes what ``model`` computes at α = 0.

    Each L1 becomes A ∘ BN ∘ L1 with r outputs (by ``first``, ``fold_first``'s arguments: a
    student's own), each L2 becomes L2 ∘ B with r inputs, the batch norms after L1 become
    identities; the layers in between stay where they were.
    """
    mixes = branched_mixes(model)
    if not mixes:
        raise CourseError("This model has no branches to fold: call attach_branches first.")
    pairs = [mix.pair for mix in mixes]
    first_of = {pair.first: pair for pair in pairs}
    second_of = {pair.second: pair for pair in pairs}
    new_layers = {
        path: _folded_layer(model, path, first_of.get(path), second_of.get(path), first)
        for path in first_of.keys() | second_of.keys()
    }
    folded = copy.deepcopy(model)
    for path, layer in new_layers.items():
        replace(folded, path, layer)
    for pair in pairs:
        if pair.norm is not None:
            replace(folded, pair.norm, nn.Identity())
    return folded


@torch.no_grad()
def check_fold(branched: nn.Module, folded: nn.Module, data, split: str = "test") -> dict:
    """Accuracy of the branched model at α = 0 and of its fold on ``split``, and the largest
    difference of their outputs (logits) over that split."""
    set_alpha(branched, 0.0)
    device = device_of(branched)
    folded.to(device)
    modes = branched.training, folded.training
    branched.eval()
    folded.eval()
    correct, count, difference = [0, 0], 0, 0.0
    for x, y in data.eval_loader(split, device):
        outputs = branched(x), folded(x)
        difference = max(difference, (outputs[0] - outputs[1]).abs().max().item())
        for i, out in enumerate(outputs):
            correct[i] += (out.argmax(1) == y).sum().item()
        count += len(y)
    branched.train(modes[0])
    folded.train(modes[1])
    return {
        "branched_accuracy": correct[0] / count,
        "folded_accuracy": correct[1] / count,
        "max_output_difference": difference,
    }


COST_COLUMNS = ["params", "flops", "ms_per_image", "ms_per_batch", "memory_mb"]


def costs_by_device(
    original: nn.Module,
    folded: nn.Module,
    input_shape,
    devices: Sequence[str] | None = None,
    **measure,
) -> pd.DataFrame:
    """``costs.compare`` of the original and the folded model (with memory) on each device
    (default: the CPU, and the GPU when there is one), each followed by a row of the ratios
    folded / original. ``measure``: batch_size, repeats, rounds, … of ``costs.compare``."""
    if devices is None:
        devices = ["cpu"] + ([str(pick_device())] if pick_device().type != "cpu" else [])
    rows = []
    for device in devices:
        models = {"original": copy.deepcopy(original), "folded": copy.deepcopy(folded)}
        models = {name: model.to(device) for name, model in models.items()}
        table = costs.compare(models, input_shape, memory=True, **measure)[COST_COLUMNS]
        named = table.to_dict("index")
        rows += [{"device": device, "model": name, **named[name]} for name in models]
        ratio = (table.loc["folded"] / table.loc["original"]).to_dict()
        rows.append({"model": "folded / original", "device": device, **ratio})
    return pd.DataFrame(rows)
