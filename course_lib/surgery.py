"""Layer surgery: rebuild a layer around new weights, keep some of its units, replace a module
by its path. What each layer type needs lives in one registry, ``SLICES``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from course_lib.errors import CourseError

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def weight_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The conv and linear layers of ``model`` by qualified name, in forward order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)}


def device_of(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (or buffer; the CPU when it has neither)."""
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return torch.device("cpu") if tensor is None else tensor.device


def replace(model: nn.Module, path: str, module: nn.Module) -> None:
    """Put ``module`` at ``path`` ("fc1", "layers.0.conv1") inside ``model``."""
    parent, _, name = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, name, module)


def rebuild(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """A new layer of ``layer``'s kind and settings (stride, padding, …; mode, device, dtype),
    sized by and holding ``weight`` and ``bias``."""
    if isinstance(layer, nn.Conv2d):
        new = nn.Conv2d(
            weight.shape[1] * layer.groups, weight.shape[0], tuple(weight.shape[2:]),
            layer.stride, layer.padding, layer.dilation, layer.groups,
            bias=bias is not None, padding_mode=layer.padding_mode,
        )  # fmt: skip
    elif isinstance(layer, nn.Linear):
        new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    else:
        raise CourseError(f"Cannot rebuild a {type(layer).__name__}: only conv and linear layers.")
    new.to(weight.device, weight.dtype).train(layer.training)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    return new


def pointwise(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Conv2d:
    """A 1×1 conv computing the matrix ``weight`` (out × in) over channels."""
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=bias is not None)
    return rebuild(conv, weight.reshape(*weight.shape, 1, 1), bias)


def _keep_outputs(layer: nn.Module, keep: torch.Tensor) -> nn.Module:
    bias = None if layer.bias is None else layer.bias.detach()[keep]
    return rebuild(layer, layer.weight.detach()[keep], bias)


def _keep_inputs(layer: nn.Module, keep: torch.Tensor) -> nn.Module:
    if isinstance(layer, nn.Conv2d) and layer.groups != 1:
        raise CourseError("Cannot keep input channels of a grouped convolution.")
    bias = None if layer.bias is None else layer.bias.detach()
    return rebuild(layer, layer.weight.detach()[:, keep], bias)


def _keep_features(norm: nn.Module, keep: torch.Tensor) -> nn.Module:
    new = type(norm)(len(keep), norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
    new.to(device_of(norm)).train(norm.training)
    new.load_state_dict({k: v[keep] if v.dim() == 1 else v for k, v in norm.state_dict().items()})
    return new


@dataclass(frozen=True)
class Slicing:
    """How a layer type keeps some of its units: of its outputs, and of its inputs."""

    outputs: Callable[[nn.Module, torch.Tensor], nn.Module]
    inputs: Callable[[nn.Module, torch.Tensor], nn.Module]


SLICES: dict[type, Slicing] = {
    nn.Conv2d: Slicing(_keep_outputs, _keep_inputs),
    nn.Linear: Slicing(_keep_outputs, _keep_inputs),
    nn.BatchNorm1d: Slicing(_keep_features, _keep_features),
    nn.BatchNorm2d: Slicing(_keep_features, _keep_features),
}


def _slicing(module: nn.Module) -> Slicing:
    kind = SLICES.get(type(module))
    if kind is None:
        raise CourseError(
            f"Cannot slice a {type(module).__name__}: surgery knows "
            f"{', '.join(t.__name__ for t in SLICES)}."
        )
    return kind


def keep_outputs(module: nn.Module, keep) -> nn.Module:
    """A copy of ``module`` with only the output units (channels, neurons, features) ``keep``."""
    return _slicing(module).outputs(module, torch.as_tensor(keep, device=device_of(module)))


def keep_inputs(module: nn.Module, keep) -> nn.Module:
    """A copy of ``module`` that reads only the inputs ``keep``."""
    return _slicing(module).inputs(module, torch.as_tensor(keep, device=device_of(module)))


def width(layer: nn.Module) -> int:
    """The output units of a conv or linear layer."""
    return layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features
