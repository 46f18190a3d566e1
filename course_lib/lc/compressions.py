"""Compression types for the LC algorithm: each one is a C step and the storage of its parameters.

A compression Δ(θ) maps parameters θ (a codebook and indices, a mask and values, two factors) to
weights. Its C step is the projection Π(w) = Δ(argmin_θ ‖w − Δ(θ)‖²), exact unless said otherwise,
and ``storage_bits`` counts the bits of the θ found by the last C step (``course_lib.ledger``
holds the formulas). Compressions that weigh a cost against the distortion (rank selection) need
μ in their C step and say so with ``uses_mu``.

``task_map`` ties compressions to the layers of a model in the words of an assignment::

    task_map(model, {"conv1": Prune(kappa=104), "conv2": Prune(kappa=2505), "linear": Quantize(2)})
    task_map(model, {joint("all"): Prune(fraction=0.05)})
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from course_lib import costs
from course_lib.errors import CourseError


class Compression(ABC):
    """One compression type: ``project`` is its C step, ``storage_bits`` the size of its θ."""

    needs_matrix = False  # the C step works on a layer's weight as a matrix, not a vector
    uses_mu = False  # the C step depends on μ (a cost traded against distortion)
    shapes: list[torch.Size] | None = None  # the weights of the task's layers, once prepared

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
    def describe(self) -> str:
        """The compression in words, as an assignment would say it."""

    @abstractmethod
    def learned(self) -> str:
        """What the last C step found (the rank, the codebook, ...), in words."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"


# ---------------------------------------------------------------------------------------------
# Pruning
# ---------------------------------------------------------------------------------------------


class Prune(Compression):
    """Keep the κ weights of largest magnitude (an ℓ0 constraint), the rest zero. Exact.

    Give ``kappa`` (a number of weights) or ``fraction`` (of the weights the task covers).
    Storage: per layer, 32 bits per kept value plus a relative index coding of the gaps
    (``costs.pruned_bits``).
    """

    def __init__(self, kappa: int | None = None, fraction: float | None = None):
        if (kappa is None) == (fraction is None):
            raise CourseError("Prune needs exactly one of kappa (weights kept) or fraction.")
        if kappa is not None and not (isinstance(kappa, int | np.integer) and kappa >= 1):
            raise CourseError(f"Prune: kappa must be a positive integer, got {kappa!r}.")
        if fraction is not None and not 0 < fraction <= 1:
            raise CourseError(f"Prune: fraction must be in (0, 1], got {fraction!r}.")
        self.kappa, self.fraction = kappa, fraction
        self.mask: torch.Tensor | None = None

    def kept(self, num_weights: int) -> int:
        """κ for a task of ``num_weights`` weights."""
        if self.kappa is not None:
            return int(self.kappa)
        return max(1, round(self.fraction * num_weights))

    def check(self, shapes):
        total = sum(s.numel() for s in shapes)
        if self.kept(total) > total:
            raise CourseError(
                f"Prune: cannot keep {self.kappa} weights of layers holding only {total}; "
                "lower kappa or prune several layers jointly."
            )

    def project(self, w, mu):
        flat = w.reshape(-1)
        keep = torch.topk(flat.abs(), self.kept(flat.numel()), sorted=False).indices
        mask = torch.zeros_like(flat, dtype=torch.bool)
        mask[keep] = True
        self.mask = mask.view_as(w)
        return w * self.mask

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
        return f"prune to {100 * self.fraction:g} % of the weights"


# ---------------------------------------------------------------------------------------------
# Quantization
# ---------------------------------------------------------------------------------------------


def _segment_stats(prefix: np.ndarray, prefix_sq: np.ndarray, starts, ends):
    """Counts, sums and squared errors about the mean of sorted-value segments [start, end)."""
    counts = ends - starts
    sums = prefix[ends] - prefix[starts]
    safe = np.maximum(counts, 1)
    sse = prefix_sq[ends] - prefix_sq[starts] - sums**2 / safe
    return counts, sums, np.maximum(sse, 0.0)


def lloyd_1d(sorted_values: np.ndarray, centers: np.ndarray, max_iter: int = 300):
    """Lloyd's k-means on sorted 1-D data, O(k log n) per iteration through prefix sums.

    Returns (centers ascending, squared error). An empty cluster is moved to the value farthest
    from its center, so all k centers stay in use while the data has k distinct values.
    """
    xs = sorted_values
    prefix = np.concatenate([[0.0], np.cumsum(xs)])
    prefix_sq = np.concatenate([[0.0], np.cumsum(xs * xs)])
    centers = np.sort(centers.astype(np.float64))
    for _ in range(max_iter):
        cuts = np.searchsorted(xs, (centers[1:] + centers[:-1]) / 2)
        starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(xs)]])
        counts, sums, _ = _segment_stats(prefix, prefix_sq, starts, ends)
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centers)
        if (counts == 0).any():
            nearest = np.abs(xs[:, None] - updated[None, :]).min(axis=1)
            for empty, far in zip(np.flatnonzero(counts == 0), np.argsort(-nearest), strict=False):
                updated[empty] = xs[far]
        updated = np.sort(updated)
        if np.array_equal(updated, centers):
            break
        centers = updated
    cuts = np.searchsorted(xs, (centers[1:] + centers[:-1]) / 2)
    starts, ends = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(xs)]])
    return centers, float(_segment_stats(prefix, prefix_sq, starts, ends)[2].sum())


EXACT_KMEANS_LIMIT = 5000


def optimal_kmeans_1d(sorted_values: np.ndarray, k: int):
    """Globally optimal 1-D k-means by dynamic programming over contiguous segments, O(k·n²).

    Returns (centers ascending, squared error). For small inputs (n ≤ EXACT_KMEANS_LIMIT).
    """
    xs = sorted_values.astype(np.float64)
    n = len(xs)
    prefix = np.concatenate([[0.0], np.cumsum(xs)])
    prefix_sq = np.concatenate([[0.0], np.cumsum(xs * xs)])
    ends = np.arange(n + 1)
    cost = _segment_stats(prefix, prefix_sq, np.zeros_like(ends), ends)[2]  # one cluster on [0, j)
    cost[0] = 0.0
    choices = []
    for level in range(2, k + 1):
        best = np.full(n + 1, np.inf)
        arg = np.zeros(n + 1, dtype=np.int64)
        for j in range(level, n + 1):
            starts = np.arange(level - 1, j)  # the last cluster is [start, j)
            total = (
                cost[starts] + _segment_stats(prefix, prefix_sq, starts, np.full_like(starts, j))[2]
            )
            pick = int(np.argmin(total))
            best[j], arg[j] = total[pick], starts[pick]
        cost = best
        choices.append(arg)
    starts_of_last = [0]  # walk back from the end: where each cluster starts
    end = n
    for arg in reversed(choices):
        end = int(arg[end])
        starts_of_last.append(end)
    bounds = np.array(sorted(starts_of_last) + [n])
    counts, sums, sse = _segment_stats(prefix, prefix_sq, bounds[:-1], bounds[1:])
    return sums / counts, float(sse.sum())


class Quantize(Compression):
    """Adaptive quantization: every weight takes one of k learned values (1-D k-means).

    The C step runs Lloyd's algorithm from the previous codebook (warm start) and from quantile
    seeds, and keeps the better; it reaches a local optimum. ``exact=True`` solves k-means
    globally by dynamic programming (tasks of up to EXACT_KMEANS_LIMIT weights).
    Storage: ⌈log2 k⌉ bits per weight plus the k codebook entries in float32.
    """

    def __init__(self, k: int, exact: bool = False):
        if not (isinstance(k, int | np.integer) and k >= 2):
            raise CourseError(f"Quantize: codebook size k must be an integer >= 2, got {k!r}.")
        self.k, self.exact = int(k), exact
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
        distinct = np.unique(xs)
        if len(distinct) <= self.k:
            return distinct
        if self.exact:
            return optimal_kmeans_1d(xs, self.k)[0]
        seeds = [xs[((np.arange(self.k) + 0.5) / self.k * len(xs)).astype(np.int64)]]
        if self.codebook is not None and len(self.codebook) == self.k:
            seeds.append(self.codebook)
        runs = [lloyd_1d(xs, seed) for seed in seeds]
        return min(runs, key=lambda run: run[1])[0]

    def project(self, w, mu):
        xs = np.sort(w.detach().reshape(-1).double().cpu().numpy())
        self.codebook = self._codebook(xs)
        self.num_weights = w.numel()
        return nearest_in_codebook(w, self.codebook)

    def storage_bits(self):
        return costs.codebook_bits(self.num_weights, self.k)

    def describe(self):
        return f"quantize with k = {self.k}" + (" (exact k-means)" if self.exact else "")

    def learned(self):
        return "codebook " + ", ".join(f"{c:.3g}" for c in self.codebook)


def nearest_in_codebook(w: torch.Tensor, codebook: np.ndarray) -> torch.Tensor:
    """Each entry of ``w`` replaced by its nearest codebook value."""
    values = torch.as_tensor(np.sort(codebook), dtype=w.dtype, device=w.device)
    bounds = (values[1:] + values[:-1]) / 2
    return values[torch.bucketize(w.detach(), bounds)]


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

    def describe(self):
        return "ternarize to {−a, 0, +a}"

    def learned(self):
        return f"a = {self.scale:.3g}"


# ---------------------------------------------------------------------------------------------
# Low rank
# ---------------------------------------------------------------------------------------------


def as_matrix(w: torch.Tensor) -> torch.Tensor:
    """A layer weight as a matrix: linear (out, in) as is, conv (out, in, kh, kw) as (out, rest)."""
    return w.reshape(w.shape[0], -1)


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
        root = s[:r].sqrt()
        self.factors = ((u[:, :r] * root).to(w.dtype), (root[:, None] * vh[:r]).to(w.dtype))
        return (self.factors[0] @ self.factors[1]).reshape(w.shape)

    def storage_bits(self):
        return costs.low_rank_bits(*self.matrix_shape, self.rank)


class LowRank(_LowRankBase):
    """The best rank-r approximation of a layer's weight matrix (truncated SVD). Exact.

    Storage: factors U (m×r) and V (r×n) in float32, 32·r·(m+n) bits, or dense when smaller.
    """

    def __init__(self, rank: int):
        super().__init__()
        if not (isinstance(rank, int | np.integer) and rank >= 1):
            raise CourseError(f"LowRank: rank must be a positive integer, got {rank!r}.")
        self.target_rank = int(rank)

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
        if not (alpha > 0 and math.isfinite(alpha)):
            raise CourseError(f"RankSelection: alpha must be a positive number, got {alpha!r}.")
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


# ---------------------------------------------------------------------------------------------
# Additive combinations
# ---------------------------------------------------------------------------------------------


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

    def describe(self):
        return " + ".join(part.describe() for part in self.parts)

    def learned(self):
        return "; ".join(part.learned() for part in self.parts)


# ---------------------------------------------------------------------------------------------
# Task map: which layers get which compression
# ---------------------------------------------------------------------------------------------

LAYER_KINDS: dict[str, tuple[type[nn.Module], ...]] = {
    "conv": (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    "linear": (nn.Linear,),
}


@dataclass(frozen=True)
class Joint:
    """A selector whose layers are compressed together as one vector (one κ, one codebook)."""

    selector: str | tuple[str, ...]


def joint(selector: str | Sequence[str]) -> Joint:
    """Compress the selected layers jointly: ``{joint("all"): Prune(fraction=0.05)}``."""
    return Joint(selector if isinstance(selector, str) else tuple(selector))


@dataclass
class Task:
    """One compression over one or more layers (their weights, not their biases)."""

    layers: tuple[str, ...]
    compression: Compression

    def describe(self) -> str:
        where = ", ".join(self.layers) + (" (jointly)" if len(self.layers) > 1 else "")
        return f"{where}: {self.compression.describe()}"


def compressible_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The model's conv and linear layers by qualified name, in order."""
    kinds = tuple(t for types in LAYER_KINDS.values() for t in types)
    return {name: m for name, m in model.named_modules() if isinstance(m, kinds)}


def _resolve(selector: str | tuple[str, ...], layers: dict[str, nn.Module], claimed: set[str]):
    if isinstance(selector, tuple):
        return [name for part in selector for name in _resolve(part, layers, claimed)]
    if selector == "all":
        return list(layers)
    if selector == "rest":
        return [name for name in layers if name not in claimed]
    if selector in LAYER_KINDS:
        return [name for name, m in layers.items() if isinstance(m, LAYER_KINDS[selector])]
    if selector in layers:
        return [selector]
    raise CourseError(
        f"No layer {selector!r} to compress. Name a layer ({', '.join(layers)}), a kind "
        f"({', '.join(LAYER_KINDS)}), 'all', 'rest', or a tuple of these."
    )


def task_map(model: nn.Module, spec: Mapping[str | tuple | Joint, Compression]) -> list[Task]:
    """Compression tasks from ``{selector: compression}``.

    A selector is a layer name ("fc1"), a kind ("conv", "linear"), "all", "rest" (layers no other
    entry names), or a tuple of these; each selected layer gets its own copy of the compression.
    Wrap a selector in ``joint(...)`` to compress its layers together as one task.
    """
    layers = compressible_layers(model)
    if not spec:
        raise CourseError("The task map is empty: map at least one layer to a compression.")
    ordered = sorted(spec.items(), key=lambda item: _is_rest(item[0]))
    claimed: set[str] = set()
    tasks = []
    for selector, compression in ordered:
        if not isinstance(compression, Compression):
            raise CourseError(f"{selector!r} maps to {compression!r}, which is not a compression.")
        is_joint = isinstance(selector, Joint)
        names = _resolve(selector.selector if is_joint else selector, layers, claimed)
        if not names:
            raise CourseError(f"Selector {selector!r} names no layer of this model.")
        twice = claimed.intersection(names)
        if twice:
            raise CourseError(f"Layers {sorted(twice)} are named by two entries of the task map.")
        claimed.update(names)
        groups = [tuple(names)] if is_joint else [(name,) for name in names]
        for group in groups:
            task = Task(group, copy.deepcopy(compression))
            task.compression.prepare([layers[name].weight.shape for name in group])
            tasks.append(task)
    return tasks


def _is_rest(selector) -> bool:
    return (selector.selector if isinstance(selector, Joint) else selector) == "rest"


def describe_tasks(tasks: Sequence[Task]) -> str:
    """The task map in words, one line per task."""
    return "\n".join(task.describe() for task in tasks)
