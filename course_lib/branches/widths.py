"""Branch widths r: checked, chosen for a share of parameters to remove, and what they cost.

In branches a fraction is always the share of the model's parameters that folding *removes*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
from torch import nn

from course_lib import checks
from course_lib.branches.modules import branch_widths, branched_mixes, original_parameters, unwrap
from course_lib.branches.pairs import LayerPair
from course_lib.costs import count_params
from course_lib.errors import CourseError
from course_lib.surgery import width


def _folded_shapes(model: nn.Module, pairs: Sequence[LayerPair], widths: Mapping[str, int]):
    """For every layer the fold touches: (its original module, its parameter count after)."""
    modules = dict(model.named_modules())
    first_of = {pair.first: pair for pair in pairs}
    second_of = {pair.second: pair for pair in pairs}
    after = {}
    for path in first_of.keys() | second_of.keys():
        layer = unwrap(modules[path])
        out_units = widths[first_of[path].name] if path in first_of else width(layer)
        if path in second_of:
            pair = second_of[path]
            in_columns = widths[pair.name] * pair.positions
        else:
            in_columns = layer.in_channels if isinstance(layer, nn.Conv2d) else layer.in_features
        kernel = math.prod(layer.kernel_size) if isinstance(layer, nn.Conv2d) else 1
        has_bias = path in first_of or layer.bias is not None
        after[path] = (layer, out_units * in_columns * kernel + (out_units if has_bias else 0))
    return after


def folded_parameter_count(
    model: nn.Module, pairs: Sequence[LayerPair], widths: Mapping[str, int]
) -> int:
    """Parameters of the plain model that folding branches of these widths into ``model`` gives."""
    modules = dict(model.named_modules())
    total = sum(p.numel() for p in original_parameters(model))
    for pair in pairs:
        if pair.norm is not None:
            total -= count_params(unwrap(modules[pair.norm]))
    for layer, count in _folded_shapes(model, pairs, widths).values():
        total += count - count_params(layer)
    return total


def check_widths(pairs: Sequence[LayerPair], widths: Mapping[str, int]) -> dict[str, int]:
    """Widths keyed by pair name, each 1 <= r <= C; raises CourseError otherwise."""
    names = {pair.name for pair in pairs}
    extra = set(widths) - names
    missing = names - set(widths)
    if extra or missing:
        raise CourseError(
            f"widths must name exactly the branched pairs {sorted(names)}; "
            f"unknown: {sorted(extra)}, missing: {sorted(missing)}."
        )
    return {
        pair.name: checks.integer(f"The width of {pair.name}", widths[pair.name], 1, pair.channels)
        for pair in pairs
    }


def widths_for_removed_fraction(
    model: nn.Module, pairs: Sequence[LayerPair], remove_fraction: float
) -> dict[str, int]:
    """The widest branches, one keep ratio ρ for all pairs (r = round(ρ·C), at least 1), such
    that folding removes at least ``remove_fraction`` of the model's parameters."""
    checks.number("remove_fraction", remove_fraction, 0, 1, open_low=True, open_high=True)
    original = sum(p.numel() for p in original_parameters(model))

    def widths_at(ratio: float) -> dict[str, int]:
        return {p.name: min(p.channels, max(1, round(ratio * p.channels))) for p in pairs}

    def removed(ratio: float) -> float:
        return 1 - folded_parameter_count(model, pairs, widths_at(ratio)) / original

    if removed(0.0) < remove_fraction:
        raise CourseError(
            f"Even 1-wide branches on {[p.name for p in pairs]} remove only "
            f"{removed(0.0):.1%} of the parameters, less than {remove_fraction:.1%}: branch more "
            "layers or ask for a smaller remove_fraction."
        )
    low, high = 0.0, 1.0  # removed(low) >= remove_fraction
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if removed(middle) >= remove_fraction else (low, middle)
    return widths_at(low)


def choose_widths(
    model: nn.Module,
    pairs: Sequence[LayerPair],
    widths: Mapping[str, int] | None = None,
    remove_fraction: float | None = None,
) -> dict[str, int]:
    """The branch widths: the explicit ``widths`` when given (they win over a fraction), else
    those that remove ``remove_fraction`` of the parameters."""
    if widths is not None:
        return check_widths(pairs, widths)
    if remove_fraction is None:
        raise CourseError("Give widths (r per pair) or remove_fraction (e.g. 0.65).")
    return widths_for_removed_fraction(model, pairs, remove_fraction)


def describe_branches(model: nn.Module) -> pd.DataFrame:
    """One row per branch of a branched model: the pair, what sits between, C, r, and the
    parameters of its two layers (with L1's batch norm) before and after folding."""
    pairs = [mix.pair for mix in branched_mixes(model)]
    widths = branch_widths(model)
    after = _folded_shapes(model, pairs, widths)
    modules = dict(model.named_modules())
    rows = []
    for pair in pairs:
        layers = [unwrap(modules[pair.first]), unwrap(modules[pair.second])]
        norm = [unwrap(modules[pair.norm])] if pair.norm else []
        rows.append(
            {
                "pair": f"{pair.first} -> {pair.second}",
                "between": ", ".join(filter(None, [pair.norm, *pair.between])),
                "channels": pair.channels,
                "width": widths[pair.name],
                "positions": pair.positions,
                "params_before": sum(count_params(m) for m in layers + norm),
                "params_after": after[pair.first][1] + after[pair.second][1],
            }
        )
    return pd.DataFrame(rows)
