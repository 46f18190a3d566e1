"""Tucker-2 algebra: factors, monotone errors, HOOI vs HOSVD, TensorLy, the rank rules."""

import pytest
import tensorly as tl
import torch
from tensorly.decomposition import partial_tucker

from course_lib import CourseError, tucker


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def random_weight(f=10, c=7, k=3, seed=0):
    return torch.randn(f, c, k, k, generator=seeded(seed), dtype=torch.float64)


def test_factor_shapes_and_orthonormality():
    w = random_weight(f=10, c=7)
    factors = tucker.hooi(w, (3, 4))
    assert factors.core.shape == (4, 3, 3, 3)
    assert factors.in_factor.shape == (7, 3) and factors.out_factor.shape == (10, 4)
    for u in (factors.in_factor, factors.out_factor):
        torch.testing.assert_close(u.T @ u, torch.eye(u.shape[1], dtype=u.dtype))


@pytest.mark.parametrize("method", ["hosvd", "hooi"])
def test_error_never_rises_as_either_rank_grows(method):
    w = random_weight(f=10, c=8, seed=4)
    errors = {
        (r1, r2): tucker.weight_error(w, tucker.decompose_weight(w, (r1, r2), method))
        for r1 in range(1, 9)
        for r2 in range(1, 11)
    }
    for (r1, r2), error in errors.items():
        if r1 < 8:
            assert errors[r1 + 1, r2] <= error + 1e-12
        if r2 < 10:
            assert errors[r1, r2 + 1] <= error + 1e-12
    assert errors[8, 10] < 1e-12
    assert errors[1, 1] > 0.5


def test_hooi_is_no_worse_than_hosvd_and_better_somewhere():
    w = random_weight(f=12, c=9, seed=5)
    gains = []
    for ranks in [(1, 1), (2, 3), (4, 2), (5, 7), (9, 6)]:
        hosvd_error = tucker.weight_error(w, tucker.hosvd(w, ranks))
        hooi_error = tucker.weight_error(w, tucker.hooi(w, ranks))
        assert hooi_error <= hosvd_error + 1e-12
        gains.append(hosvd_error - hooi_error)
    assert max(gains) > 1e-3


def test_hosvd_error_matches_the_discarded_energy_bound():
    # With one mode at full rank, HOSVD is the truncated SVD of the other unfolding: its
    # squared error is exactly the sum of the discarded squared singular values.
    w = random_weight(f=10, c=6, seed=6)
    in_spectrum, out_spectrum = tucker.unfolding_spectra(w)
    error = tucker.weight_error(w, tucker.hosvd(w, (6, 4)))
    expected = (out_spectrum[4:].square().sum() / out_spectrum.square().sum()).sqrt()
    assert error == pytest.approx(float(expected), rel=1e-10)
    error = tucker.weight_error(w, tucker.hosvd(w, (2, 10)))
    expected = (in_spectrum[2:].square().sum() / in_spectrum.square().sum()).sqrt()
    assert error == pytest.approx(float(expected), rel=1e-10)


def _tensorly(w, ranks, n_iter_max):
    """TensorLy's factors and reconstruction (its mode 0: output channels, mode 1: input)."""
    with tl.backend_context("pytorch"):
        (core, (out_factor, in_factor)), _ = partial_tucker(
            w, rank=[ranks[1], ranks[0]], modes=[0, 1], n_iter_max=n_iter_max, tol=1e-12
        )
        reconstruction = tl.tenalg.multi_mode_dot(core, [out_factor, in_factor], modes=[0, 1])
    return in_factor, out_factor, reconstruction


def _projector(u):
    return u @ u.T


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ranks", [(3, 4), (6, 2), (1, 5)])
def test_hosvd_agrees_with_tensorly(seed, ranks):
    w = random_weight(f=10, c=7, seed=seed)
    ours = tucker.hosvd(w, ranks)
    in_factor, out_factor, theirs = _tensorly(w, ranks, n_iter_max=0)
    # Singular vectors are unique up to sign: compare the subspaces and the reconstruction.
    torch.testing.assert_close(_projector(ours.in_factor), _projector(in_factor))
    torch.testing.assert_close(_projector(ours.out_factor), _projector(out_factor))
    torch.testing.assert_close(ours.reconstruct(), theirs)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ranks", [(3, 4), (6, 2), (2, 2)])
def test_hooi_agrees_with_tensorly(seed, ranks):
    w = random_weight(f=10, c=7, seed=seed)
    # The same number of sweeps from the same HOSVD start: the same subspaces.
    ours = tucker.hooi(w, ranks, max_iter=10, tol=0)
    in_factor, out_factor, theirs = _tensorly(w, ranks, n_iter_max=10)
    torch.testing.assert_close(_projector(ours.in_factor), _projector(in_factor))
    torch.testing.assert_close(_projector(ours.out_factor), _projector(out_factor))
    torch.testing.assert_close(ours.reconstruct(), theirs)
    # Run to convergence, both reach the same error.
    converged = tucker.hooi(w, ranks, max_iter=1000, tol=1e-15)
    _, _, theirs = _tensorly(w, ranks, n_iter_max=1000)
    assert tucker.weight_error(w, converged) == pytest.approx(
        tucker.relative_error(w, theirs), abs=1e-9
    )


def test_keep_fraction_ranks_follow_seed_k_of_8():
    w = random_weight(f=64, c=32)
    ranks = [tucker.ranks_by_keep_fraction(w, k / 8) for k in (1, 3, 8)]
    assert ranks == [(4, 8), (12, 24), (32, 64)]
    assert tucker.ranks_by_keep_fraction(random_weight(f=30, c=3), 0.1) == (1, 3)


def test_energy_ranks_are_the_smallest_that_keep_the_energy():
    w = random_weight(f=10, c=7, seed=7)
    spectra = tucker.unfolding_spectra(w)
    for energy in (0.3, 0.8, 0.99, 1.0):
        ranks = tucker.ranks_by_energy(w, energy)
        for rank, spectrum in zip(ranks, spectra, strict=True):
            share = spectrum.square().cumsum(0) / spectrum.square().sum()
            assert share[rank - 1] >= energy - 1e-12
            assert rank == 1 or share[rank - 2] < energy
    assert tucker.ranks_by_energy(w, 1.0) == (7, 10)


def test_energy_rank_of_a_low_rank_weight_is_its_rank():
    a = torch.randn(10, 2, 3, 3, generator=seeded(8), dtype=torch.float64)
    w = torch.einsum(
        "fsab,is->fiab", a, torch.randn(6, 2, generator=seeded(9), dtype=torch.float64)
    )
    assert tucker.ranks_by_energy(w, 0.999999)[0] == 2


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda w: tucker.choose_ranks(w), "exactly one rank rule"),
        (lambda w: tucker.choose_ranks(w, ranks=(2, 2), energy=0.9), "exactly one rank rule"),
        (lambda w: tucker.choose_ranks(w, ranks=(8, 2)), "R1 <= 7"),
        (lambda w: tucker.choose_ranks(w, ranks=(0, 2)), "1 <= R1"),
        (lambda w: tucker.choose_ranks(w, ranks=3), "pair"),
        (lambda w: tucker.choose_ranks(w, keep_fraction=1.5), "keep_fraction"),
        (lambda w: tucker.choose_ranks(w, energy=0), "energy"),
        (lambda w: tucker.decompose_weight(w, (2, 2), method="cp"), "Unknown Tucker method"),
        (lambda w: tucker.hosvd(w[0], (2, 2)), "shape"),
        (lambda w: tucker.hosvd(w * float("nan"), (2, 2)), "NaN"),
    ],
)
def test_bad_input_raises_course_error(call, message):
    with pytest.raises(CourseError, match=message):
        call(random_weight(f=10, c=7))
