"""1-D k-means for the quantization C step: Lloyd's iterations and an exact dynamic programme."""

from __future__ import annotations

import numpy as np
import torch

EXACT_KMEANS_LIMIT = 5000


def segment_stats(prefix: np.ndarray, prefix_sq: np.ndarray, starts, ends):
    """Counts, sums and squared errors about the mean of sorted-value segments [start, end)."""
    counts = ends - starts
    sums = prefix[ends] - prefix[starts]
    safe = np.maximum(counts, 1)
    sse = prefix_sq[ends] - prefix_sq[starts] - sums**2 / safe
    return counts, sums, np.maximum(sse, 0.0)


def _prefix_sums(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([[0.0], np.cumsum(xs)]), np.concatenate([[0.0], np.cumsum(xs * xs)])


def _segments(xs: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each center's cluster starts and ends in the sorted values."""
    cuts = np.searchsorted(xs, (centers[1:] + centers[:-1]) / 2)
    return np.concatenate([[0], cuts]), np.concatenate([cuts, [len(xs)]])


def lloyd_1d(sorted_values: np.ndarray, centers: np.ndarray, max_iter: int = 300):
    """Lloyd's k-means on sorted 1-D data, O(k log n) per iteration through prefix sums.

    Returns (centers ascending, squared error). An empty cluster is moved to the value farthest
    from its center, so all k centers stay in use while the data has k distinct values.
    """
    xs = sorted_values
    prefix, prefix_sq = _prefix_sums(xs)
    centers = np.sort(centers.astype(np.float64))
    for _ in range(max_iter):
        counts, sums, _ = segment_stats(prefix, prefix_sq, *_segments(xs, centers))
        updated = np.where(counts > 0, sums / np.maximum(counts, 1), centers)
        if (counts == 0).any():
            nearest = np.abs(xs[:, None] - updated[None, :]).min(axis=1)
            for empty, far in zip(np.flatnonzero(counts == 0), np.argsort(-nearest), strict=False):
                updated[empty] = xs[far]
        updated = np.sort(updated)
        if np.array_equal(updated, centers):
            break
        centers = updated
    return centers, float(segment_stats(prefix, prefix_sq, *_segments(xs, centers))[2].sum())


def optimal_kmeans_1d(sorted_values: np.ndarray, k: int):
    """Globally optimal 1-D k-means by dynamic programming over contiguous segments, O(k·n²).

    Returns (centers ascending, squared error). For small inputs (n ≤ EXACT_KMEANS_LIMIT).
    """
    xs = sorted_values.astype(np.float64)
    n = len(xs)
    prefix, prefix_sq = _prefix_sums(xs)
    ends = np.arange(n + 1)
    cost = segment_stats(prefix, prefix_sq, np.zeros_like(ends), ends)[2]  # one cluster on [0, j)
    cost[0] = 0.0
    choices = []
    for level in range(2, k + 1):
        best = np.full(n + 1, np.inf)
        arg = np.zeros(n + 1, dtype=np.int64)
        for j in range(level, n + 1):
            starts = np.arange(level - 1, j)  # the last cluster is [start, j)
            total = (
                cost[starts] + segment_stats(prefix, prefix_sq, starts, np.full_like(starts, j))[2]
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
    counts, sums, sse = segment_stats(prefix, prefix_sq, bounds[:-1], bounds[1:])
    return sums / counts, float(sse.sum())


def quantile_seeds(sorted_values: np.ndarray, k: int) -> np.ndarray:
    """k starting centers: the values at the quantiles (i + 0.5) / k, i = 0 … k − 1."""
    return sorted_values[((np.arange(k) + 0.5) / k * len(sorted_values)).astype(np.int64)]


def kmeans_codebook(
    sorted_values: np.ndarray, k: int, init: np.ndarray | None = None
) -> np.ndarray:
    """The quantization C step's codebook: Lloyd's iterations from the quantile seeds and, when
    ``init`` (the previous codebook) is given, from it too (the warm start); the centers of the
    run with the smaller squared error, ascending. Values with at most k distinct numbers give
    those numbers."""
    distinct = np.unique(sorted_values)
    if len(distinct) <= k:
        return distinct
    seeds = [quantile_seeds(sorted_values, k)] + ([] if init is None else [np.asarray(init)])
    runs = [lloyd_1d(sorted_values, seed) for seed in seeds]
    return min(runs, key=lambda run: run[1])[0]


def nearest_in_codebook(w: torch.Tensor, codebook: np.ndarray) -> torch.Tensor:
    """Each entry of ``w`` replaced by its nearest codebook value."""
    values = torch.as_tensor(np.sort(codebook), dtype=w.dtype, device=w.device)
    bounds = (values[1:] + values[:-1]) / 2
    return values[torch.bucketize(w.detach(), bounds)]
