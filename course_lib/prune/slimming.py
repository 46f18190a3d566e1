"""Structured slimming: whole conv channels and fc neurons removed from a flat ``nn.Sequential``,
which is rebuilt physically smaller (the layer loses outputs, the next weight layer the matching
inputs, batch norms in between their features). How each layer type is sliced is ``surgery``'s."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from course_lib import checks
from course_lib.errors import CourseError
from course_lib.surgery import SLICES, WEIGHT_LAYERS, keep_inputs, keep_outputs, width

P_NORMS = {"l1": 1, "l2": 2}
"""The p-norms that score a unit by its weights."""
PASS_THROUGH = (nn.ReLU, nn.Tanh, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Identity, nn.Flatten)
"""Layers that leave the units they carry as they are."""


def unit_importance(layer: nn.Module, norm: str = "l2") -> torch.Tensor:
    """One score per output unit (conv channel or fc neuron): the norm of its incoming weights."""
    order = P_NORMS[checks.choice("norm", norm, P_NORMS)]
    return torch.linalg.vector_norm(layer.weight.detach().flatten(1), ord=order, dim=1)


def _check_sequential(model: nn.Module) -> list[str]:
    if not isinstance(model, nn.Sequential):
        raise CourseError(
            f"Structured pruning rebuilds a flat nn.Sequential; {type(model).__name__} is not one "
            "(the residual net's skip connections tie channels together). Use another model."
        )
    return [name for name, _ in model.named_children()]


def prunable_layers(model: nn.Module) -> list[str]:
    """The conv and linear children that structured pruning may shrink: all but the output layer."""
    names = _check_sequential(model)
    return [n for n in names if isinstance(getattr(model, n), WEIGHT_LAYERS)][:-1]


def _prunable(model: nn.Module, layer: str) -> nn.Module:
    allowed = prunable_layers(model)
    if layer not in allowed:
        raise CourseError(
            f"{layer!r} cannot be pruned structurally: choose among {allowed} "
            "(the output layer is never pruned: its units are the classes)."
        )
    return getattr(model, layer)


def _check_keep(target: nn.Module, layer: str, keep: Sequence[int]) -> torch.Tensor:
    units = width(target)
    keep = torch.as_tensor(sorted({int(u) for u in keep}), dtype=torch.long)
    if len(keep) == 0 or keep.min() < 0 or keep.max() >= units:
        raise CourseError(f"keep must name between 1 and {units} units of {layer} in [0, {units}).")
    if isinstance(target, nn.Conv2d) and target.groups != 1:
        raise CourseError(f"{layer} is a grouped convolution; structured pruning needs groups=1.")
    return keep


def slim(model: nn.Module, layer: str, keep: Sequence[int]) -> nn.Sequential:
    """A new, smaller model in which ``layer`` keeps only the output units ``keep`` and the next
    conv or linear layer reads only their outputs (batch norms in between are sliced too)."""
    names = _check_sequential(model)
    target = _prunable(model, layer)
    keep = _check_keep(target, layer, keep)
    slimmed = copy.deepcopy(model)
    setattr(slimmed, layer, keep_outputs(target, keep))
    inputs = keep
    for name in names[names.index(layer) + 1 :]:
        module = getattr(model, name)
        if isinstance(module, nn.Linear) and isinstance(target, nn.Conv2d):
            per_unit = module.in_features // width(target)  # conv channel -> flattened features
            if per_unit * width(target) != module.in_features:
                raise CourseError(f"{name} does not read {layer}'s channels as flat blocks.")
            inputs = (keep[:, None] * per_unit + torch.arange(per_unit)).reshape(-1)
        if isinstance(module, WEIGHT_LAYERS):
            setattr(slimmed, name, keep_inputs(module, inputs))
            return slimmed
        if type(module) in SLICES:  # a batch norm: its features follow the units
            setattr(slimmed, name, keep_outputs(module, inputs))
        elif not isinstance(module, PASS_THROUGH):
            raise CourseError(
                f"Cannot slice through {name} ({type(module).__name__}) after {layer}: "
                f"structured pruning knows {[t.__name__ for t in PASS_THROUGH]} and batch norms."
            )
    raise AssertionError("unreachable: a prunable layer always has a next weight layer")


def remove_unit(model: nn.Module, layer: str, unit: int) -> nn.Sequential:
    """A new model without output unit ``unit`` of ``layer`` (and its input slice downstream)."""
    units = width(_prunable(model, layer))
    if units <= 1:
        raise CourseError(f"{layer} has one unit left: the last unit of a layer stays.")
    if not 0 <= unit < units:
        raise CourseError(f"{layer} has units 0 to {units - 1}; there is no unit {unit}.")
    return slim(model, layer, [u for u in range(units) if u != unit])


def layer_widths(model: nn.Module, layers: Sequence[str]) -> dict[str, int]:
    """The number of output units of each named layer."""
    return {name: width(getattr(model, name)) for name in layers}
