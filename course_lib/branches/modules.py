"""The branch modules spliced into a model, and what can be asked of a branched model.

L1's last module (its batch norm, or L1) is wrapped by a :class:`BranchTap` that keeps its output,
and L2 by a :class:`BranchMix` that runs the :class:`Branch` on it and mixes, so the model calls
its layers as before.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_lib import checks
from course_lib.branches.pairs import LayerPair
from course_lib.errors import CourseError
from course_lib.surgery import width


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


def mix(original: torch.Tensor, branch: torch.Tensor, alpha: float) -> torch.Tensor:
    """α·original + (1 − α)·branch."""
    return torch.lerp(branch, original, alpha)


class BranchMix(nn.Module):
    """Feeds ``layer`` (L2) with α·(its original input) + (1 − α)·branch(L1's output).

    ``combine`` (original, branch, α) -> L2's input replaces the library's ``mix`` (a student's
    own); it then also runs at α = 1 and 0, where the library's takes one path alone."""

    def __init__(
        self,
        layer: nn.Module,
        branch: Branch,
        stash: _Stash,
        pair: LayerPair,
        combine: Callable | None = None,
    ):
        super().__init__()
        self.layer = layer
        self.branch = branch
        self.stash = stash
        self.pair = pair
        self.alpha = 1.0
        self.combine = combine

    def forward(self, x):
        z, self.stash.value = self.stash.value, None
        if z is None:
            raise RuntimeError(f"The branch beside {self.pair.name} ran before its tap.")
        if self.combine is not None:
            return self.layer(self.combine(x, self.branch(z), self.alpha))
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


def branched_mixes(model: nn.Module) -> list[BranchMix]:
    """The branch mixes of a branched model, in the order the model runs them."""
    return [m for m in model.modules() if isinstance(m, BranchMix)]


def mix_of(model: nn.Module, pair: LayerPair) -> BranchMix:
    """The mix that carries the branch of ``pair``."""
    module = model.get_submodule(pair.second)
    while not (isinstance(module, BranchMix) and module.pair == pair):
        module = module.layer
    return module


def set_alpha(model: nn.Module, alpha: float) -> None:
    """Set α of every branch of ``model`` (1: the original path only, 0: the branches only)."""
    checks.number("alpha", alpha, 0, 1)
    mixes = branched_mixes(model)
    if not mixes:
        raise CourseError("This model has no branches: call attach_branches first.")
    for mix in mixes:
        mix.alpha = float(alpha)


def branch_widths(model: nn.Module) -> dict[str, int]:
    """The bottleneck width r of every branch of a branched model, by pair name."""
    return {mix.pair.name: width(mix.branch.reduce) for mix in branched_mixes(model)}


def original_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The pretrained parameters of a branched model (everything but the branches)."""
    branch_ids = {id(p) for p in branch_parameters(model)}
    return [p for p in model.parameters() if id(p) not in branch_ids]


def branch_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of the branches (A and B of every pair)."""
    return [p for mix in branched_mixes(model) for p in mix.branch.parameters()]
