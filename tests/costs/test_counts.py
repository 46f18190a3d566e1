"""Counting: parameters and FLOPs."""

from torch import nn

from course_lib.costs import count_flops


def test_flops_are_two_per_multiply_add_of_convs_and_linears():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 10, 5)
    )
    conv = 2 * 8 * 3 * 3 * 3 * 10 * 10
    linear = 2 * 800 * 5
    assert count_flops(net, (3, 10, 10)) == conv + linear
    assert count_flops(net, (3, 10, 10), batch_size=4) == 4 * (conv + linear)
    assert net.training  # the mode is restored
