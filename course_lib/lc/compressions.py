"""Compression types for the LC algorithm: each one is a C step and the storage of its parameters.

A compression Δ(θ) maps parameters θ (a codebook and indices, a mask and values, two factors) to
weights. Its C step is the projection Π(w) = Δ(argmin_θ ‖w − Δ(θ)‖²), exact unless said otherwise,
and ``storage_bits`` counts the bits of the θ found by the last C step (``course_lib.costs``
holds the formulas); ``theta`` hands that θ to the model file in the artifacts' neutral form.
Compressions that weigh a cost against the distortion (rank selection) need
μ in their C step and say so with ``uses_mu``. The low-rank types live in ``lc.low_rank``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from course_lib import artifacts, checks, costs
from course_lib.errors import CourseError
from course_lib.lc.kmeans import (
    EXACT_KMEANS_LIMIT,
    kmeans_codebook,
    nearest_in_codebook,
    optimal_kmeans_1d,
)


def whole(name: str, value, low: int) -> int:
    """``value`` (an int or a numpy integer) as an int >= ``low``."""
    return int(checks.integer(name, int(value) if isinstance(value, np.integer) else value, low))


def largest_mask(w: torch.Tensor, kappa: int) -> torch.Tensor:
    """True at the κ entries of ``w`` (1-D) of largest magnitude, False elsewhere."""
    keep = torch.topk(w.abs(), kappa, sorted=False).indices
    mask = torch.zeros_like(w, dtype=torch.bool)
    mask[keep] = True
    return mask


@dataclass(frozen=True)
class Solvers:
    """Plug-in replacements (a student's own functions) for the core of the C steps and for
    the storage count; None keeps the library's. ``keep(w, κ)``: the pruning mask
    (``largest_mask``); ``kmeans(sorted values, k, init)``: the codebook
    (``lc.kmeans.kmeans_codebook``); ``svd(matrix, r)``: the factors U, V
    (``lc.low_rank.truncated_svd``); ``codebook_bits(weights, k)`` (``costs.codebook_bits``)."""

    keep: Callable | None = None
    kmeans: Callable | None = None
    svd: Callable | None = None
    codebook_bits: Callable | None = None


class Compression(ABC):
    """One compression type: ``project`` is its C step, ``storage_bits`` the size of its θ."""

    needs_matrix = False  # the C step works on a layer's weight as a matrix, not a vector
    uses_mu = False  # the C step depends on μ (a cost traded against distortion)
    shapes: list[torch.Size] | None = None  # the weights of the task's layers, once prepared
    solvers = Solvers()  # the library's own C steps

    def use_solvers(self, solvers: Solvers) -> None:
        """Run the C step (and count storage) with ``solvers`` where they give a function."""
        self.solvers = solvers

    def prepare(self, shapes: Sequence[torch.Size]) -> None:
        """Check that this compression fits weights of these shapes (CourseError if not) and
        remember them: the C step sees them flattened and joined, or as one matrix."""
        self.check(list(shapes))
        self.shapes = list(shapes)

    def check(self, shapes: list[torch.Size]) -> None:
        """Raise CourseError if this compression cannot apply to weights of these shapes."""
        return None  # most compressions apply to weights of any shape

    @abstractmethod
    def project(self, w: torch.Tensor, mu: float) -> torch.Tensor:
        """The C step: the compressed tensor nearest to ``w`` (same shape); keeps θ for storage."""

    @abstractmethod
    def storage_bits(self) -> int:
        """Bits of the θ found by the last ``project``."""

    @abstractmethod
    def theta(self, delta: torch.Tensor):
        """The θ of the last C step as ``artifacts.theta`` describes it (an ``artifacts.Codebook``,
        ``Sparse``, ``Factors`` or ``Sum`` over the task's weights flattened in order); ``delta``
        is what that C step returned."""

    @abstractmethod
    def describe(self) -> str:
        """The compression in words, as an assignment would say it."""

    @abstractmethod
    def learned(self) -> str:
        """What the last C step found (the rank, the codebook, ...), in words."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


class Prune(Compression):
    """Keep the κ weights of largest magnitude (an ℓ0 constraint), the rest zero. Exact.

    Give ``kappa`` (a number of weights) or ``keep_fraction`` (the share of the task's weights
    kept). Storage: per layer, 32 bits per kept value plus a relative index coding of the gaps
    (``costs.pruned_bits``).
    """

    def __init__(self, kappa: int | None = None, keep_fraction: float | None = None):
        if (kappa is None) == (keep_fraction is None):
            raise CourseError("Prune needs exactly one of kappa (weights kept) or keep_fraction.")
        if kappa is not None:
            kappa = whole("Prune: kappa", kappa, 1)
        if keep_fraction is not None:
            checks.number("Prune: keep_fraction", keep_fraction, 0, 1, open_low=True)
        self.kappa, self.keep_fraction = kappa, keep_fraction
        self.mask: torch.Tensor | None = None

    def kept(self, num_weights: int) -> int:
        """κ for a task of ``num_weights`` weights."""
        if self.kappa is not None:
            return int(self.kappa)
        return max(1, round(self.keep_fraction * num_weights))

    def check(self, shapes):
        total = sum(s.numel() for s in shapes)
        if self.kept(total) > total:
            raise CourseError(
                f"Prune: cannot keep {self.kappa} weights of layers holding only {total}; "
                "lower kappa or prune several layers jointly."
            )

    def project(self, w, mu):
        flat = w.reshape(-1)
        mask = (self.solvers.keep or largest_mask)(flat, self.kept(flat.numel()))
        self.mask = torch.as_tensor(mask, dtype=torch.bool, device=w.device).view_as(w)
        return torch.where(self.mask, w, torch.zeros_like(w))  # +0.0 where pruned

    def theta(self, delta):
        mask = self.mask.reshape(-1).cpu()
        return artifacts.Sparse(mask, delta.detach().reshape(-1).cpu()[mask])

    def _sizes(self) -> list[int]:
        return [s.numel() for s in self.shapes] if self.shapes else [self.mask.numel()]

    def storage_bits(self):
        return sum(costs.pruned_bits(part) for part in self.mask.reshape(-1).split(self._sizes()))

    def learned(self):
        per_layer = [int(m.sum()) for m in self.mask.reshape(-1).split(self._sizes())]
        return f"{int(self.mask.sum())} weights kept" + (
            f" ({', '.join(map(str, per_layer))} per layer)" if len(per_layer) > 1 else ""
        )

    def describe(self):
        if self.kappa is not None:
            return f"prune to {self.kappa} weights"
        return f"prune to {100 * self.keep_fraction:g} % of the weights"


class Quantize(Compression):
    """Adaptive quantization: every weight takes one of k learned values (1-D k-means).

    The C step runs Lloyd's algorithm from the previous codebook (warm start) and from quantile
    seeds, and keeps the better; it reaches a local optimum. ``exact=True`` solves k-means
    globally by dynamic programming (tasks of up to EXACT_KMEANS_LIMIT weights).
    Storage: ⌈log2 k⌉ bits per weight plus the k codebook entries in float32.
    """

    def __init__(self, k: int, exact: bool = False):
        self.k, self.exact = whole("Quantize: codebook size k", k, 2), exact
        self.codebook: np.ndarray | None = None
        self.num_weights = 0

    def check(self, shapes):
        total = sum(s.numel() for s in shapes)
        if self.exact and total > EXACT_KMEANS_LIMIT:
            raise CourseError(
                f"Quantize(exact=True) solves k-means in O(k·n²) and allows up to "
                f"{EXACT_KMEANS_LIMIT} weights; these layers hold {total}. Use exact=False."
            )

    def _codebook(self, xs: np.ndarray) -> np.ndarray:
        if self.exact and len(np.unique(xs)) > self.k:
            return optimal_kmeans_1d(xs, self.k)[0]
        warm = self.codebook if self.codebook is not None and len(self.codebook) == self.k else None
        return np.asarray((self.solvers.kmeans or kmeans_codebook)(xs, self.k, warm), np.float64)

    def project(self, w, mu):
        xs = np.sort(w.detach().reshape(-1).double().cpu().numpy())
        self.codebook = self._codebook(xs)
        self.num_weights = w.numel()
        return nearest_in_codebook(w, self.codebook)

    def storage_bits(self):
        return (self.solvers.codebook_bits or costs.codebook_bits)(self.num_weights, self.k)

    def theta(self, delta):
        entries = torch.as_tensor(np.sort(self.codebook), dtype=torch.float32)
        indices = torch.searchsorted(entries, delta.detach().reshape(-1).cpu().float())
        return artifacts.Codebook(entries, indices, self.k)

    def describe(self):
        return f"quantize with k = {self.k}" + (" (exact k-means)" if self.exact else "")

    def learned(self):
        return "codebook " + ", ".join(f"{c:.3g}" for c in self.codebook)


class Binarize(Compression):
    """Weights in {−a, +a} with a = mean |w| learned (``scaled``), or in {−1, +1}. Exact.

    Storage: 1 bit per weight, plus a in float32 when scaled.
    """

    def __init__(self, scaled: bool = True):
        self.scaled = scaled
        self.num_weights = 0
        self.scale = 1.0

    def project(self, w, mu):
        self.num_weights = w.numel()
        self.scale = float(w.abs().mean()) if self.scaled else 1.0
        return torch.where(w >= 0, self.scale, -self.scale).to(w.dtype)

    def storage_bits(self):
        return costs.codebook_bits(self.num_weights, 2, stored_entries=int(self.scaled))

    def theta(self, delta):
        entries = torch.tensor([-self.scale, self.scale], dtype=torch.float32)
        indices = (delta.detach().reshape(-1).cpu() > 0).long()
        return artifacts.Codebook(entries, indices, 2, "scale" if self.scaled else "none")

    def describe(self):
        return "binarize to {−a, +a}" if self.scaled else "binarize to {−1, +1}"

    def learned(self):
        return f"a = {self.scale:.3g}"


class Ternarize(Compression):
    """Weights in {−a, 0, +a} with a learned. Exact.

    For the j largest |w| kept, the best a is their mean and the error falls by (Σ|w|)²/j; the C
    step takes the best j, then rounds every weight to the nearest of −a, 0, +a.
    Storage: 2 bits per weight plus a in float32.
    """

    def __init__(self):
        self.num_weights = 0
        self.scale = 0.0

    def project(self, w, mu):
        self.num_weights = w.numel()
        magnitudes = torch.sort(w.detach().abs().reshape(-1).double(), descending=True).values
        sums = torch.cumsum(magnitudes, 0)
        gains = sums**2 / torch.arange(1, len(sums) + 1, dtype=sums.dtype, device=sums.device)
        best = int(torch.argmax(gains))
        self.scale = float(sums[best] / (best + 1))
        keep = w.abs() > self.scale / 2
        return torch.where(keep, torch.sign(w) * self.scale, torch.zeros_like(w))

    def storage_bits(self):
        return costs.codebook_bits(self.num_weights, 3, stored_entries=1)

    def theta(self, delta):
        entries = torch.tensor([-self.scale, 0.0, self.scale], dtype=torch.float32)
        indices = torch.sign(delta.detach().reshape(-1).cpu()).long() + 1
        return artifacts.Codebook(entries, indices, 3, "scale")

    def describe(self):
        return "ternarize to {−a, 0, +a}"

    def learned(self):
        return f"a = {self.scale:.3g}"


class Additive(Compression):
    """Weights as a sum of compressed parts, e.g. a quantized net plus a sparse correction.

    The C step alternates the parts' own C steps, each on w minus the other parts, ``rounds``
    times (warm-started from the previous C step); the error never increases. Storage: the sum.
    """

    def __init__(self, *parts: Compression, rounds: int = 10):
        if len(parts) < 2 or not all(isinstance(p, Compression) for p in parts):
            raise CourseError(
                "Additive needs two or more compressions, e.g. Additive(Prune(...), Quantize(2))."
            )
        self.parts = list(parts)
        self.rounds = rounds
        self.needs_matrix = any(p.needs_matrix for p in parts)
        self.uses_mu = any(p.uses_mu for p in parts)
        self.terms: list[torch.Tensor] | None = None

    def prepare(self, shapes):
        super().prepare(shapes)
        for part in self.parts:
            part.prepare(shapes)

    def use_solvers(self, solvers):
        super().use_solvers(solvers)
        for part in self.parts:
            part.use_solvers(solvers)

    def project(self, w, mu):
        terms = self.terms or [torch.zeros_like(w) for _ in self.parts]
        for _ in range(self.rounds):
            for i, part in enumerate(self.parts):
                others = sum(t for j, t in enumerate(terms) if j != i)
                terms[i] = part.project(w - others, mu)
        self.terms = terms
        return sum(terms)

    def storage_bits(self):
        return sum(part.storage_bits() for part in self.parts)

    def theta(self, delta):
        return artifacts.Sum(tuple(p.theta(t) for p, t in zip(self.parts, self.terms, strict=True)))

    def describe(self):
        return " + ".join(part.describe() for part in self.parts)

    def learned(self):
        return "; ".join(part.learned() for part in self.parts)
