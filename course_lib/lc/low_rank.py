"""Low-rank compression types for the LC algorithm: a fixed rank, or the rank learned against μ."""

from __future__ import annotations

import math
from abc import abstractmethod

import torch

from course_lib import artifacts, checks, costs
from course_lib.errors import CourseError
from course_lib.lc.compressions import Compression, whole


def as_matrix(w: torch.Tensor) -> torch.Tensor:
    """A layer weight as a matrix: linear (out, in) as is, conv (out, in, kh, kw) as (out, rest)."""
    return w.reshape(w.shape[0], -1)


def _split(u: torch.Tensor, s: torch.Tensor, vh: torch.Tensor, r: int):
    root = s[:r].sqrt()
    return u[:, :r] * root, root[:, None] * vh[:r]


def truncated_svd(matrix: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """U (m×r) = u·√s and V (r×n) = √s·vᵀ from the r leading singular triplets of ``matrix``:
    U @ V is its best rank-r approximation."""
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    return _split(u, s, vh, r)


class _LowRankBase(Compression):
    """A layer's weight matrix as U·V from a truncated SVD; subclasses choose the rank."""

    needs_matrix = True

    def __init__(self):
        self.factors: tuple[torch.Tensor, torch.Tensor] | None = None  # U (m×r), V (r×n)
        self.matrix_shape: tuple[int, int] = (0, 0)

    def check(self, shapes):
        if len(shapes) != 1 or len(shapes[0]) < 2:
            raise CourseError(
                f"{type(self).__name__} compresses one linear or conv layer at a time; "
                "give it a single layer (a per-layer selector, not joint)."
            )

    @property
    def rank(self) -> int:
        return 0 if self.factors is None else self.factors[0].shape[1]

    def learned(self):
        return f"rank {self.rank} of {min(self.matrix_shape)}"

    @abstractmethod
    def _choose_rank(self, singular_values: torch.Tensor, mu: float) -> int:
        """The rank to keep, given the singular values (descending) and μ."""

    def project(self, w, mu):
        matrix = as_matrix(w.detach()).double()
        self.matrix_shape = tuple(matrix.shape)
        u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
        r = self._choose_rank(s, mu)
        factors = self.solvers.svd(matrix, r) if self.solvers.svd else _split(u, s, vh, r)
        self.factors = tuple(torch.as_tensor(f).to(w.device, w.dtype) for f in factors)
        return (self.factors[0] @ self.factors[1]).reshape(w.shape)

    def storage_bits(self):
        return costs.low_rank_bits(*self.matrix_shape, self.rank)

    def theta(self, delta):
        return artifacts.Factors(*(f.detach().cpu() for f in self.factors))


class LowRank(_LowRankBase):
    """The best rank-r approximation of a layer's weight matrix (truncated SVD). Exact.

    Storage: factors U (m×r) and V (r×n) in float32, 32·r·(m+n) bits, or dense when smaller.
    """

    def __init__(self, rank: int):
        super().__init__()
        self.target_rank = whole("LowRank: rank", rank, 1)

    def check(self, shapes):
        super().check(shapes)
        m, n = shapes[0][0], math.prod(shapes[0][1:])
        if self.target_rank > min(m, n):
            raise CourseError(f"LowRank: rank {self.target_rank} exceeds min(m, n) = {min(m, n)}.")

    def _choose_rank(self, singular_values, mu):
        return self.target_rank

    def describe(self):
        return f"low-rank r = {self.target_rank}"


class RankSelection(_LowRankBase):
    """Low rank with the rank learned: r minimises α·r·(m+n) + μ/2·Σ_{i>r} s_i². Exact.

    The cost is the layer's parameter count; ``normalize`` divides the distortion by ‖W‖², so
    that one α (typically 1e-9 to 1e-7) suits layers of every size. Needs μ > 0.
    """

    uses_mu = True

    def __init__(self, alpha: float, normalize: bool = True):
        super().__init__()
        checks.number("RankSelection: alpha", alpha, 0, open_low=True)
        self.alpha, self.normalize = float(alpha), normalize

    def objective(self, singular_values: torch.Tensor, mu: float) -> torch.Tensor:
        """α·C(r) + μ/2·(tail energy) for r = 0 … min(m, n)."""
        m, n = self.matrix_shape
        energy = singular_values.double() ** 2
        tails = torch.cat([energy.flip(0).cumsum(0).flip(0), energy.new_zeros(1)])
        scale = float(energy.sum()) if self.normalize and float(energy.sum()) > 0 else 1.0
        ranks = torch.arange(len(tails), dtype=energy.dtype, device=energy.device)
        return self.alpha * ranks * (m + n) + mu / 2 * tails / scale

    def _choose_rank(self, singular_values, mu):
        if not mu > 0:
            raise CourseError(
                "RankSelection needs μ > 0 in its C step (the cost is traded against μ)."
            )
        return int(torch.argmin(self.objective(singular_values, mu)))

    def describe(self):
        return f"rank selection α = {self.alpha:g}"
