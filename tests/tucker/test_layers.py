"""Tucker-2 layers: a conv as three convs (exact at full rank), models decomposed, output error."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from course_lib import CourseError, tucker


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
    replacement = tucker.decompose_conv(conv, keep_fraction=1.0)
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


def test_grouped_and_non_conv_layers_are_refused():
    with pytest.raises(CourseError, match="groups"):
        tucker.decompose_conv(nn.Conv2d(4, 4, 3, groups=2), ranks=(1, 1))
    with pytest.raises(CourseError, match="choose convs from"):
        tucker.decompose_model(small_net(), layers=["relu1"], keep_fraction=0.5)


def test_decompose_model_replaces_the_chosen_convs_and_keeps_the_original():
    net = small_net().double()
    decomposed, table = tucker.decompose_model(net, keep_fraction=0.5)
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
        tucker.decompose_model(net, layers=["conv9"], keep_fraction=0.5)
    with pytest.raises(CourseError, match="R2 <= 6"):
        tucker.decompose_model(net, layers=["conv2", "conv3"], ranks=(2, 7))


def test_nested_convs_of_a_residual_block_are_replaced():
    block = nn.Sequential(
        OrderedDict(stem=nn.Conv2d(3, 4, 3), body=nn.Sequential(nn.Conv2d(4, 6, 3)))
    )
    decomposed, table = tucker.decompose_model(block, keep_fraction=0.5)
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
