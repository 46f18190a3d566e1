"""α-branch pruning: a bottleneck branch beside a layer pair, α annealed to 0, then folded away.

Take a layer pair L1 → (batch norm, activation, pooling, flatten, …) → L2 of a pretrained net,
with C channels (or features) flowing from L1 to L2. Beside it runs a branch from L1's output
(after its batch norm) to L2's input:

    A (1×1 conv or linear, C → r)  →  what sat between L1 and L2  →  B (C ← r, no bias)

and L2 receives α·(original path) + (1 − α)·(branch). Training lowers α from 1 to 0. At α = 0
the original path is dead, and because A and B are linear maps with nothing non-linear between
them and L1 or L2, the pair folds exactly into a smaller pair by multiplying weights:

    L1' = A ∘ BN ∘ L1   (r outputs; the batch norm is folded into L1 first)
    L2' = L2 ∘ B        (r inputs; across a flatten every spatial position of the fc layer's
                          input columns is contracted with B on its own)

B has no bias: a bias of B would be added at every position of L2's input, but not in the zero
padding of a padded conv L2, so it could not be folded exactly (L2's own bias does its job).

The branch is spliced in without changing how a model calls its layers: L1's last module (its
batch norm, or L1) is wrapped by a :class:`BranchTap` that keeps its output, and L2 by a
:class:`BranchMix` that runs the branch on it and mixes. This works alike for the kit's flat
``nn.Sequential`` models and inside the residual blocks of ``resnet_small``, where the pair is
conv1 → bn1 → relu → conv2 and the skip connection (which adds to bn2's output) is untouched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.errors import CourseError
from course_lib.costs import cost_row
from course_lib.models import BasicBlock
from course_lib.train import TrainConfig, evaluate, fit, make_optimizer, pick_device

PAIR_LAYERS = (nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
# Modules that act on every channel alike, so the branch can run them on its r channels.
CHANNELWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
    nn.Identity,
)
# Modules allowed after a flatten (B must act before the flatten, on channels).
AFTER_FLATTEN = (nn.Dropout, nn.Identity)

# Modules that are not nn.Sequential but run a chain of layers: class -> the chain's attributes.
CHAINS: dict[type, tuple[str, ...]] = {BasicBlock: ("conv1", "bn1", "relu", "conv2")}


def register_chain(cls: type, names: Sequence[str]) -> None:
    """Declare that ``cls.forward`` calls the children ``names`` one after another."""
    CHAINS[cls] = tuple(names)


# --------------------------------------------------------------------------- finding pairs


@dataclass(frozen=True)
class LayerPair:
    """L1 → [norm] → between → L2, by module paths; ``channels`` flow from L1 to L2."""

    first: str
    norm: str | None
    between: tuple[str, ...]
    second: str
    channels: int
    positions: int  # L2 input columns per channel: 1, or the spatial positions across a flatten

    @property
    def name(self) -> str:
        """The pair is named by its first layer."""
        return self.first

    @property
    def tap(self) -> str:
        """The module whose output the branch starts from."""
        return self.norm or self.first


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _chains(model: nn.Module):
    """Every run of children the model calls in order, as lists of (path, module)."""
    for path, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            yield [(_join(path, n), m) for n, m in module.named_children()]
        elif type(module) in CHAINS:
            yield [(_join(path, n), getattr(module, n)) for n in CHAINS[type(module)]]


def _width_out(layer: nn.Module) -> int:
    return layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features


def _pair_from(chain, start: int) -> LayerPair | None:
    """The pair whose L1 is chain[start], or None when what follows cannot be branched."""
    first_path, first = chain[start]
    channels = _width_out(first)
    norm, between, flattened = None, [], False
    for index in range(start + 1, len(chain)):
        path, module = chain[index]
        if isinstance(module, NORMS) and index == start + 1 and norm is None:
            norm = path
        elif isinstance(module, nn.Flatten) and isinstance(first, nn.Conv2d) and not flattened:
            flattened = True
            between.append(path)
        elif isinstance(module, AFTER_FLATTEN if flattened else CHANNELWISE):
            between.append(path)
        elif isinstance(module, PAIR_LAYERS):
            return _check_second(
                first_path, first, norm, between, path, module, channels, flattened
            )
        else:
            return None
    return None


def _check_second(first_path, first, norm, between, path, second, channels, flattened):
    """The pair, when L2 takes L1's channels (across a flatten: channels x positions columns)."""
    conv_first = isinstance(first, nn.Conv2d)
    if isinstance(second, nn.Conv2d):
        if not conv_first or flattened or second.in_channels != channels or second.groups != 1:
            return None
        positions = 1
    else:
        if conv_first != flattened or second.in_features % channels:
            return None
        if not flattened and second.in_features != channels:
            return None
        positions = second.in_features // channels
    return LayerPair(first_path, norm, tuple(between), path, channels, positions)


def find_pairs(model: nn.Module) -> list[LayerPair]:
    """Every layer pair of ``model`` that can carry a branch, in the order the model runs them.

    A pair is a conv or linear L1, an optional batch norm right after it, then only channel-wise
    modules (activations, pooling, dropout; a flatten from a conv to a linear), then a conv or
    linear L2. Residual blocks contribute conv1 → bn1 → relu → conv2, inside the skip.
    """
    pairs = []
    for chain in _chains(model):
        for start, (_, module) in enumerate(chain):
            if isinstance(module, PAIR_LAYERS) and not _is_grouped(module):
                pair = _pair_from(chain, start)
                if pair is not None:
                    pairs.append(pair)
    return pairs


def _is_grouped(layer: nn.Module) -> bool:
    return isinstance(layer, nn.Conv2d) and layer.groups != 1


def select_pairs(model: nn.Module, layers: str | Iterable[str] = "all") -> list[LayerPair]:
    """The pairs named by their first layer (``"all"``: every pair of :func:`find_pairs`)."""
    pairs = find_pairs(model)
    if not pairs:
        raise CourseError(
            f"{type(model).__name__} has no layer pair L1 -> (norm, activation, pooling) -> L2 "
            "that a branch can bridge."
        )
    if isinstance(layers, str) and layers == "all":
        return pairs
    if isinstance(layers, str):
        layers = [layers]
    by_name = {pair.name: pair for pair in pairs}
    layers = list(layers)
    unknown = [name for name in layers if name not in by_name]
    if unknown or not layers:
        raise CourseError(
            f"Layers {unknown or layers} do not start a branchable pair: choose among "
            f"{', '.join(by_name)} (or 'all')."
        )
    return [by_name[name] for name in by_name if name in layers]


# --------------------------------------------------------------------------- widths


def _folded_shapes(model: nn.Module, pairs: Sequence[LayerPair], widths: Mapping[str, int]):
    """For every layer the fold touches: (its original module, its parameter count after)."""
    modules = dict(model.named_modules())
    first_of = {pair.first: pair for pair in pairs}
    second_of = {pair.second: pair for pair in pairs}
    after = {}
    for path in first_of.keys() | second_of.keys():
        layer = unwrap(modules[path])
        out_units = widths[first_of[path].name] if path in first_of else _width_out(layer)
        if path in second_of:
            pair = second_of[path]
            in_columns = widths[pair.name] * pair.positions
        else:
            in_columns = layer.in_channels if isinstance(layer, nn.Conv2d) else layer.in_features
        kernel = math.prod(layer.kernel_size) if isinstance(layer, nn.Conv2d) else 1
        has_bias = path in first_of or layer.bias is not None
        after[path] = (layer, out_units * in_columns * kernel + (out_units if has_bias else 0))
    return after


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def folded_parameter_count(
    model: nn.Module, pairs: Sequence[LayerPair], widths: Mapping[str, int]
) -> int:
    """Parameters of the plain model that folding branches of these widths into ``model`` gives."""
    modules = dict(model.named_modules())
    total = sum(p.numel() for p in original_parameters(model))
    for pair in pairs:
        if pair.norm is not None:
            total -= _count(unwrap(modules[pair.norm]))
    for layer, count in _folded_shapes(model, pairs, widths).values():
        total += count - _count(layer)
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
    checked = {}
    for pair in pairs:
        r = widths[pair.name]
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= pair.channels:
            raise CourseError(
                f"The width of {pair.name} must be an integer in [1, {pair.channels}] "
                f"(its channels), got {r!r}."
            )
        checked[pair.name] = r
    return checked


def widths_for_fraction(
    model: nn.Module, pairs: Sequence[LayerPair], fraction: float
) -> dict[str, int]:
    """The widest branches, one keep ratio ρ for all pairs (r = round(ρ·C), at least 1), such
    that folding removes at least ``fraction`` of the model's parameters."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise CourseError(f"fraction must be a number in (0, 1), got {fraction!r}.")
    if not 0 < fraction < 1:
        raise CourseError(f"fraction must be in (0, 1) (0.65 removes 65 %), got {fraction}.")
    original = sum(p.numel() for p in original_parameters(model))

    def widths_at(ratio: float) -> dict[str, int]:
        return {p.name: min(p.channels, max(1, round(ratio * p.channels))) for p in pairs}

    def removed(ratio: float) -> float:
        return 1 - folded_parameter_count(model, pairs, widths_at(ratio)) / original

    if removed(0.0) < fraction:
        raise CourseError(
            f"Even 1-wide branches on {[p.name for p in pairs]} remove only "
            f"{removed(0.0):.1%} of the parameters, less than {fraction:.1%}: branch more "
            "layers or ask for a smaller fraction."
        )
    low, high = 0.0, 1.0  # removed(low) >= fraction
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if removed(middle) >= fraction else (low, middle)
    return widths_at(low)


# --------------------------------------------------------------------------- the branch modules


class _Stash:
    """Hands L1's output from the tap to the mix; a deep copy starts empty (shared within it)."""

    def __init__(self):
        self.value = None

    def __deepcopy__(self, memo):
        return _Stash()


class BranchTap(nn.Module):
    """Runs ``layer`` (L1 or its batch norm) and keeps its output for the branch."""

    def __init__(self, layer: nn.Module, stash: _Stash):
        super().__init__()
        self.layer = layer
        self.stash = stash

    def forward(self, x):
        out = self.layer(x)
        self.stash.value = out
        return out


class Branch(nn.Module):
    """A (C→r), the channel-wise modules that sat between L1 and L2, B (r→C), then a flatten."""

    def __init__(self, reduce: nn.Module, inner: nn.Sequential, expand: nn.Module, outer):
        super().__init__()
        self.reduce = reduce
        self.inner = inner
        self.expand = expand
        self.outer = outer

    def forward(self, z):
        return self.outer(self.expand(self.inner(self.reduce(z))))


class BranchMix(nn.Module):
    """Feeds ``layer`` (L2) with α·(its original input) + (1 − α)·branch(L1's output)."""

    def __init__(self, layer: nn.Module, branch: Branch, stash: _Stash, pair: LayerPair):
        super().__init__()
        self.layer = layer
        self.branch = branch
        self.stash = stash
        self.pair = pair
        self.alpha = 1.0

    def forward(self, x):
        z, self.stash.value = self.stash.value, None
        if z is None:
            raise RuntimeError(f"The branch beside {self.pair.name} ran before its tap.")
        if self.alpha == 1.0:
            return self.layer(x)
        mixed = self.branch(z) if self.alpha == 0.0 else torch.lerp(self.branch(z), x, self.alpha)
        return self.layer(mixed)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


def unwrap(module: nn.Module) -> nn.Module:
    """The plain layer inside any taps and mixes."""
    while isinstance(module, BranchTap | BranchMix):
        module = module.layer
    return module


def _get(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path)


def _set(model: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(_get(model, parent) if parent else model, name, module)


def _make_branch(model: nn.Module, pair: LayerPair, width: int) -> Branch:
    first = unwrap(_get(model, pair.first))
    between = [copy.deepcopy(_get(model, path)) for path in pair.between]
    cut = next((i for i, m in enumerate(between) if isinstance(m, nn.Flatten)), len(between))
    if isinstance(first, nn.Conv2d):
        reduce = nn.Conv2d(pair.channels, width, 1)
        expand = nn.Conv2d(width, pair.channels, 1, bias=False)
    else:
        reduce = nn.Linear(pair.channels, width)
        expand = nn.Linear(width, pair.channels, bias=False)
    device = first.weight.device
    dtype = first.weight.dtype
    reduce.to(device, dtype)
    expand.to(device, dtype)
    return Branch(reduce, nn.Sequential(*between[:cut]), expand, nn.Sequential(*between[cut:]))


@torch.no_grad()
def _start_as_channel_pruning(branch: Branch, second: nn.Module, pair: LayerPair) -> None:
    """A picks the r channels whose weights in L2 have the largest norm, B puts them back: the
    branch starts as the original path with the other channels pruned."""
    weight = second.weight.detach()
    columns = weight.view(weight.shape[0], pair.channels, -1)
    width = _width_out(branch.reduce)
    keep = columns.norm(dim=(0, 2)).topk(width).indices.sort().values
    picks = torch.arange(width, device=keep.device)
    branch.reduce.weight.zero_()
    branch.reduce.bias.zero_()
    branch.expand.weight.zero_()
    branch.reduce.weight.view(width, pair.channels)[picks, keep] = 1.0
    branch.expand.weight.view(pair.channels, width)[keep, picks] = 1.0


# How A and B start: "random" (torch's default initialisation, as in seed 004) or "channels".
BRANCH_INITS = {"random": None, "channels": _start_as_channel_pruning}


def branched_mixes(model: nn.Module) -> list[BranchMix]:
    """The branch mixes of a branched model, in the order the model runs them."""
    return [m for m in model.modules() if isinstance(m, BranchMix)]


def attach_branches(
    model: nn.Module,
    layers: str | Iterable[str] = "all",
    *,
    widths: Mapping[str, int] | None = None,
    fraction: float | None = None,
    init: str = "random",
    seed: int = 0,
) -> nn.Module:
    """A copy of ``model`` with a branch beside each chosen pair, at α = 1 (the original's outputs).

    layers: pair names (their first layer, e.g. "conv1", "layers.0.conv1") or "all";
    widths: the bottleneck r per pair name, or ``fraction``: the share of the model's parameters
    that folding shall remove (the widths follow from one keep ratio for all pairs);
    init: "random" A and B (seed 004), or "channels": the branch starts as the original path
    pruned to the r channels with the strongest weights in L2.
    """
    if init not in BRANCH_INITS:
        raise CourseError(f"init must be one of {', '.join(BRANCH_INITS)}, got {init!r}.")
    if branched_mixes(model):
        raise CourseError("This model already carries branches: attach to the original model.")
    if (widths is None) == (fraction is None):
        raise CourseError("Give exactly one of widths (r per pair) and fraction (e.g. 0.65).")
    pairs = select_pairs(model, layers)
    widths = check_widths(pairs, widths) if widths is not None else None
    widths = widths or widths_for_fraction(model, pairs, fraction)
    branched = copy.deepcopy(model)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for pair in pairs:
            stash = _Stash()
            branch = _make_branch(branched, pair, widths[pair.name])
            if BRANCH_INITS[init] is not None:
                BRANCH_INITS[init](branch, unwrap(_get(branched, pair.second)), pair)
            _set(branched, pair.tap, BranchTap(_get(branched, pair.tap), stash))
            _set(branched, pair.second, BranchMix(_get(branched, pair.second), branch, stash, pair))
    finally:
        torch.random.set_rng_state(generator_state)
    return branched


def set_alpha(model: nn.Module, alpha: float) -> None:
    """Set α of every branch of ``model`` (1: the original path only, 0: the branches only)."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 1:
        raise CourseError(f"alpha must be a number in [0, 1], got {alpha!r}.")
    mixes = branched_mixes(model)
    if not mixes:
        raise CourseError("This model has no branches: call attach_branches first.")
    for mix in mixes:
        mix.alpha = float(alpha)


def branch_widths(model: nn.Module) -> dict[str, int]:
    """The bottleneck width r of every branch of a branched model, by pair name."""
    return {mix.pair.name: _width_out(mix.branch.reduce) for mix in branched_mixes(model)}


def original_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The pretrained parameters of a branched model (everything but the branches)."""
    branch_ids = {id(p) for mix in branched_mixes(model) for p in mix.branch.parameters()}
    return [p for p in model.parameters() if id(p) not in branch_ids]


def branch_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of the branches (A and B of every pair)."""
    return [p for mix in branched_mixes(model) for p in mix.branch.parameters()]


def describe_branches(model: nn.Module) -> pd.DataFrame:
    """One row per branch of a branched model: the pair, what sits between, C, r, and the
    parameters of its two layers (with L1's batch norm) before and after folding."""
    mixes = branched_mixes(model)
    pairs = [mix.pair for mix in mixes]
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
                "params_before": sum(_count(m) for m in layers + norm),
                "params_after": after[pair.first][1] + after[pair.second][1],
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- folding


def _affine(layer: nn.Module, norm: nn.Module | None):
    """L1's weight and bias with its batch norm (eval statistics) folded in."""
    weight = layer.weight.detach()
    bias = layer.bias.detach() if layer.bias is not None else weight.new_zeros(weight.shape[0])
    if norm is None:
        return weight, bias
    if norm.running_mean is None:
        raise CourseError(
            f"The batch norm after {type(layer).__name__} keeps no running statistics."
        )
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight.detach()
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias.detach()
    shape = (-1,) + (1,) * (weight.dim() - 1)
    return weight * scale.view(shape), bias * scale + shift


def _folded_layer(model, path, first_pair: LayerPair | None, second_pair: LayerPair | None):
    """The plain layer at ``path`` with the branch of ``first_pair`` (A after it) and of
    ``second_pair`` (B before it) multiplied in."""
    layer = unwrap(_get(model, path))
    if first_pair is not None:
        mix = _mix_of(model, first_pair)
        norm = unwrap(_get(model, first_pair.norm)) if first_pair.norm else None
        weight, bias = _affine(layer, norm)
        reduce = mix.branch.reduce
        a = reduce.weight.detach().flatten(1)  # (r, C)
        weight = torch.einsum("rc,c...->r...", a, weight)
        bias = a @ bias + reduce.bias.detach()
    else:
        weight = layer.weight.detach()
        bias = None if layer.bias is None else layer.bias.detach()
    if second_pair is not None:
        b = _mix_of(model, second_pair).branch.expand.weight.detach().flatten(1)  # (C, r)
        if isinstance(layer, nn.Conv2d):
            weight = torch.einsum("oc...,cr->or...", weight, b)
        else:
            columns = weight.view(weight.shape[0], second_pair.channels, second_pair.positions)
            weight = torch.einsum("ocp,cr->orp", columns, b).flatten(1)
    return _layer_like(layer, weight, bias)


def _layer_like(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """A new layer of ``layer``'s kind and settings holding ``weight`` and ``bias``."""
    has_bias = bias is not None
    if isinstance(layer, nn.Conv2d):
        new = nn.Conv2d(
            weight.shape[1],
            weight.shape[0],
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
            bias=has_bias,
            padding_mode=layer.padding_mode,
        )
    else:
        new = nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias)
    new.to(weight.device, weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if has_bias:
            new.bias.copy_(bias)
    new.train(layer.training)
    return new


def _mix_of(model: nn.Module, pair: LayerPair) -> BranchMix:
    module = _get(model, pair.second)
    while not (isinstance(module, BranchMix) and module.pair == pair):
        module = module.layer
    return module


def fold(model: nn.Module) -> nn.Module:
    """The plain smaller model (no branches, no α) that computes what ``model`` computes at α = 0.

    Each L1 becomes A ∘ BN ∘ L1 with r outputs, each L2 becomes L2 ∘ B with r inputs, the batch
    norms after L1 become identities; the layers in between stay where they were.
    """
    mixes = branched_mixes(model)
    if not mixes:
        raise CourseError("This model has no branches to fold: call attach_branches first.")
    pairs = [mix.pair for mix in mixes]
    first_of = {pair.first: pair for pair in pairs}
    second_of = {pair.second: pair for pair in pairs}
    new_layers = {
        path: _folded_layer(model, path, first_of.get(path), second_of.get(path))
        for path in first_of.keys() | second_of.keys()
    }
    folded = copy.deepcopy(model)
    for path, layer in new_layers.items():
        _set(folded, path, layer)
    for pair in pairs:
        if pair.norm is not None:
            _set(folded, pair.norm, nn.Identity())
    return folded


# --------------------------------------------------------------------------- α schedules


def alpha_schedule(step: float = 0.1, start: float = 1.0) -> list[float]:
    """α from ``start`` down to 0 in steps of ``step`` (seed 004: 1.0, 0.9, …, 0; its fine steps:
    ``alpha_schedule(0.00025, start=0.0125)``); 0 closes the schedule when the steps miss it."""
    for name, value in (("step", step), ("start", start)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise CourseError(f"alpha {name} must be a number in [0, 1], got {value!r}.")
    if step <= 0:
        raise CourseError(f"The α step must be > 0, got {step}.")
    count = math.floor(start / step + 1e-9)
    if count > 10_000:
        raise CourseError(f"An α step of {step} makes {count} stages: use a larger step.")
    alphas = [round(start - i * step, 12) for i in range(count + 1)]
    return alphas if alphas[-1] == 0 else alphas + [0.0]


def check_schedule(alphas: Iterable[float]) -> list[float]:
    """A schedule as a list of floats: in [0, 1], never rising, ending at α = 0."""
    alphas = list(alphas)
    bad = [a for a in alphas if isinstance(a, bool) or not isinstance(a, int | float)]
    if not alphas or bad or any(not 0 <= a <= 1 for a in alphas):
        raise CourseError(
            f"An α schedule is a non-empty list of numbers in [0, 1], got {alphas!r}."
        )
    if any(b > a for a, b in zip(alphas, alphas[1:], strict=False)):
        raise CourseError(f"α must never rise along the schedule, got {alphas}.")
    if alphas[-1] != 0:
        raise CourseError(
            f"The schedule must end at α = 0 (where the branches alone feed L2 and the model "
            f"folds), got {alphas[-1]}: append 0."
        )
    return [float(a) for a in alphas]


# --------------------------------------------------------------------------- training


@dataclass
class AlphaRun:
    """A run through an α schedule.

    epochs: one row per training epoch (segment, alpha, lr, train/val accuracy and loss, …);
    segments: one row per segment (a stage, or a resumption at α = 0 with another lr) with the
    validation accuracy it started from and its best one, the test accuracy of the weights it
    kept, and whether the run kept them;
    model: the branched model with the best weights at the last α reached.
    """

    pretrained: str
    epochs: pd.DataFrame
    segments: pd.DataFrame
    model: nn.Module
    divergence: str | None = None

    @property
    def final_alpha(self) -> float:
        return float(self.segments["alpha"].iloc[-1])

    @property
    def stages(self) -> pd.DataFrame:
        """The accuracy reached at each α (its best kept segment)."""
        kept = self.segments[self.segments["kept"]]
        best = kept.loc[kept.groupby("alpha", sort=False)["val_accuracy"].idxmax()]
        return best[["alpha", "lr", "val_accuracy", "test_accuracy"]].reset_index(drop=True)


PRETRAINED_MODES = ("trainable", "frozen")
EPOCH_COLUMNS = ["segment", "alpha", "lr", "epoch", "segment_epoch"] + [
    f"{split}_{what}" for split in ("train", "val") for what in ("accuracy", "loss")
]


@contextmanager
def _frozen(model: nn.Module, frozen: bool):
    """Inside the block, when ``frozen``, the pretrained weights and batch-norm statistics of a
    branched model stay as they are: only the branches learn."""
    params = original_parameters(model) if frozen else []
    branch_modules = {id(m) for mix in branched_mixes(model) for m in mix.branch.modules()}
    norms = [
        m
        for m in model.modules()
        if frozen and isinstance(m, NORMS) and id(m) not in branch_modules
    ]
    saved = [(p, p.requires_grad) for p in params], [(m, m.momentum) for m in norms]
    for p in params:
        p.requires_grad_(False)
    for m in norms:
        m.momentum = 0.0  # running statistics move by momentum·(batch − running)
    try:
        yield
    finally:
        for p, flag in saved[0]:
            p.requires_grad_(flag)
        for m, momentum in saved[1]:
            m.momentum = momentum


def _snapshot(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _ScheduleTrainer:
    """Trains the segments of one run and keeps their records."""

    def __init__(self, model, data, config: TrainConfig, max_epochs: int, patience: int):
        self.model, self.data, self.config = model, data, config
        self.max_epochs, self.patience = max_epochs, patience
        device = config.device
        self.val = data.loader("val", 1024, device=device)
        self.test = data.loader("test", 1024, device=device)
        self.epochs: list[dict] = []
        self.segments: list[dict] = []
        self.divergence: str | None = None

    def segment(self, alpha: float, lr: float, resumed: bool) -> float:
        """Train at ``alpha`` with a fresh SGD at ``lr`` until the validation accuracy stops
        improving; keep the best weights (the entry ones count) and return their accuracy."""
        set_alpha(self.model, alpha)
        number = len(self.segments) + 1
        entry = evaluate(self.model, self.val)[1]
        best, best_state = entry, _snapshot(self.model)
        optimizer = make_optimizer(
            [p for p in self.model.parameters() if p.requires_grad], replace(self.config, lr=lr)
        )
        trained, stale = 0, 0
        while alpha < 1 and trained < self.max_epochs and stale < self.patience:
            config = replace(self.config, lr=lr, seed=self.config.seed + 1000 * number + trained)
            history = fit(
                self.model,
                self.data,
                config,
                optimizer=optimizer,
                progress=False,
                eval_splits=("val",),
            )
            if history.diverged:
                self.divergence = f"α = {alpha}, lr = {lr}: {history.divergence}"
                break
            trained += 1
            row = history.epochs.iloc[-1]
            self.epochs.append(
                {
                    "segment": number,
                    "alpha": alpha,
                    "lr": lr,
                    "epoch": len(self.epochs) + 1,
                    "segment_epoch": trained,
                    **{c: row[c] for c in EPOCH_COLUMNS[5:]},
                }
            )
            if row["val_accuracy"] > best:
                best, best_state, stale = row["val_accuracy"], _snapshot(self.model), 0
            else:
                stale += 1
        self.model.load_state_dict(best_state)
        self.segments.append(
            {
                "segment": number,
                "alpha": alpha,
                "lr": lr,
                "resumed": resumed,
                "epochs": trained,
                "entry_val_accuracy": entry,
                "val_accuracy": best,
                "test_accuracy": evaluate(self.model, self.test)[1],
                "diverged": self.divergence is not None,
                "kept": True,
            }
        )
        return best


def train_alpha_schedule(
    model: nn.Module,
    data,
    alphas: Sequence[float],
    *,
    pretrained: str = "trainable",
    lr: float = 0.001,
    resume_lrs: Sequence[float] = (),
    target_accuracy: float | None = None,
    max_epochs: int = 5,
    patience: int = 1,
    batch_size: int = 128,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> AlphaRun:
    """Train a branched ``model`` in place while α steps through ``alphas``.

    Each stage trains with a fresh SGD at ``lr`` until the validation accuracy has not improved
    for ``patience`` epochs (at most ``max_epochs``) and keeps its best weights. A stage at α = 1
    has nothing to learn and is only evaluated. At α = 0, while the validation accuracy is below
    ``target_accuracy`` (None: always), training resumes from the best weights with each of
    ``resume_lrs`` in turn, and a resumption is kept only when it improves. ``pretrained``:
    "trainable" (the seed's better choice) or "frozen" (only the branches learn). A diverging
    stage ends the run, with the best weights before it and the reason in ``divergence``.
    """
    alphas = check_schedule(alphas)
    if pretrained not in PRETRAINED_MODES:
        raise CourseError(f"pretrained must be one of {PRETRAINED_MODES}, got {pretrained!r}.")
    if not branched_mixes(model):
        raise CourseError("This model has no branches: call attach_branches first.")
    for name, value in (("max_epochs", max_epochs), ("patience", patience)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CourseError(f"{name} must be an integer >= 1, got {value!r}.")
    rates = [lr, *resume_lrs]
    if any(isinstance(r, bool) or not isinstance(r, int | float) or not r > 0 for r in rates):
        raise CourseError(f"Learning rates must be positive numbers, got {lr} and {resume_lrs}.")
    if target_accuracy is not None and not 0 <= target_accuracy <= 1:
        raise CourseError(f"target_accuracy is a fraction in [0, 1], got {target_accuracy}.")
    config = TrainConfig(
        dataset=data.name,
        epochs=1,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        seed=seed,
        device=str(pick_device(device)),
    )
    model.to(config.device)
    trainer = _ScheduleTrainer(model, data, config, max_epochs, patience)
    with _frozen(model, pretrained == "frozen"):
        stages = tqdm(alphas, desc=f"α stages, {pretrained}", disable=not progress)
        for alpha in stages:
            best = trainer.segment(alpha, lr, resumed=False)
            stages.set_postfix(alpha=alpha, val=f"{best:.3f}")
            if trainer.divergence:
                break
        for rate in resume_lrs if not trainer.divergence else ():
            if target_accuracy is not None and best >= target_accuracy:
                break
            state = _snapshot(model)
            resumed = trainer.segment(0.0, rate, resumed=True)
            if resumed <= best:
                model.load_state_dict(state)
                trainer.segments[-1]["kept"] = False
            best = max(best, resumed)
            trainer.divergence = None  # a diverging resumption is reverted, not the run's end
    return AlphaRun(
        pretrained,
        pd.DataFrame(trainer.epochs, columns=EPOCH_COLUMNS),
        pd.DataFrame(trainer.segments),
        model,
        trainer.divergence,
    )


# --------------------------------------------------------------------------- checks and costs


@torch.no_grad()
def check_fold(branched: nn.Module, folded: nn.Module, data, split: str = "test") -> dict:
    """Accuracy of the branched model at α = 0 and of its fold on ``split``, and the largest
    difference of their outputs (logits) over that split."""
    set_alpha(branched, 0.0)
    device = next(branched.parameters()).device
    folded.to(device)
    modes = branched.training, folded.training
    branched.eval()
    folded.eval()
    correct, count, difference = [0, 0], 0, 0.0
    for x, y in data.loader(split, 1024, device=device):
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


def compare_costs(
    original: nn.Module,
    folded: nn.Module,
    input_shape,
    batch_size: int = 256,
    devices: Sequence[str] | None = None,
    **measure,
) -> pd.DataFrame:
    """Parameters, FLOPs, time per image and peak inference memory of the original and the
    folded model on each device (default: the CPU, and the GPU when there is one), with the
    ratio folded / original per device."""
    if devices is None:
        devices = ["cpu"] + ([str(pick_device())] if pick_device().type != "cpu" else [])
    rows = []
    for device in devices:
        pair = {}
        for name, model in (("original", original), ("folded", folded)):
            moved = copy.deepcopy(model).to(device)
            pair[name] = {
                "device": device,
                **cost_row(moved, input_shape, name, batch_size, **measure),
            }
        ratio = {"model": "folded / original", "device": device}
        for key in ("params", "flops", "ms_per_image", "ms_per_batch", "memory_mb"):
            ratio[key] = pair["folded"][key] / pair["original"][key]
        rows += [pair["original"], pair["folded"], ratio]
    return pd.DataFrame(rows).drop(columns=["batch_size"])


def best_run(runs: Mapping[str, AlphaRun]) -> str | None:
    """The label of the run with the best validation accuracy at α = 0 (None: none got there)."""
    finished = {k: run.stages["val_accuracy"].iloc[-1] for k, run in runs.items()}
    finished = {k: v for k, v in finished.items() if runs[k].final_alpha == 0.0}
    return max(finished, key=finished.get) if finished else None
