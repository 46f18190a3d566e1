"""Part 2's exercises: the three C steps of LC (keep the κ largest weights, 1-D k-means with a
warm start, the truncated SVD) and the storage bits of a quantized layer."""

from __future__ import annotations

import math

import numpy as np
import torch

from course_lib import costs, lc
from course_lib.assign.exercises import Case, Exercise, Test, register, seeded
from course_lib.lc.kmeans import lloyd_1d, optimal_kmeans_1d, quantile_seeds

NOTEBOOK = "02_lc_compression"


# ------------------------------------------------------------------------ keep the κ largest


def keep_case(weights, kappa: int) -> Test:
    w = torch.as_tensor(weights, dtype=torch.float32)

    def test(function):
        got = torch.as_tensor(function(w.clone(), kappa))
        if got.shape != w.shape:
            return f"a mask of shape {tuple(got.shape)} for weights of shape {tuple(w.shape)}"
        if got.dtype != torch.bool:
            return f"a {got.dtype} tensor: return a boolean mask (True = kept)"
        kept = int(got.sum())
        if kept != kappa:
            off = ": an off-by-one" if abs(kept - kappa) == 1 else ""
            ties = " (weights tie at the κ-th magnitude: keep exactly κ)" if _ties(w, kappa) else ""
            return f"kept {kept} weights, κ = {kappa}{off}{ties}"
        if kept < len(w) and w.abs()[~got].max() > w.abs()[got].min():
            if torch.equal(got, lc.largest_mask(-w, kappa)) or torch.equal(
                got, lc.largest_mask(w - w.min(), kappa)
            ):
                return "kept the largest values w, not the largest magnitudes |w|"
            return (
                f"dropped a weight of magnitude {float(w.abs()[~got].max()):.3g} but kept one "
                f"of {float(w.abs()[got].min()):.3g}: keep the κ largest |w|"
            )
        return None

    return test


def _ties(w: torch.Tensor, kappa: int) -> bool:
    ranked = w.abs().sort(descending=True).values
    return kappa < len(w) and bool(ranked[kappa - 1] == ranked[kappa])


register(
    Exercise(
        "keep_largest",
        NOTEBOOK,
        lc.largest_mask,
        visible=(
            Case("20 random weights, κ = 5", keep_case(seeded(0, 20), 5)),
            Case("κ = 1", keep_case(seeded(1, 12), 1)),
            Case("large negative weights", keep_case([-5.0, 1.0, 2.0, -0.1, 0.5], 2)),
        ),
    )
)


# --------------------------------------------------------------------------- 1-D k-means


def squared_error(values: np.ndarray, codebook: np.ndarray) -> float:
    """Σ over the values of the squared distance to the nearest codebook value."""
    centers = np.sort(np.asarray(codebook, dtype=np.float64))
    return float(((values[:, None] - centers[None, :]) ** 2).min(axis=1).sum())


def kmeans_case(values: np.ndarray, k: int, init=None) -> Test:
    values = np.sort(np.asarray(values, dtype=np.float64))

    def test(function):
        given = None if init is None else np.array(init, dtype=np.float64)
        got = np.asarray(function(values.copy(), k, given), dtype=np.float64).reshape(-1)
        want = lc.kmeans_codebook(values, k, given)
        if len(got) != len(want):
            fewer = " (the values hold fewer distinct numbers than k)" if len(want) < k else ""
            return f"{len(got)} centers, expected {len(want)}{fewer}"
        if not np.all(np.diff(got) >= 0):
            return "the centers are not in ascending order"
        error, best = squared_error(values, got), squared_error(values, want)
        if error <= best * (1 + 1e-9) + 1e-12:
            return None
        cold = lloyd_1d(values, quantile_seeds(values, k))[1]
        if given is not None and math.isclose(error, cold, rel_tol=1e-9):
            return (
                f"squared error {error:.4g}, the warm start reaches {best:.4g}: start Lloyd's "
                "iterations from init too (the previous codebook) and keep the better run"
            )
        return f"squared error {error:.4g}, the library's codebook reaches {best:.4g}"

    return test


def normal_values(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def mixture(seed: int) -> np.ndarray:
    """A large cluster and two small ones: the quantile seeds all land in the large one."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0, 1, 60), rng.normal(6, 0.3, 8), rng.normal(9, 0.3, 8)])


register(
    Exercise(
        "kmeans_1d",
        NOTEBOOK,
        lc.kmeans_codebook,
        helpers=(
            lloyd_1d,
            quantile_seeds,
            optimal_kmeans_1d,
        ),
        visible=(
            Case("200 values, k = 4", kmeans_case(normal_values(0, 200), 4)),
            Case("warm start from the previous codebook", kmeans_case(mixture(10), 3, [0, 6, 9])),
            Case("3 distinct values, k = 4", kmeans_case([0.5, -1.0, 0.5, 2.0, -1.0], 4)),
        ),
    )
)


# ------------------------------------------------------------------------- truncated SVD


def svd_case(matrix: torch.Tensor, r: int) -> Test:
    matrix = matrix.double()
    m, n = matrix.shape

    def test(function):
        u, v = (torch.as_tensor(f, dtype=torch.float64) for f in function(matrix.clone(), r))
        if u.shape != (m, r) or v.shape != (r, n):
            return (
                f"U is {tuple(u.shape)} and V {tuple(v.shape)}; expected ({m}, {r}) and ({r}, {n})"
            )
        want_u, want_v = lc.truncated_svd(matrix, r)
        approximation, best = u @ v, want_u @ want_v
        scale = float(matrix.norm())
        if torch.allclose(approximation, best, atol=1e-8 * scale):
            return None
        left, values, right = torch.linalg.svd(matrix, full_matrices=False)
        if torch.allclose(approximation, left[:, :r] @ right[:r], atol=1e-8 * scale):
            return "U @ V lacks the singular values: scale the vectors by √s (or by s on one side)"
        smallest = left[:, -r:] * values[-r:] @ right[-r:]
        if torch.allclose(approximation, smallest, atol=1e-8 * scale):
            return "kept the smallest singular values: keep the r leading (largest) ones"
        gap = float((approximation - best).norm() / scale)
        return f"U @ V is not the best rank-{r} approximation (relative difference {gap:.3g})"

    return test


def seeded_matrix(seed: int, m: int, n: int, rank: int | None = None) -> torch.Tensor:
    return seeded(seed, m, n) if rank is None else seeded(seed, m, rank) @ seeded(seed, rank, n)


register(
    Exercise(
        "truncated_svd",
        NOTEBOOK,
        lc.truncated_svd,
        visible=(
            Case("a 6×5 matrix at rank 2", svd_case(seeded_matrix(0, 6, 5), 2)),
            Case("full rank reproduces the matrix", svd_case(seeded_matrix(1, 4, 7), 4)),
            Case("a rank above the matrix's rank", svd_case(seeded_matrix(2, 6, 5, rank=2), 3)),
        ),
    )
)


# ------------------------------------------------------------------------- storage bits


def bits_case(num_weights: int, k: int) -> Test:
    def test(function):
        got = function(num_weights, k)
        want = costs.codebook_bits(num_weights, k)
        if got == want:
            return None if isinstance(got, int | np.integer) else "return a whole number of bits"
        index = math.ceil(math.log2(k)) if k > 1 else 0
        if math.isclose(got, math.log2(k) * num_weights + 32 * k):
            return f"{got:g} bits: an index takes ⌈log2 k⌉ = {index} whole bits, not log2 k"
        if got == index * num_weights:
            return f"{got} bits: the codebook's {k} float32 values (32·k bits) are missing"
        return f"{got} bits, expected {want} (⌈log2 k⌉ per weight plus 32 per codebook value)"

    return test


LENET300_WEIGHTS = (784 * 300, 300 * 100, 100 * 10)
LENET300_BIASES = 300 + 100 + 10


def _lenet300_ratio(function) -> str | None:
    """LeNet-300-100 with a codebook of 2 values per layer: 30.5 times smaller."""
    dense = costs.dense_bits(sum(LENET300_WEIGHTS) + LENET300_BIASES)
    compressed = sum(function(n, 2) for n in LENET300_WEIGHTS) + costs.dense_bits(LENET300_BIASES)
    ratio = dense / compressed
    return None if round(ratio, 1) == 30.5 else f"LeNet-300 at k = 2 is {ratio:.1f}x, not 30.5x"


register(
    Exercise(
        "codebook_bits",
        NOTEBOOK,
        costs.codebook_bits,
        visible=(
            Case("1000 weights, k = 2", bits_case(1000, 2)),
            Case("k = 3 (not a power of 2)", bits_case(1000, 3)),
            Case("LeNet-300 at k = 2: 30.5x", _lenet300_ratio),
        ),
    )
)
