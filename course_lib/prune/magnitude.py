"""Unstructured (magnitude) pruning: the smallest weights (by |w|) of a copy of the model set to
zero through ``torch.nn.utils.prune``. The net keeps its shape, so it is no faster."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from course_lib import checks
from course_lib.errors import CourseError
from course_lib.surgery import weight_layers

SCOPES = ("layer", "global")


def check_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    """``layers`` (None: all conv and linear layers) when each names one of ``model``."""
    known = weight_layers(model)
    if layers is None:
        return list(known)
    if isinstance(layers, str) or not layers:
        raise CourseError(
            f"layers must be a non-empty list of layer names, e.g. {list(known)[:2]}."
        )
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise CourseError(f"No conv or linear layer(s) {unknown} in this model: use {list(known)}.")
    return list(layers)


def check_rate(rate) -> float:
    """``rate``, the fraction of weights removed, as a float in [0, 1]."""
    return float(checks.number("prune rate (the fraction of weights removed)", rate, 0, 1))


def check_scope(scope: str) -> str:
    """The scope: "layer" (a threshold per layer) or "global" (one threshold for all)."""
    return checks.choice("scope", scope, SCOPES)


def magnitude_mask(w: torch.Tensor, rate: float) -> torch.Tensor:
    """The keep-mask of ``w`` (1 kept, 0 removed, w's shape) that removes its round(rate·n)
    entries of smallest |w| (torch.nn.utils.prune's L1Unstructured)."""
    return torch_prune.L1Unstructured(amount=rate).compute_mask(w, torch.ones_like(w))


def magnitude_masks(
    weights: Mapping[str, torch.Tensor],
    rate: float,
    scope: str = "layer",
    mask: Callable = magnitude_mask,
) -> dict[str, torch.Tensor]:
    """Keep-masks (1 = kept) that remove the ``rate`` fraction of smallest |w|, rounded as torch
    does: per tensor (scope "layer") or over all tensors together (scope "global"). ``mask``
    (w, rate) -> keep-mask is ``magnitude_mask`` or a student's own."""
    rate, scope = check_rate(rate), check_scope(scope)
    if scope == "layer":
        return {n: mask(w, rate) for n, w in weights.items()}
    flat = torch.cat([w.reshape(-1) for w in weights.values()])
    keep = torch.as_tensor(mask(flat, rate))
    sizes = [w.numel() for w in weights.values()]
    parts = torch.split(keep, sizes)
    return {n: m.view_as(w) for (n, w), m in zip(weights.items(), parts, strict=True)}


def magnitude_prune(
    model: nn.Module,
    rate: float | Mapping[str, float],
    *,
    layers: Sequence[str] | None = None,
    scope: str = "layer",
    mask: Callable = magnitude_mask,
) -> nn.Module:
    """A copy of ``model`` with the smallest weights of ``layers`` (default: all) set to zero.

    ``rate`` is one fraction removed for every layer, or {layer: rate} (scope "layer" only). With
    scope "global" one threshold is shared by all the layers named. The original is untouched.
    ``mask``: see ``magnitude_masks``.
    """
    check_scope(scope)
    if isinstance(rate, Mapping):
        if scope != "layer":
            raise CourseError(
                "Per-layer rates need scope='layer'; a global threshold takes one rate."
            )
        rates = {name: check_rate(r) for name, r in rate.items()}
        names = check_layers(model, list(rates))
    else:
        names = check_layers(model, layers)
        rates = dict.fromkeys(names, check_rate(rate))
    pruned = copy.deepcopy(model)
    modules = weight_layers(pruned)
    weights = {name: modules[name].weight.detach() for name in names}
    if scope == "global":
        masks = magnitude_masks(weights, rates[names[0]], "global", mask)
    else:
        masks = {n: magnitude_masks({n: w}, rates[n], mask=mask)[n] for n, w in weights.items()}
    for name, keep in masks.items():
        torch_prune.custom_from_mask(modules[name], "weight", torch.as_tensor(keep))
        torch_prune.remove(modules[name], "weight")
    return pruned


def sparsity(model: nn.Module, layers: Sequence[str] | None = None) -> dict[str, float]:
    """The fraction of zero weights of each conv and linear layer."""
    modules = weight_layers(model)
    names = check_layers(model, layers)
    return {n: int((modules[n].weight == 0).sum()) / modules[n].weight.numel() for n in names}
