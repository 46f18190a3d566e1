"""Tucker-2 in a network: a conv replaced by three convs, chosen convs of a model decomposed,
and the error a replacement makes on the inputs its layer really sees."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from course_lib import surgery
from course_lib.errors import CourseError
from course_lib.tucker.algebra import (
    Tucker2,
    choose_ranks,
    decomposer,
    one_thread,
    relative_error,
    weight_error,
)


class TuckerConv(nn.Sequential):
    """A conv run as `first` (1×1, c→R1, weight Iᵀ), `core` (k×k, R1→R2, the original stride,
    padding and dilation) and `last` (1×1, R2→f, weight O and the original bias)."""

    def __init__(self, conv: nn.Conv2d, factors: Tucker2):
        like = conv.weight
        first = surgery.pointwise(factors.in_factor.T.to(like))
        core = surgery.rebuild(conv, factors.core.to(like), None)
        last = surgery.pointwise(factors.out_factor.to(like), conv.bias)
        super().__init__(OrderedDict(first=first, core=core, last=last))
        self.train(conv.training)

    @property
    def ranks(self) -> tuple[int, int]:
        """(R1, R2)."""
        return self.core.in_channels, self.core.out_channels

    def combined_weight(self) -> torch.Tensor:
        """The single conv weight these three convs compute together."""
        factors = Tucker2(
            self.core.weight, self.first.weight[:, :, 0, 0].T, self.last.weight[:, :, 0, 0]
        )
        return factors.reconstruct()


def tucker_layer(
    conv: nn.Conv2d, core: torch.Tensor, in_factor: torch.Tensor, out_factor: torch.Tensor
) -> TuckerConv:
    """The three convs that stand for ``conv`` with these factors (see ``TuckerConv``)."""
    return TuckerConv(conv, Tucker2(core, in_factor, out_factor))


@dataclass(frozen=True)
class Solvers:
    """A student's own functions in place of the library's; None keeps the library's.
    ``factors(weight, R1, R2)`` -> (I, O): HOSVD's factors (``hosvd_factors``, also HOOI's start);
    ``layer(conv, core, I, O)`` -> the three-conv module (``tucker_layer``)."""

    factors: Callable | None = None
    layer: Callable | None = None


def build_layer(conv: nn.Conv2d, factors: Tucker2, solvers: Solvers | None = None) -> nn.Module:
    """``conv``'s replacement on ``factors``, built by ``solvers.layer`` or ``tucker_layer``."""
    build = (solvers or Solvers()).layer or tucker_layer
    return build(conv, factors.core, factors.in_factor, factors.out_factor)


def check_conv(conv: nn.Module, name: str = "layer") -> None:
    """Refuse anything but an ungrouped Conv2d."""
    if not isinstance(conv, nn.Conv2d):
        raise CourseError(
            f"{name} is a {type(conv).__name__}, not an nn.Conv2d; Tucker-2 needs a conv."
        )
    if conv.groups != 1:
        raise CourseError(
            f"{name} is a grouped conv (groups={conv.groups}); Tucker-2 needs groups=1."
        )


def decompose_conv(
    conv: nn.Conv2d, ranks=None, keep_fraction=None, energy=None, method: str = "hooi"
) -> TuckerConv:
    """The three-conv Tucker-2 replacement of `conv` at the ranks the one rank rule gives."""
    check_conv(conv)
    decompose = decomposer(method)
    chosen = choose_ranks(conv.weight, ranks=ranks, keep_fraction=keep_fraction, energy=energy)
    return TuckerConv(conv, decompose(conv.weight, chosen))


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the ungrouped Conv2d layers of `model`, leaving out those inside a TuckerConv."""
    inside = {
        f"{name}.{child}"
        for name, module in model.named_modules()
        if isinstance(module, TuckerConv)
        for child in ("first", "core", "last")
    }
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d) and module.groups == 1 and name not in inside
    ]


def default_layers(model: nn.Module) -> list[str]:
    """Every conv with a spatial kernel but the first: the raw image has 1 or 3 channels, so an
    input factor saves nothing there."""
    spatial = [
        name for name in conv_layers(model) if max(model.get_submodule(name).kernel_size) > 1
    ]
    return spatial[1:]


def _resolve_layers(model: nn.Module, layers) -> list[str]:
    available = conv_layers(model)
    if layers is None:
        layers = default_layers(model)
        if not layers:
            raise CourseError(
                "The model has no conv to decompose besides its first; name layers from "
                f"{available}."
            )
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    unknown = [name for name in layers if name not in available]
    if unknown or not layers:
        raise CourseError(
            f"Cannot decompose {unknown or 'no layers'}; choose convs from {available}."
        )
    for name in layers:
        check_conv(model.get_submodule(name), name)
    return layers


def _chosen_ranks(model: nn.Module, layers: list[str], ranks, keep_fraction, energy) -> dict:
    """(R1, R2) per layer, all checked before any decomposition runs."""
    if isinstance(ranks, Mapping):
        missing = [name for name in layers if name not in ranks]
        if missing:
            raise CourseError(f"ranks gives no (R1, R2) for {missing}; add them or use one pair.")
    return {
        name: choose_ranks(
            model.get_submodule(name).weight,
            ranks=ranks[name] if isinstance(ranks, Mapping) else ranks,
            keep_fraction=keep_fraction,
            energy=energy,
        )
        for name in layers
    }


def _layer_row(name: str, conv: nn.Conv2d, replacement: TuckerConv, factors: Tucker2) -> dict:
    return {
        "layer": name,
        "c": conv.in_channels,
        "f": conv.out_channels,
        "kernel": "×".join(map(str, conv.kernel_size)),
        "R1": factors.ranks[0],
        "R2": factors.ranks[1],
        "params": sum(p.numel() for p in conv.parameters()),
        "params_tucker": sum(p.numel() for p in replacement.parameters()),
        "weight_error": weight_error(conv.weight, factors),
    }


@one_thread
def decompose_model(
    model: nn.Module,
    layers=None,
    ranks=None,
    keep_fraction=None,
    energy=None,
    method: str = "hooi",
    solvers: Solvers | None = None,
) -> tuple[nn.Module, pd.DataFrame]:
    """A copy of `model` with each chosen conv replaced by its TuckerConv, and a table per layer.

    `layers`: conv names (None: every spatial conv but the first). `ranks`: one (R1, R2) for all
    layers or a mapping layer → (R1, R2); or `keep_fraction` / `energy` as in `choose_ranks`.
    The table has layer, c, f, kernel, R1, R2, params before and after, and weight_error.
    `solvers`: a student's factors and layer (see ``Solvers``).
    """
    layers = _resolve_layers(model, layers)
    decompose = decomposer(method, (solvers or Solvers()).factors)
    chosen = _chosen_ranks(model, layers, ranks, keep_fraction, energy)
    decomposed = copy.deepcopy(model)
    rows = []
    for name in layers:
        conv = model.get_submodule(name)
        factors = decompose(conv.weight, chosen[name])
        replacement = build_layer(conv, factors, solvers)
        surgery.replace(decomposed, name, replacement)
        rows.append(_layer_row(name, conv, replacement, factors))
    return decomposed, pd.DataFrame(rows)


def layer_input(model: nn.Module, layer: str, inputs: torch.Tensor) -> torch.Tensor:
    """What `layer` of `model` receives when the model runs on `inputs`."""
    captured = []
    handle = model.get_submodule(layer).register_forward_hook(
        lambda module, args, output: captured.append(args[0].detach())
    )
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
    return captured[0]


def layer_error(
    model: nn.Module, decomposed: nn.Module, layer: str, features: torch.Tensor
) -> float:
    """Relative Frobenius error of `layer`'s output in `decomposed` against `model`'s, both fed
    `features` (what the layer receives, see `layer_input`)."""
    with torch.no_grad():
        reference = model.get_submodule(layer)(features)
        approximation = decomposed.get_submodule(layer)(features)
    return relative_error(reference, approximation)


def output_error(
    model: nn.Module, decomposed: nn.Module, layer: str, inputs: torch.Tensor
) -> float:
    """`layer_error` on the input the original layer sees when `model` runs on `inputs` (so
    earlier layers' errors do not mix in)."""
    return layer_error(model, decomposed, layer, layer_input(model, layer, inputs))
