"""Measured time: one pass, models in turns, the compare table, time per layer."""

import pytest
from torch import nn

from course_lib import costs
from course_lib.costs import count_flops, measure_latency
from course_lib.costs import timing as costs_timing
from course_lib.errors import CourseError
from course_lib.models import build_model


def test_latency_reports_median_and_per_image_time():
    net = nn.Linear(20, 3)
    result = measure_latency(net, (20,), batch_size=8, repeats=5, warmup=1, threads=1)
    assert result["repeats"] == 5 and result["threads"] == 1
    assert result["per_image_s"] * 8 == result["median_s"] > 0
    assert result["conv_backend"] in costs.CONV_BACKENDS


def test_fastest_backend_keeps_the_faster_and_a_named_one_is_the_only_one_timed(monkeypatch):
    seen = []

    def scripted(model, x, repeats, warmup, backend):
        seen.append(backend)
        return {"onednn": 0.004, "native": 0.001}[backend]

    monkeypatch.setattr(costs_timing, "median_pass_s", scripted)
    net = nn.Conv2d(1, 2, 3)
    result = measure_latency(net, (1, 8, 8), batch_size=4, conv_backend="fastest")
    assert result["conv_backend"] == "native" and result["median_s"] == 0.001
    assert result["per_image_s"] == 0.001 / 4 and set(seen) == {"onednn", "native"}
    seen.clear()
    assert measure_latency(net, (1, 8, 8), conv_backend="onednn")["median_s"] == 0.004
    assert seen == ["onednn"]


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

    monkeypatch.setattr(costs_timing, "measure_latency", scripted)
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


def test_compare_has_the_cost_columns_of_each_model():
    table = costs.compare(
        {"tiny": nn.Linear(4, 2)}, (4,), memory=True, batch_size=2, repeats=2, warmup=0, rounds=1
    )
    row = table.loc["tiny"]
    assert row["params"] == 10 and row["flops"] == 16 and row["batch_size"] == 2
    assert row["ms_per_image"] > 0 and row["memory_mb"] > 0
    assert row["flop_ratio"] == 1 and row["speedup"] == 1


def test_compare_sets_every_model_against_the_first_timed_in_turns(monkeypatch):
    times = {"big": 0.008, "small": 0.002}

    def scripted(models, input_shape, rounds, **measure):
        assert rounds == 2 and measure == {"batch_size": 4, "threads": 1}
        return {
            name: {"median_s": times[name], "per_image_s": times[name] / 4, "batch_size": 4,
                   "threads": 1, "device": "cpu", "conv_backend": "native"}
            for name in models
        }  # fmt: skip

    monkeypatch.setattr(costs_timing, "best_latency", scripted)
    nets = {"big": nn.Linear(8, 8), "small": nn.Linear(8, 2)}
    table = costs.compare(nets, (8,), rounds=2, batch_size=4, threads=1)
    assert list(table.index) == ["big", "small"]
    assert table.loc["small", "flop_ratio"] == (2 * 64) / (2 * 16)
    assert table.loc["small", "speedup"] == pytest.approx(4.0)
    assert table.loc["small", "ms_per_image"] == pytest.approx(0.5)
    assert "memory_mb" not in table
    with pytest.raises(CourseError, match="at least one model"):
        costs.compare({}, (8,))


def test_a_model_of_another_runtime_is_timed_once_and_counted_by_its_eager_model(monkeypatch):
    class Runtime(nn.Module):
        runtime = "onnxruntime"

        def __init__(self, eager):
            super().__init__()
            self.__dict__["eager"] = eager  # as artifacts.OnnxModel: counted, not a submodule

        def forward(self, x):
            return self.eager(x)

    seen = []
    monkeypatch.setattr(
        costs_timing, "median_pass_s", lambda model, x, r, w, backend: seen.append(backend) or 0.01
    )
    conv = nn.Conv2d(1, 2, 3)
    latency = measure_latency(Runtime(conv), (1, 8, 8), batch_size=2, conv_backend="fastest")
    assert seen == [None] and latency["conv_backend"] == latency["runtime"] == "onnxruntime"
    table = costs.compare({"eager": conv, "other": Runtime(conv)}, (1, 8, 8), rounds=1)
    assert table.loc["other", "params"] == 20 and table.loc["other", "flops"] > 0
    assert list(table["runtime"]) == ["eager", "onnxruntime"]
