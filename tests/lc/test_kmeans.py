"""The 1-D k-means of the quantization C step: exact against brute force, Lloyd at a fixed
point."""

import itertools
import math

import numpy as np
import pytest
import torch

from course_lib import lc
from course_lib.lc.kmeans import lloyd_1d, optimal_kmeans_1d


def sq(x):
    return float((x.double() ** 2).sum())


def brute_force_kmeans(x: np.ndarray, k: int) -> float:
    best = math.inf
    for labels in itertools.product(range(k), repeat=len(x)):
        labels = np.array(labels)
        sse = sum(((x[labels == j] - x[labels == j].mean()) ** 2).sum() for j in set(labels))
        best = min(best, sse)
    return best


@pytest.mark.parametrize("k", [2, 3, 4])
def test_exact_kmeans_is_optimal_as_brute_force(k):
    x = np.sort(np.random.default_rng(k).normal(size=7))
    centers, sse = optimal_kmeans_1d(x, k)
    assert sse == pytest.approx(brute_force_kmeans(x, k), rel=1e-9, abs=1e-12)
    assert len(centers) == k and np.all(np.diff(centers) > 0)
    # the quantized weights realise that error
    out = lc.Quantize(k, exact=True).project(torch.tensor(x), 0.0)
    assert sq(out - torch.tensor(x)) == pytest.approx(sse, rel=1e-9)


def test_lloyd_stops_at_a_fixed_point_even_from_a_bad_start():
    rng = np.random.default_rng(1)
    x = np.sort(np.concatenate([rng.normal(c, 0.05, 300) for c in (-1.0, 0.2, 1.5)]))
    centers, sse = lloyd_1d(x, np.array([-1.5, -1.4, -1.3]))
    labels = np.abs(x[:, None] - centers[None]).argmin(1)
    assert len(set(labels)) == 3  # no empty cluster left behind
    assert np.allclose(centers, [x[labels == j].mean() for j in range(3)])
    assert sse == pytest.approx(sum((x - centers[labels]) ** 2))


def test_quantize_finds_the_optimum_on_separated_clusters():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(c, 0.05, n) for c, n in ((-1.0, 100), (0.2, 600), (1.5, 50))])
    out = lc.Quantize(k=3).project(torch.tensor(x), 0.0)
    assert sq(out - torch.tensor(x)) == pytest.approx(optimal_kmeans_1d(np.sort(x), 3)[1], rel=1e-9)
