import ctypes

import pytest
import torch
from torch import nn

from course_lib import costs
from course_lib.errors import CourseError
from course_lib.costs import cost_row, count_flops, count_params, measure_latency, peak_memory
from course_lib.models import build_model


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
    assert result["conv_backend"] in costs.CONV_BACKENDS


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost",
    )]  # fmt: skip


def mapped_bytes() -> int:
    """Bytes glibc holds in blocks mapped one by one (each unmapped again when freed)."""
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = MallInfo2
    return mallinfo2().hblkhd


def test_timing_keeps_big_activations_on_the_heap():
    """A 64 MB block is past glibc's largest dynamic mmap threshold (32 MB): by default it is
    mapped afresh at every pass and its 16 384 pages faulted in again."""
    measure_latency(nn.Linear(2, 2), (2,), batch_size=1, repeats=1, warmup=0)
    before = mapped_bytes()
    block = torch.empty(1024, 16_384)
    assert block.nbytes == 64 << 20 and mapped_bytes() - before < 1 << 20


def test_fastest_backend_keeps_the_faster_and_a_named_one_is_the_only_one_timed(monkeypatch):
    seen = []

    def scripted(model, x, repeats, warmup, backend):
        seen.append(backend)
        return {"onednn": 0.004, "native": 0.001}[backend]

    monkeypatch.setattr(ledger, "_median_pass_s", scripted)
    net = nn.Conv2d(1, 2, 3)
    result = measure_latency(net, (1, 8, 8), batch_size=4, conv_backend="fastest")
    assert result["conv_backend"] == "native" and result["median_s"] == 0.001
    assert result["per_image_s"] == 0.001 / 4 and set(seen) == {"onednn", "native"}
    seen.clear()
    assert measure_latency(net, (1, 8, 8), conv_backend="onednn")["median_s"] == 0.004
    assert seen == ["onednn"]


def test_conv_backend_switches_onednn_inside_the_block_only():
    before = torch.backends.mkldnn.enabled
    with costs.using_conv_backend("native"):
        assert torch.backends.mkldnn.enabled is False
    with costs.using_conv_backend("onednn"):
        assert torch.backends.mkldnn.enabled is True
    assert torch.backends.mkldnn.enabled == before


@pytest.mark.parametrize(
    "kwargs", [{"conv_backend": "mkl"}, {"batch_size": 0}, {"repeats": 0}, {"warmup": -1}]
)
def test_bad_timing_requests_are_refused_before_any_pass(kwargs):
    class Counting(nn.Linear):
        passes = 0

        def forward(self, x):
            Counting.passes += 1
            return super().forward(x)

    for timing in (measure_latency, costs.layer_times):
        with pytest.raises(CourseError):
            timing(nn.Sequential(Counting(3, 2)), (3,), **kwargs)
    assert Counting.passes == 0


def test_best_latency_keeps_each_models_best_round_with_the_models_taking_turns(monkeypatch):
    medians = iter([0.3, 0.5, 0.1, 0.6, 0.2, 0.4])  # a, b, a, b, a, b
    order = []

    def scripted(model, input_shape, **measure):
        order.append(model)
        return {"median_s": next(medians), "batch_size": measure["batch_size"]}

    monkeypatch.setattr(ledger, "measure_latency", scripted)
    best = costs.best_latency({"a": "A", "b": "B"}, (3,), rounds=3, batch_size=2)
    assert order == ["A", "B"] * 3
    assert best["a"]["median_s"] == 0.1 and best["b"]["median_s"] == 0.4
    with pytest.raises(CourseError, match="rounds"):
        costs.best_latency({"a": "A"}, (3,), rounds=0)


def test_layer_times_count_each_layers_flops_and_time():
    net = build_model("fashion_cnn", (1, 12, 12), 10, c1=3, k1=3, c2=4, k2=3, f1=6)
    table = costs.layer_times(net, (1, 12, 12), batch_size=2, repeats=3, warmup=1)
    assert list(table.index) == [name for name, _ in net.named_children()]
    assert table.loc["conv1", "flops"] == 2 * 2 * 3 * 1 * 9 * 10 * 10
    assert table.loc["conv2", "flops"] == 2 * 2 * 4 * 3 * 9 * 8 * 8
    assert table.loc["fc1", "flops"] == 2 * 2 * 4 * 8 * 8 * 6
    assert table.loc["relu1", "flops"] == 0 and table["flops"].sum() == count_flops(
        net, (1, 12, 12), batch_size=2
    )
    assert (table["ms"] > 0).all() and table.loc["conv2", "gflop_per_s"] > 0
    assert net.training and not net.conv1._forward_hooks and not net.conv1._forward_pre_hooks


def test_latency_table_times_each_shape_once_and_sums_on_the_faster_backend(monkeypatch):
    timed = []

    def scripted(layer, x, repeats, warmup, backend):  # seconds by layer and backend
        timed.append((str(layer), tuple(x.shape), backend))
        if not isinstance(layer, nn.Conv2d):
            return 0.0005 if isinstance(layer, nn.Linear) else 0.0001
        return {(1, "onednn"): 0.001, (1, "native"): 0.003, (3, "onednn"): 0.005}.get(
            (layer.in_channels, backend), 0.002
        )

    monkeypatch.setattr(ledger, "_median_pass_s", scripted)
    net = build_model("fashion_cnn", (1, 12, 12), 10, c1=3, k1=3, c2=4, k2=3, f1=6)
    table = costs.LatencyTable(batch_size=5)
    # oneDNN: conv1 1 + conv2 5 + 2 linears 0.5 + 3 ReLUs and a flatten 0.1 = 7.4 ms; native:
    # 3 + 2 + 1 + 0.4 = 6.4 ms. Each model runs on one backend, so the estimate is not the sum
    # of each layer's best (4.4 ms).
    assert table.model_ms(net, (1, 12, 12)) == pytest.approx(6.4)
    shapes = {(layer, backend): x for layer, x, backend in timed}
    assert shapes[(str(net.conv2), "native")] == (5, 3, 10, 10)
    assert shapes[(str(net.fc1), None)] == (5, 4 * 8 * 8)  # a linear layer is timed once
    assert ("ReLU()", (5, 4, 8, 8), None) in timed and ("ReLU()", (5, 6), None) in timed
    assert len(timed) == len(table.ms) == 10  # 2 convs x 2 backends, 6 other layers once
    assert table.model_ms(net, (1, 12, 12)) == pytest.approx(6.4) and len(timed) == 10
    onednn = costs.LatencyTable(batch_size=5, conv_backend="onednn")
    assert onednn.model_ms(net, (1, 12, 12)) == pytest.approx(7.4)
    assert net.training and not net.conv1._forward_pre_hooks


def test_latency_table_measures_real_layers_and_refuses_bad_settings():
    net = build_model("fashion_cnn", (1, 12, 12), 10, c1=3, k1=3, c2=4, k2=3, f1=6)
    table = costs.LatencyTable(batch_size=4, repeats=2, warmup=0)
    assert table.model_ms(net, (1, 12, 12)) > 0 and all(ms > 0 for ms in table.ms.values())
    for bad in ({"conv_backend": "mkl"}, {"batch_size": 0}, {"repeats": 0}):
        with pytest.raises(CourseError):
            costs.LatencyTable(**bad)
    with pytest.raises(CourseError, match="conv and linear"):
        table.model_ms(nn.Sequential(nn.ReLU()), (3,))
    normed = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2))
    table.model_ms(normed, (1, 4, 4))  # in training mode: timing must not touch its statistics
    assert normed.training and normed[1].num_batches_tracked == 0
    assert torch.equal(normed[1].running_mean, torch.zeros(2))


def test_cpu_peak_memory_is_weights_plus_the_largest_layer_io():
    net = nn.Sequential(nn.Linear(10, 1000), nn.Linear(1000, 2))
    weights = 4 * count_params(net)
    largest_io = 4 * 4 * (1000 + 2)  # batch 4: the second layer's input and output
    assert peak_memory(net, (10,), batch_size=4) == weights + max(largest_io, 4 * 4 * (10 + 1000))


def test_cost_row_has_the_ledger_columns():
    row = cost_row(nn.Linear(4, 2), (4,), "tiny", batch_size=2, repeats=2, warmup=0)
    assert row["params"] == 10 and row["flops"] == 16 and row["model"] == "tiny"
    assert row["ms_per_image"] > 0 and row["memory_mb"] > 0
