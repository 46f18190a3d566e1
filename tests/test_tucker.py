"""Tucker-2 of convolutions: exactness at full rank, monotone errors, HOOI vs HOSVD, TensorLy."""

from collections import OrderedDict

import pytest
import tensorly as tl
import torch
from tensorly.decomposition import partial_tucker
from torch import nn

from course_lib import CourseError, tucker


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def random_weight(f=10, c=7, k=3, seed=0):
    return torch.randn(f, c, k, k, generator=seeded(seed), dtype=torch.float64)


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 8, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(8, 12, 3, stride=2, padding=1),
            relu2=nn.ReLU(),
            conv3=nn.Conv2d(12, 6, (3, 5), padding=(2, 1), dilation=2, bias=False),
            flatten=nn.Flatten(),
        )
    )


@pytest.mark.parametrize(
    "options",
    [
        dict(stride=2, padding=1, bias=True),
        dict(stride=1, padding=0, bias=True),
        dict(stride=(2, 1), padding=(0, 2), dilation=2, bias=False),
        dict(stride=1, padding=1, padding_mode="reflect", bias=True),
    ],
)
@pytest.mark.parametrize("method", ["hosvd", "hooi"])
def test_full_ranks_reproduce_the_conv_output(options, method):
    torch.manual_seed(1)
    conv = nn.Conv2d(5, 9, 3, **options).double()
    x = torch.randn(2, 5, 11, 13, dtype=torch.float64)
    replacement = tucker.decompose_conv(conv, ranks=(5, 9), method=method)
    assert replacement.ranks == (5, 9)
    assert [type(m) for m in replacement] == [nn.Conv2d] * 3
    assert replacement.core.stride == conv.stride and replacement.core.padding == conv.padding
    torch.testing.assert_close(replacement(x), conv(x), rtol=1e-12, atol=1e-12)


def test_full_ranks_in_float32_match_to_float_precision():
    torch.manual_seed(2)
    conv = nn.Conv2d(16, 24, 3, stride=2, padding=1)
    x = torch.randn(4, 16, 15, 15)
    replacement = tucker.decompose_conv(conv, fraction=1.0)
    assert replacement.first.weight.dtype == torch.float32
    torch.testing.assert_close(replacement(x), conv(x), rtol=1e-5, atol=1e-5)


def test_three_convs_compute_the_reconstructed_weight():
    torch.manual_seed(3)
    conv = nn.Conv2d(6, 8, 3, padding=1, bias=False).double()
    replacement = tucker.decompose_conv(conv, ranks=(3, 4))
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    approx = nn.functional.conv2d(x, replacement.combined_weight(), padding=1)
    torch.testing.assert_close(replacement(x), approx, rtol=1e-10, atol=1e-10)
    assert tucker.relative_error(conv(x), replacement(x)) > 1e-3


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


def test_fraction_ranks_follow_seed_k_of_8():
    w = random_weight(f=64, c=32)
    assert [tucker.ranks_by_fraction(w, k / 8) for k in (1, 3, 8)] == [(4, 8), (12, 24), (32, 64)]
    assert tucker.ranks_by_fraction(random_weight(f=30, c=3), 0.1) == (1, 3)


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
        (lambda w: tucker.choose_ranks(w, fraction=1.5), "fraction"),
        (lambda w: tucker.choose_ranks(w, energy=0), "energy"),
        (lambda w: tucker.decompose_weight(w, (2, 2), method="cp"), "Unknown Tucker method"),
        (lambda w: tucker.hosvd(w[0], (2, 2)), "shape"),
        (lambda w: tucker.hosvd(w * float("nan"), (2, 2)), "NaN"),
    ],
)
def test_bad_input_raises_course_error(call, message):
    with pytest.raises(CourseError, match=message):
        call(random_weight(f=10, c=7))


def test_grouped_and_non_conv_layers_are_refused():
    with pytest.raises(CourseError, match="groups"):
        tucker.decompose_conv(nn.Conv2d(4, 4, 3, groups=2), ranks=(1, 1))
    with pytest.raises(CourseError, match="choose convs from"):
        tucker.decompose_model(small_net(), layers=["relu1"], fraction=0.5)


def test_decompose_model_replaces_the_chosen_convs_and_keeps_the_original():
    net = small_net().double()
    decomposed, table = tucker.decompose_model(net, fraction=0.5)
    assert list(table.layer) == ["conv2", "conv3"]  # the first conv is left alone
    assert list(zip(table.R1, table.R2, strict=True)) == [(4, 6), (6, 3)]
    assert isinstance(decomposed.conv2, tucker.TuckerConv)
    assert isinstance(net.conv2, nn.Conv2d)
    assert tucker.conv_layers(decomposed) == ["conv1"]
    x = torch.randn(2, 3, 20, 20, dtype=torch.float64)
    assert decomposed(x).shape == net(x).shape
    for _, row in table.iterrows():
        conv = net.get_submodule(row.layer)
        expected = tucker.weight_error(conv.weight, tucker.hooi(conv.weight, (row.R1, row.R2)))
        assert row.weight_error == pytest.approx(expected)
        assert row.params_tucker == sum(
            p.numel() for p in decomposed.get_submodule(row.layer).parameters()
        )


def test_decompose_model_at_full_rank_keeps_the_outputs():
    net = small_net().double()
    decomposed, table = tucker.decompose_model(net, layers=["conv1", "conv3"], energy=1.0)
    x = torch.randn(3, 3, 20, 20, dtype=torch.float64)
    torch.testing.assert_close(decomposed(x), net(x), rtol=1e-10, atol=1e-10)
    assert table.weight_error.max() < 1e-12


def test_per_layer_ranks_and_missing_layers():
    net = small_net()
    decomposed, table = tucker.decompose_model(
        net, layers=["conv2", "conv3"], ranks={"conv2": (2, 3), "conv3": (5, 1)}
    )
    assert list(zip(table.R1, table.R2, strict=True)) == [(2, 3), (5, 1)]
    with pytest.raises(CourseError, match="no \\(R1, R2\\) for \\['conv3'\\]"):
        tucker.decompose_model(net, layers=["conv2", "conv3"], ranks={"conv2": (2, 3)})
    with pytest.raises(CourseError, match="choose convs from"):
        tucker.decompose_model(net, layers=["conv9"], fraction=0.5)
    with pytest.raises(CourseError, match="R2 <= 6"):
        tucker.decompose_model(net, layers=["conv2", "conv3"], ranks=(2, 7))


def test_nested_convs_of_a_residual_block_are_replaced():
    block = nn.Sequential(
        OrderedDict(stem=nn.Conv2d(3, 4, 3), body=nn.Sequential(nn.Conv2d(4, 6, 3)))
    )
    decomposed, table = tucker.decompose_model(block, fraction=0.5)
    assert list(table.layer) == ["body.0"]
    assert isinstance(decomposed.body[0], tucker.TuckerConv)


def test_output_error_isolates_the_layer():
    net = small_net().double()
    x = torch.randn(4, 3, 20, 20, dtype=torch.float64)
    full, _ = tucker.decompose_model(net, layers=["conv2"], ranks=(8, 12))
    low, _ = tucker.decompose_model(net, layers=["conv2"], ranks=(2, 2))
    assert tucker.output_error(net, full, "conv2", x) < 1e-12
    features = tucker.layer_input(net, "conv2", x)
    expected = tucker.relative_error(net.conv2(features), low.conv2(features))
    assert tucker.output_error(net, low, "conv2", x) == pytest.approx(expected)
    assert expected > 0.05
