"""Part 4's exercises: HOSVD's factors from the mode unfoldings, and a conv as three convs."""

from __future__ import annotations

import torch
from torch import nn

from course_lib import tucker
from course_lib.assign.exercises import Case, Exercise, Test, register, seeded

NOTEBOOK = "04_tucker"


def _residual(unfolding: torch.Tensor, factor: torch.Tensor) -> float:
    """‖X − F Fᵀ X‖²: what the columns of ``factor`` leave out of ``unfolding``'s columns."""
    return float((unfolding - factor @ (factor.T @ unfolding)).square().sum())


def _factor_problem(name: str, factor, unfolding: torch.Tensor, rank: int, want) -> str | None:
    rows = unfolding.shape[0]
    if factor.shape == (rank, rows) and rank != rows:
        return (
            f"{name} is {tuple(factor.shape)}: the singular vectors are its columns ({rows}×{rank})"
        )
    if factor.shape != (rows, rank):
        short = factor.ndim == 2 and factor.shape[0] == rows and factor.shape[1] < rank
        hint = (
            " (the rank is above the unfolding's: take the leading eigenvectors of X·Xᵀ or "
            "full_matrices=True)"
            if short
            else ""
        )
        return f"{name} is {tuple(factor.shape)}, expected ({rows}, {rank}){hint}"
    if not torch.allclose(factor.T @ factor, torch.eye(rank, dtype=factor.dtype), atol=1e-6):
        return f"the columns of {name} are not orthonormal"
    got, best = _residual(unfolding, factor), _residual(unfolding, want)
    if got > best * (1 + 1e-6) + 1e-9 * float(unfolding.square().sum()):
        return (
            f"{name} does not span the leading left singular vectors of its unfolding (it leaves "
            f"{got:.4g} of the energy out, the leading ones {best:.4g})"
        )
    return None


def factors_case(weight: torch.Tensor, in_rank: int, out_rank: int) -> Test:
    weight = weight.double()

    def test(function):
        found = function(weight.clone(), in_rank, out_rank)
        in_factor, out_factor = (torch.as_tensor(f, dtype=torch.float64) for f in found)
        f, c = weight.shape[:2]
        if in_factor.shape[0] == f != c and out_factor.shape[0] == c:
            return "I and O are swapped: I spans the input channels (c×R1), O the outputs (f×R2)"
        want_in, want_out = tucker.hosvd_factors(weight, in_rank, out_rank)
        return _factor_problem(
            "I", in_factor, tucker.unfold(weight, 1), in_rank, want_in
        ) or _factor_problem("O", out_factor, tucker.unfold(weight, 0), out_rank, want_out)

    return test


register(
    Exercise(
        "hosvd_factors",
        NOTEBOOK,
        tucker.hosvd_factors,
        helpers=(
            tucker.hosvd,
            tucker.hooi,
            tucker.decompose_weight,
        ),
        visible=(
            Case(
                "a (8, 6, 3, 3) weight at R1 = 3, R2 = 4",
                factors_case(seeded(0, 8, 6, 3, 3), 3, 4),
            ),
            Case("full ranks", factors_case(seeded(1, 5, 4, 3, 3), 4, 5)),
            Case("R1 above the unfolding's rank", factors_case(seeded(2, 2, 5, 1, 1), 4, 2)),
        ),
    )
)


def _first_weight(module: nn.Module) -> torch.Tensor | None:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    return convs[0].weight.detach() if len(convs) == 3 else None


def layer_case(channels, ranks, seed: int = 0, bias: bool = True, **conv) -> Test:
    def test(function):
        torch.manual_seed(seed)
        original = nn.Conv2d(*channels, bias=bias, **conv).eval()
        factors = tucker.hosvd(original.weight, ranks)
        parts = (factors.core, factors.in_factor, factors.out_factor)
        got = function(original, *(p.clone() for p in parts))
        want = tucker.tucker_layer(original, *parts)
        x = seeded(seed, 2, channels[0], 9, 9)
        with torch.no_grad():
            got_out, want_out = got(x), want(x)
        if got_out.shape != want_out.shape:
            return (
                f"output of shape {tuple(got_out.shape)}, expected {tuple(want_out.shape)}: the "
                "k×k core conv keeps the conv's stride, padding and dilation"
            )
        if torch.allclose(got_out, want_out, atol=1e-5):
            return None
        first = _first_weight(got)
        in_factor = factors.in_factor
        if first is not None and torch.equal(first.reshape(-1), in_factor.reshape(-1)):
            return "the first 1×1 conv's weight is I reshaped, not transposed: use Iᵀ"
        if bias and torch.allclose(
            want_out - got_out, original.bias.view(1, -1, 1, 1).expand_as(got_out), atol=1e-5
        ):
            return "the bias is missing: the last 1×1 conv carries the conv's bias"
        gap = float((got_out - want_out).abs().max())
        return f"outputs differ from the three convs' by up to {gap:.3g}"

    return test


register(
    Exercise(
        "tucker_layer",
        NOTEBOOK,
        tucker.tucker_layer,
        helpers=(
            tucker.TuckerConv,
            tucker.decompose_conv,
        ),
        visible=(
            Case("a 3×3 conv 6→8 at full ranks", layer_case((6, 8, 3), (6, 8))),
            Case("padding 1 and stride 2", layer_case((6, 8, 3), (3, 4), padding=1, stride=2)),
            Case("ranks (2, 3)", layer_case((5, 7, 3), (2, 3), seed=1)),
        ),
    )
)
