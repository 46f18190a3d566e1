"""Part 5's exercises: the branch's forward pass α·original + (1 − α)·branch, and folding A and
the batch norm into the pair's first layer at α = 0."""

from __future__ import annotations

import torch
from torch import nn

from course_lib import branches
from course_lib.assign.exercises import Case, Exercise, Test, register, seeded

NOTEBOOK = "05_alpha_branch"


def mix_case(alpha: float, *shape: int, seed: int = 0) -> Test:
    original, branch = seeded(seed, *shape), seeded(seed + 100, *shape)

    def test(function):
        got = torch.as_tensor(function(original.clone(), branch.clone(), alpha))
        want = branches.mix(original, branch, alpha)
        if got.shape != want.shape:
            return f"output of shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        if torch.allclose(got, want, atol=1e-6):
            return None
        if torch.allclose(got, branches.mix(branch, original, alpha), atol=1e-6):
            return "α weighs the branch: the output is α·original + (1 − α)·branch"
        return f"at α = {alpha} the output is not α·original + (1 − α)·branch"

    return test


register(
    Exercise(
        "branch_mix",
        NOTEBOOK,
        branches.mix,
        helpers=(branches.BranchMix,),
        visible=(
            Case("α = 0.3 on feature maps", mix_case(0.3, 2, 4, 5, 5)),
            Case("α = 1: the original path", mix_case(1.0, 3, 6, seed=1)),
            Case("α = 0: the branch", mix_case(0.0, 3, 6, seed=2)),
        ),
    )
)


def _norm(features: int, conv: bool, affine: bool = True, tiny_var: bool = False):
    norm = (nn.BatchNorm2d if conv else nn.BatchNorm1d)(features, affine=affine).eval()
    norm.running_mean.uniform_(-1, 1)
    norm.running_var.uniform_(1e-6, 2e-6) if tiny_var else norm.running_var.uniform_(0.5, 2)
    if affine:
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.uniform_(-0.5, 0.5)
    return norm


def fold_case(conv: bool, seed: int, norm=True, bias=True, affine=True, tiny_var=False) -> Test:
    def test(function):
        torch.manual_seed(seed)
        first = nn.Conv2d(3, 6, 3, bias=bias) if conv else nn.Linear(5, 6, bias=bias)
        batch_norm = _norm(6, conv, affine, tiny_var) if norm else None
        reduce = nn.Conv2d(6, 2, 1) if conv else nn.Linear(6, 2)
        weight = first.weight.detach()
        bias_ = first.bias.detach() if bias else torch.zeros(6)
        a, a_bias = reduce.weight.detach().flatten(1), reduce.bias.detach()
        found = function(weight.clone(), bias_.clone(), batch_norm, a.clone(), a_bias.clone())
        got_weight, got_bias = (torch.as_tensor(t).detach() for t in found)
        want_weight, want_bias = branches.fold_first(weight, bias_, batch_norm, a, a_bias)
        if got_weight.shape != want_weight.shape or got_bias.shape != want_bias.shape:
            return (
                f"weight {tuple(got_weight.shape)} and bias {tuple(got_bias.shape)}, expected "
                f"{tuple(want_weight.shape)} and {tuple(want_bias.shape)}"
            )
        close = torch.allclose(got_weight, want_weight, rtol=1e-4, atol=1e-5)
        if close and torch.allclose(got_bias, want_bias, rtol=1e-4, atol=1e-5):
            return None
        plain = branches.fold_first(weight, bias_, None, a, a_bias)
        if batch_norm is not None and torch.allclose(got_weight, plain[0], atol=1e-5):
            return "the fold ignores the batch norm: fold BN into L1 first, then multiply by A"
        if close:
            return "the weight is right, the bias is not: A·(BN(L1's bias)) + A's bias"
        return "the folded weight is not A·BN·L1's weight"

    return test


register(
    Exercise(
        "fold_first",
        NOTEBOOK,
        branches.fold_first,
        helpers=(branches.fold,),
        visible=(
            Case("a conv, its batch norm and A", fold_case(True, 0)),
            Case("a linear layer, no batch norm", fold_case(False, 1, norm=False)),
        ),
    )
)
