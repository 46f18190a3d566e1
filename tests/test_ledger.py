from torch import nn

from course_lib.ledger import cost_row, count_flops, count_params, measure_latency, peak_memory


def test_flops_are_two_per_multiply_add_of_convs_and_linears():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 10 * 10, 5)
    )
    conv = 2 * 8 * 3 * 3 * 3 * 10 * 10
    linear = 2 * 800 * 5
    assert count_flops(net, (3, 10, 10)) == conv + linear
    assert count_flops(net, (3, 10, 10), batch_size=4) == 4 * (conv + linear)
    assert net.training  # the mode is restored


def test_latency_reports_median_and_per_image_time():
    net = nn.Linear(20, 3)
    result = measure_latency(net, (20,), batch_size=8, repeats=5, warmup=1, threads=1)
    assert result["repeats"] == 5 and result["threads"] == 1
    assert result["per_image_s"] * 8 == result["median_s"] > 0


def test_cpu_peak_memory_is_weights_plus_the_largest_layer_io():
    net = nn.Sequential(nn.Linear(10, 1000), nn.Linear(1000, 2))
    weights = 4 * count_params(net)
    largest_io = 4 * 4 * (1000 + 2)  # batch 4: the second layer's input and output
    assert peak_memory(net, (10,), batch_size=4) == weights + max(largest_io, 4 * 4 * (10 + 1000))


def test_cost_row_has_the_ledger_columns():
    row = cost_row(nn.Linear(4, 2), (4,), "tiny", batch_size=2, repeats=2, warmup=0)
    assert row["params"] == 10 and row["flops"] == 16 and row["model"] == "tiny"
    assert row["ms_per_image"] > 0 and row["memory_mb"] > 0
