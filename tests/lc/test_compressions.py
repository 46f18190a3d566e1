"""C steps of every LC compression type against brute force on small inputs, their storage,
and the refusal of bad arguments."""

import itertools
import math

import numpy as np
import pytest
import torch

from course_lib import CourseError, lc


def sq(x):
    return float((x.double() ** 2).sum())


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_prune_keeps_the_kappa_largest_as_brute_force(gen):
    w = torch.randn(10, generator=gen)
    kept = lc.Prune(kappa=4).project(w, 0.0)
    best = min(
        itertools.combinations(range(10), 4),
        key=lambda keep: sq(w - w * torch.isin(torch.arange(10), torch.tensor(keep))),
    )
    assert sorted(torch.nonzero(kept).reshape(-1).tolist()) == sorted(best)
    assert torch.equal(kept[list(best)], w[list(best)])


def test_prune_keep_fraction_keeps_exactly_that_many_over_a_matrix(gen):
    w = torch.randn(30, 40, generator=gen)
    prune = lc.Prune(keep_fraction=0.05)
    out = prune.project(w, 0.0)
    assert int((out != 0).sum()) == 60 == int(prune.mask.sum())
    threshold = out.abs()[out != 0].min()
    assert (w.abs()[out == 0] <= threshold).all()


def test_quantize_uses_k_values_and_is_warm_started(gen):
    w = torch.randn(2000, generator=gen)
    quant = lc.Quantize(k=4)
    out = quant.project(w, 0.0)
    assert len(torch.unique(out)) == 4
    first = quant.codebook.copy()
    out2 = quant.project(w + 1e-4 * torch.randn(2000, generator=gen), 0.0)
    assert np.allclose(quant.codebook, first, atol=1e-3)
    assert len(torch.unique(out2)) == 4


def test_quantize_with_fewer_distinct_values_than_k_is_lossless():
    w = torch.tensor([0.5, -0.5, 0.5, 0.25])
    assert torch.equal(lc.Quantize(k=4).project(w, 0.0), w)


def test_binarize_is_optimal_as_brute_force(gen):
    w = torch.randn(7, generator=gen).double()
    out = lc.Binarize().project(w, 0.0)
    best = math.inf
    for signs in itertools.product((-1.0, 1.0), repeat=7):
        s = torch.tensor(signs, dtype=torch.double)
        a = float((s * w).sum() / 7)  # the best scale for these signs
        best = min(best, sq(w - a * s))
    assert sq(w - out) == pytest.approx(best)
    assert set(lc.Binarize(scaled=False).project(w, 0.0).tolist()) <= {-1.0, 1.0}


def test_ternarize_is_optimal_as_brute_force(gen):
    w = torch.randn(7, generator=gen).double()
    out = lc.Ternarize().project(w, 0.0)
    best = math.inf
    for pattern in itertools.product((-1.0, 0.0, 1.0), repeat=7):
        s = torch.tensor(pattern, dtype=torch.double)
        a = float((s * w).sum() / max(float((s * s).sum()), 1.0))
        best = min(best, sq(w - a * s))
    assert sq(w - out) == pytest.approx(best)
    assert len(set(out.abs().tolist()) - {0.0}) == 1


def test_low_rank_is_the_truncated_svd(gen):
    w = torch.randn(12, 9, generator=gen).double()
    out = lc.LowRank(rank=3).project(w, 0.0)
    s = torch.linalg.svdvals(w)
    assert torch.linalg.matrix_rank(out) == 3
    assert sq(w - out) == pytest.approx(float((s[3:] ** 2).sum()))
    residual = w - out  # Eckart-Young: the residual is orthogonal to the kept subspaces
    assert torch.allclose(out.T @ residual, torch.zeros(9, 9, dtype=torch.double), atol=1e-10)
    assert torch.allclose(residual @ out.T, torch.zeros(12, 12, dtype=torch.double), atol=1e-10)


def test_low_rank_of_a_conv_weight_uses_the_out_by_rest_matrix(gen):
    w = torch.randn(6, 4, 3, 3, generator=gen).double()
    out = lc.LowRank(rank=2).project(w, 0.0)
    assert out.shape == w.shape
    assert torch.linalg.matrix_rank(out.reshape(6, -1)) == 2
    exact = torch.randn(6, 2, generator=gen).double() @ torch.randn(2, 36, generator=gen).double()
    assert torch.allclose(
        lc.LowRank(rank=2).project(exact.reshape(6, 4, 3, 3), 0.0).reshape(6, -1), exact
    )


@pytest.mark.parametrize("mu", [1e-4, 1e-2, 1.0])
def test_rank_selection_minimises_its_objective_over_every_rank(gen, mu):
    w = torch.randn(10, 8, generator=gen).double() * torch.logspace(0, -2, 8).double()
    selection = lc.RankSelection(alpha=1e-4, normalize=True)
    out = selection.project(w, mu)
    norm = sq(w)

    def objective(r):
        approx = lc.LowRank(rank=r).project(w, 0.0) if r else torch.zeros_like(w)
        return 1e-4 * r * (10 + 8) + mu / 2 * sq(w - approx) / norm

    values = [objective(r) for r in range(0, 9)]
    assert selection.rank == int(np.argmin(values))
    assert sq(w - out) / norm * mu / 2 + 1e-4 * selection.rank * 18 == pytest.approx(min(values))


def test_rank_selection_needs_mu():
    with pytest.raises(CourseError, match="μ > 0"):
        lc.RankSelection(alpha=1e-6).project(torch.randn(4, 4), 0.0)


def test_additive_prune_plus_quantize_never_worse_than_its_parts(gen):
    w = torch.randn(500, generator=gen)
    w[:5] *= 20  # a few outliers: the sparse part should take them
    both = lc.Additive(lc.Prune(kappa=5), lc.Quantize(k=2))
    out = both.project(w, 0.0)
    alone = lc.Quantize(k=2).project(w, 0.0)
    assert sq(w - out) < 0.5 * sq(w - alone)
    assert torch.allclose(out, both.terms[0] + both.terms[1])
    assert both.storage_bits() == both.parts[0].storage_bits() + both.parts[1].storage_bits()


def test_storage_bits_of_each_type():
    w = torch.randn(60, 50)
    quant = lc.Quantize(k=5)
    quant.project(w, 0.0)
    assert quant.storage_bits() == 3 * 3000 + 32 * 5
    binary = lc.Binarize()
    binary.project(w, 0.0)
    assert binary.storage_bits() == 3000 + 32
    ternary = lc.Ternarize()
    ternary.project(w, 0.0)
    assert ternary.storage_bits() == 2 * 3000 + 32
    low = lc.LowRank(rank=10)
    low.project(w, 0.0)
    assert low.storage_bits() == 32 * 10 * 110
    prune = lc.Prune(kappa=3)
    prune.project(torch.tensor([5.0, 0, 0, 4.0] + [0.0] * 15 + [3.0]), 0.0)
    assert prune.storage_bits() == 3 * (32 + 4)  # gaps 0, 2, 15 fit 4-bit indices


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: lc.Prune(), "exactly one of"),
        (lambda: lc.Prune(kappa=0), "kappa must be an integer >= 1"),
        (lambda: lc.Prune(keep_fraction=1.5), r"\(0, 1\]"),
        (lambda: lc.Quantize(k=1), ">= 2"),
        (lambda: lc.LowRank(rank=0), "rank must be an integer >= 1"),
        (lambda: lc.RankSelection(alpha=-1), "alpha must be a number > 0"),
        (lambda: lc.Additive(lc.Prune(kappa=1)), "two or more"),
    ],
)
def test_bad_compression_arguments(make, message):
    with pytest.raises(CourseError, match=message):
        make()
