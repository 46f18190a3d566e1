"""A student's own HOSVD factors and three-conv layer plugged into the decompositions: the
library's own functions plugged in give the same models, curves and studies; a wrong one shows."""

import pytest
import torch
from factories import tiny_cnn

from course_lib import tucker

OWN = tucker.Solvers(factors=tucker.hosvd_factors, layer=tucker.tucker_layer)
X = torch.randn(2, 1, 12, 12, generator=torch.Generator().manual_seed(1))


def test_the_librarys_own_solvers_decompose_to_the_same_model():
    net = tiny_cnn()
    for method in ("hosvd", "hooi"):
        own, table = tucker.decompose_model(net, ["conv2", "conv3"], ranks=(3, 4), method=method)
        plugged, plugged_table = tucker.decompose_model(
            net, ["conv2", "conv3"], ranks=(3, 4), method=method, solvers=OWN
        )
        with torch.no_grad():
            assert torch.equal(own(X), plugged(X))
        assert table.equals(plugged_table)


def test_wrong_factors_and_a_wrong_layer_show_in_the_decomposition():
    net = tiny_cnn()

    def reordered(weight, r1, r2):
        in_factor, out_factor = tucker.hosvd_factors(weight, r1, r2)
        return in_factor.flip(1), out_factor  # the same space: the same error

    def shuffled(weight, r1, r2):
        in_factor, out_factor = tucker.hosvd_factors(weight, r1, r2)
        return in_factor.roll(1, dims=0), out_factor  # input channels mixed up

    _, right = tucker.decompose_model(net, ["conv2"], ranks=(3, 6), method="hosvd")
    _, same = tucker.decompose_model(
        net, ["conv2"], ranks=(3, 6), method="hosvd", solvers=tucker.Solvers(factors=reordered)
    )
    _, wrong = tucker.decompose_model(
        net, ["conv2"], ranks=(3, 6), method="hosvd", solvers=tucker.Solvers(factors=shuffled)
    )
    assert same.weight_error[0] == pytest.approx(right.weight_error[0], rel=1e-6)
    assert wrong.weight_error[0] > right.weight_error[0] + 0.05

    def no_bias(conv, core, in_factor, out_factor):
        layer = tucker.tucker_layer(conv, core, in_factor, out_factor)
        layer.last.bias = None
        return layer

    full = (4, 8)
    exact, _ = tucker.decompose_model(net, ["conv2"], ranks=full, solvers=tucker.Solvers(
        layer=no_bias))  # fmt: skip
    with torch.no_grad():
        assert not torch.allclose(exact(X), net(X), atol=1e-4)


def test_the_curves_and_the_rank_rules_take_the_solvers():
    conv = tiny_cnn().conv2
    inputs = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(2))
    own = tucker.reconstruction_curves(conv, "hosvd", inputs, points=3)
    plugged = tucker.reconstruction_curves(conv, "hosvd", inputs, points=3, solvers=OWN)
    assert own.equals(plugged)
    calls = []

    def counted(weight, r1, r2):
        calls.append((r1, r2))
        return tucker.hosvd_factors(weight, r1, r2)

    net = tiny_cnn()
    data_free = tucker.decompose_model(
        net, ["conv2"], keep_fraction=0.5, solvers=tucker.Solvers(factors=counted)
    )
    assert calls == [(2, 4)] and data_free[1].R1[0] == 2
