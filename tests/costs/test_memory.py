"""Peak inference memory."""

from torch import nn

from course_lib.costs import count_params, peak_memory


def test_cpu_peak_memory_is_weights_plus_the_largest_layer_io():
    net = nn.Sequential(nn.Linear(10, 1000), nn.Linear(1000, 2))
    weights = 4 * count_params(net)
    largest_io = 4 * 4 * (1000 + 2)  # batch 4: the second layer's input and output
    assert peak_memory(net, (10,), batch_size=4) == weights + max(largest_io, 4 * 4 * (10 + 1000))
