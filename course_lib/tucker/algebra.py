"""Tucker-2 of a conv weight: one k×k conv becomes 1×1 (c→R1), k×k (R1→R2), 1×1 (R2→f).

A conv weight W of shape (f, c, k, k) keeps its two spatial modes and has its two channel
modes decomposed:

    W ≈ core ×_out O ×_in I,    O: f×R2,  I: c×R1,  core: (R2, R1, k, k)

so W[o, i] ≈ Σ_{r,s} O[o, r] · core[r, s] · I[i, s]. R1 is the *input* rank and R2 the
*output* rank throughout.

HOSVD takes I and O from the leading left singular vectors of the two channel unfoldings.
HOOI starts there and alternates: O from the unfolding of W projected on I, then I from W
projected on O. Each step maximises ‖core‖ with the other factor fixed, and with orthonormal
factors ‖W − Ŵ‖² = ‖W‖² − ‖core‖², so the error never rises and HOOI is never worse than
HOSVD.

TensorLy's ``partial_tucker`` (PyTorch backend) computes the same factors: the tests check that
we agree with it on random tensors. We keep our own few lines of torch because they need no
switch of TensorLy's process-wide backend, expose the unfoldings' singular values (the energy
rank rule needs them), give factors a fixed sign (reproducible runs), take the leading vectors
from the small c×c and f×f Gram matrices on one thread (fast for conv-sized matrices), and
read as the algorithm the course teaches.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from course_lib import checks, costs
from course_lib.errors import CourseError

OUT_MODE, IN_MODE = 0, 1


@dataclass(frozen=True)
class Tucker2:
    """Factors of W (f, c, k, k): core (R2, R1, k, k), in_factor I (c, R1), out_factor O (f, R2)."""

    core: torch.Tensor
    in_factor: torch.Tensor
    out_factor: torch.Tensor

    @property
    def ranks(self) -> tuple[int, int]:
        """(R1, R2): the input and the output rank."""
        return self.in_factor.shape[1], self.out_factor.shape[1]

    def reconstruct(self) -> torch.Tensor:
        """The weight the factors stand for, W ≈ core ×_out O ×_in I."""
        return torch.einsum("rsab,or,is->oiab", self.core, self.out_factor, self.in_factor)


def check_weight(weight: torch.Tensor) -> None:
    """Refuse anything but a finite conv weight (out, in, kh, kw)."""
    if weight.ndim != 4:
        raise CourseError(
            f"Tucker-2 needs a conv weight of shape (out, in, kh, kw); got shape "
            f"{tuple(weight.shape)}. Pass a Conv2d's .weight."
        )
    if not torch.isfinite(weight).all():
        raise CourseError("The weight holds NaN or inf values; decompose a trained, finite layer.")


def check_ranks(weight: torch.Tensor, ranks) -> tuple[int, int]:
    """``ranks`` as a pair (R1, R2) that fits ``weight``'s input and output channels."""
    try:
        in_rank, out_rank = (int(r) for r in ranks)
    except (TypeError, ValueError):
        raise CourseError(f"ranks must be a pair (R1, R2) of integers; got {ranks!r}.") from None
    out_channels, in_channels = weight.shape[:2]
    if not (1 <= in_rank <= in_channels and 1 <= out_rank <= out_channels):
        raise CourseError(
            f"ranks (R1={in_rank}, R2={out_rank}) must satisfy 1 <= R1 <= {in_channels} (input "
            f"channels) and 1 <= R2 <= {out_channels} (output channels)."
        )
    return in_rank, out_rank


def one_thread(decompose):
    """Run on one torch thread: these matrices are small, and extra threads only wait for each
    other (badly so on a shared machine)."""

    @functools.wraps(decompose)
    def run(*args, **kwargs):
        with costs.torch_threads(1):
            return decompose(*args, **kwargs)

    return run


def unfold(weight: torch.Tensor, mode: int) -> torch.Tensor:
    """The mode-`mode` unfolding: rows indexed by that mode, columns by all the others."""
    return weight.movedim(mode, 0).reshape(weight.shape[mode], -1)


@one_thread
def unfolding_spectra(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Singular values of the input-channel and the output-channel unfoldings (descending)."""
    check_weight(weight)
    w = weight.detach().double()
    return torch.linalg.svdvals(unfold(w, IN_MODE)), torch.linalg.svdvals(unfold(w, OUT_MODE))


def leading_vectors(matrix: torch.Tensor, rank: int) -> torch.Tensor:
    """The `rank` leading left singular vectors, each signed so its largest entry is positive.

    They are the leading eigenvectors of matrix·matrixᵀ (rows × rows: small for a conv's
    unfoldings, whose columns number the other channels times k²); the eigenbasis is complete,
    so a rank above the matrix's own rank still gets orthonormal columns.
    """
    _, vectors = torch.linalg.eigh(matrix @ matrix.T)
    u = vectors.flip(1)[:, :rank]
    pivot = u.abs().argmax(dim=0)
    signs = torch.sign(u[pivot, torch.arange(rank)])
    return u * torch.where(signs == 0, torch.ones_like(signs), signs)


def _core(weight: torch.Tensor, in_factor: torch.Tensor, out_factor: torch.Tensor):
    return torch.einsum("oiab,or,is->rsab", weight, out_factor, in_factor)


def hosvd_factors(weight: torch.Tensor, in_rank: int, out_rank: int):
    """HOSVD's factors of a conv weight (f, c, k, k), in float64: I (c×R1), the R1 leading left
    singular vectors of the input-channel unfolding, and O (f×R2), those of the output one."""
    w = weight.detach().double()
    return leading_vectors(unfold(w, IN_MODE), in_rank), leading_vectors(
        unfold(w, OUT_MODE), out_rank
    )


def _hosvd_start(weight: torch.Tensor, ranks, factors=None):
    """The checked weight in float64 and its HOSVD factors (input, output) at ``ranks``, by
    ``factors`` (``hosvd_factors`` when None: a student's own)."""
    check_weight(weight)
    in_rank, out_rank = check_ranks(weight, ranks)
    w = weight.detach().double()
    found = (factors or hosvd_factors)(w, in_rank, out_rank)
    return w, *(torch.as_tensor(f, dtype=torch.float64) for f in found)


def _factors(w: torch.Tensor, in_factor, out_factor, like: torch.Tensor) -> Tucker2:
    """The Tucker-2 of ``w`` on these factors, in ``like``'s dtype."""
    parts = (_core(w, in_factor, out_factor), in_factor, out_factor)
    return Tucker2(*(t.to(dtype=like.dtype) for t in parts))


@one_thread
def hosvd(weight: torch.Tensor, ranks, factors=None) -> Tucker2:
    """Truncated higher-order SVD of the two channel modes of a conv weight (``factors``: see
    ``_hosvd_start``)."""
    w, in_factor, out_factor = _hosvd_start(weight, ranks, factors)
    return _factors(w, in_factor, out_factor, weight)


@one_thread
def hooi(
    weight: torch.Tensor, ranks, max_iter: int = 100, tol: float = 1e-5, factors=None
) -> Tucker2:
    """Higher-order orthogonal iteration from the HOSVD start (``factors``: see ``_hosvd_start``);
    stops after `max_iter` sweeps or when a sweep lowers the relative error by less than `tol`
    (TensorLy's rule)."""
    w, in_factor, out_factor = _hosvd_start(weight, ranks, factors)
    checks.integer("max_iter", max_iter, 0)
    checks.number("tol", tol, 0)
    in_rank, out_rank = in_factor.shape[1], out_factor.shape[1]
    total = w.square().sum()

    def error() -> float:  # orthonormal factors: ‖W − Ŵ‖² = ‖W‖² − ‖core‖²
        captured = _core(w, in_factor, out_factor).square().sum()
        return float((1 - captured / total).clamp(min=0).sqrt())

    current = error()
    for _ in range(max_iter):
        projected = torch.einsum("oiab,is->osab", w, in_factor)
        out_factor = leading_vectors(unfold(projected, 0), out_rank)
        projected = torch.einsum("oiab,or->irab", w, out_factor)
        in_factor = leading_vectors(unfold(projected, 0), in_rank)
        previous, current = current, error()
        if previous - current < tol:
            break
    return _factors(w, in_factor, out_factor, weight)


METHODS = {"hosvd": hosvd, "hooi": hooi}


def decomposer(method: str, factors=None):
    """The decomposition called ``method`` ("hosvd" or "hooi"), started from ``factors``' HOSVD
    factors (None: ``hosvd_factors``)."""
    if method not in METHODS:
        raise CourseError(f"Unknown Tucker method {method!r}; choose one of {sorted(METHODS)}.")
    return functools.partial(METHODS[method], factors=factors) if factors else METHODS[method]


def decompose_weight(weight: torch.Tensor, ranks, method: str = "hooi") -> Tucker2:
    """Tucker-2 of a conv weight by `method` ("hosvd" or "hooi")."""
    return decomposer(method)(weight, ranks)


def relative_error(reference: torch.Tensor, approximation: torch.Tensor) -> float:
    """‖reference − approximation‖_F / ‖reference‖_F (0 when both are zero)."""
    reference, approximation = reference.detach().double(), approximation.detach().double()
    norm = torch.linalg.vector_norm(reference)
    difference = torch.linalg.vector_norm(reference - approximation)
    return float(difference / norm) if norm > 0 else float(difference)


@one_thread
def weight_error(weight: torch.Tensor, factors: Tucker2) -> float:
    """Relative Frobenius error of the weight the factors reconstruct."""
    return relative_error(weight, factors.reconstruct())


# --------------------------------------------------------------------------- choosing ranks


def ranks_by_keep_fraction(weight: torch.Tensor, keep_fraction: float) -> tuple[int, int]:
    """R1 = ⌈keep_fraction·c⌉, R2 = ⌈keep_fraction·f⌉: the share of the channels kept (seed
    003's k of 8 is keep_fraction = k/8)."""
    check_weight(weight)
    checks.number("keep_fraction (k/8 for k = 1..8)", keep_fraction, 0, 1, open_low=True)
    out_channels, in_channels = weight.shape[:2]
    # Rounding first keeps 0.1 * 30 (= 3.0000000000000004) at 3, not 4.
    return tuple(
        max(1, math.ceil(round(keep_fraction * n, 9))) for n in (in_channels, out_channels)
    )


def ranks_by_energy(weight: torch.Tensor, energy: float) -> tuple[int, int]:
    """Smallest ranks whose leading singular values keep `energy` of each unfolding's Σσ²."""
    checks.number("energy (0.9 keeps 90 %)", energy, 0, 1, open_low=True)
    spectra = unfolding_spectra(weight)

    def smallest_rank(singular_values: torch.Tensor) -> int:
        kept = singular_values.square().cumsum(0)
        needed = energy * kept[-1] * (1 - 1e-12)
        return int((kept < needed).sum()) + 1

    return tuple(min(smallest_rank(s), len(s)) for s in spectra)


RANK_RULES = {"keep_fraction": ranks_by_keep_fraction, "energy": ranks_by_energy}


def choose_ranks(
    weight: torch.Tensor, ranks=None, keep_fraction=None, energy=None
) -> tuple[int, int]:
    """(R1, R2) from exactly one rule: explicit `ranks`, the `keep_fraction` of the channels, or
    an `energy`."""
    given = {"ranks": ranks, "keep_fraction": keep_fraction, "energy": energy}
    chosen = [name for name, value in given.items() if value is not None]
    if len(chosen) != 1:
        raise CourseError(
            "Give exactly one rank rule: ranks=(R1, R2), keep_fraction=k/8 or energy=0.9; got "
            f"{chosen or 'none'}."
        )
    if ranks is not None:
        check_weight(weight)
        return check_ranks(weight, ranks)
    name = chosen[0]
    return RANK_RULES[name](weight, given[name])
