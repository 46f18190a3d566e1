"""Making branches and splicing them beside the chosen layer pairs of a copy of a model."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from course_lib.branches.modules import Branch, BranchMix, BranchTap, _Stash, branched_mixes, unwrap
from course_lib.branches.pairs import LayerPair, select_pairs
from course_lib.branches.widths import choose_widths
from course_lib.errors import CourseError
from course_lib.surgery import device_of, replace, width


def _make_branch(model: nn.Module, pair: LayerPair, r: int) -> Branch:
    first = unwrap(model.get_submodule(pair.first))
    between = [copy.deepcopy(model.get_submodule(path)) for path in pair.between]
    cut = next((i for i, m in enumerate(between) if isinstance(m, nn.Flatten)), len(between))
    if isinstance(first, nn.Conv2d):
        reduce = nn.Conv2d(pair.channels, r, 1)
        expand = nn.Conv2d(r, pair.channels, 1, bias=False)
    else:
        reduce = nn.Linear(pair.channels, r)
        expand = nn.Linear(r, pair.channels, bias=False)
    reduce.to(device_of(first), first.weight.dtype)
    expand.to(device_of(first), first.weight.dtype)
    return Branch(reduce, nn.Sequential(*between[:cut]), expand, nn.Sequential(*between[cut:]))


@torch.no_grad()
def _start_as_channel_pruning(branch: Branch, second: nn.Module, pair: LayerPair) -> None:
    """A picks the r channels whose weights in L2 have the largest norm, B puts them back: the
    branch starts as the original path with the other channels pruned."""
    weight = second.weight.detach()
    columns = weight.view(weight.shape[0], pair.channels, -1)
    r = width(branch.reduce)
    keep = columns.norm(dim=(0, 2)).topk(r).indices.sort().values
    picks = torch.arange(r, device=keep.device)
    branch.reduce.weight.zero_()
    branch.reduce.bias.zero_()
    branch.expand.weight.zero_()
    branch.reduce.weight.view(r, pair.channels)[picks, keep] = 1.0
    branch.expand.weight.view(pair.channels, r)[keep, picks] = 1.0


# How A and B start: "random" (torch's default initialisation, as in seed 004) or "channels".
BRANCH_INITS = {"random": None, "channels": _start_as_channel_pruning}


def attach_branches(
    model: nn.Module,
    layers: str | Iterable[str] = "all",
    *,
    widths: Mapping[str, int] | None = None,
    remove_fraction: float | None = None,
    init: str = "random",
    seed: int = 0,
    mix: Callable | None = None,
) -> nn.Module:
    """A copy of ``model`` with a branch beside each chosen pair, at α = 1 (the original's outputs).

    layers: pair names (their first layer, e.g. "conv1", "layers.0.conv1") or "all";
    widths: the bottleneck r per pair name, or ``remove_fraction``: the share of the model's
    parameters that folding shall remove (the widths follow from one keep ratio for all pairs);
    init: "random" A and B (seed 004), or "channels": the branch starts as the original path
    pruned to the r channels with the strongest weights in L2; mix: (original, branch, α) -> L2's
    input in place of ``modules.mix`` (a student's own).
    """
    if init not in BRANCH_INITS:
        raise CourseError(f"init must be one of {', '.join(BRANCH_INITS)}, got {init!r}.")
    if branched_mixes(model):
        raise CourseError("This model already carries branches: attach to the original model.")
    if (widths is None) == (remove_fraction is None):
        raise CourseError(
            "Give exactly one of widths (r per pair) and remove_fraction (e.g. 0.65)."
        )
    pairs = select_pairs(model, layers)
    widths = choose_widths(model, pairs, widths, remove_fraction)
    branched = copy.deepcopy(model)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for pair in pairs:
            _splice(branched, pair, _make_branch(branched, pair, widths[pair.name]), init, mix)
    finally:
        torch.random.set_rng_state(generator_state)
    return branched


def _splice(model: nn.Module, pair: LayerPair, branch: Branch, init: str, mix) -> None:
    """Wrap the pair's tap and L2 so that L2 mixes in ``branch``."""
    if BRANCH_INITS[init] is not None:
        BRANCH_INITS[init](branch, unwrap(model.get_submodule(pair.second)), pair)
    stash = _Stash()
    replace(model, pair.tap, BranchTap(model.get_submodule(pair.tap), stash))
    second = model.get_submodule(pair.second)
    replace(model, pair.second, BranchMix(second, branch, stash, pair, mix))
