"""The search orders of structured pruning, each alone (fake proposals and costs, no model), then
inside the loop: sequential, cheapest by FLOPs, NetAdapt's by estimated time."""

import functools

import pytest
import torch
from factories import labelled_by, small_fashion_cnn
from torch import nn

from course_lib import costs, prune
from course_lib.errors import CourseError
from course_lib.models import build_model
from course_lib.prune import structured

torch.set_num_threads(1)


def proposal(layer, accuracy, saved):
    return prune.Proposal(layer, [0], None, accuracy, saved)


# --- each order alone ---------------------------------------------------------------------------


def test_orders_are_resolved_by_name_in_one_place():
    assert list(prune.ORDERS) == ["sequential", "cheapest", "latency"]
    for name, kind in prune.ORDERS.items():
        order = prune.make_order(name)
        assert type(order) is kind and order.name == name
    mine = prune.Cheapest()
    assert prune.make_order(mine) is mine
    with pytest.raises(CourseError, match="order must be one of 'sequential', 'cheapest'"):
        prune.make_order("random")


def test_sequential_takes_the_first_open_layer_one_step_at_a_time():
    order = prune.Sequential()
    assert order.tried(["conv2", "fc1"]) == ["conv2"]
    only = proposal("conv2", 0.1, 1.0)  # however costly, the one proposal is taken
    assert order.choose(iter([only]), accuracy=0.9) is only
    assert [order.next_width(w, 1, None, 0, 0) for w in (5, 2, 1)] == [4, 1, 0]
    assert (order.measure, order.table, order.latency_step) == ("flops", None, None)
    net = small_fashion_cnn()
    assert order.spent(net, (1, 12, 12)) == costs.count_flops(net, (1, 12, 12))


def test_cheapest_takes_the_least_accuracy_lost_per_flop_saved():
    order = prune.Cheapest()
    assert order.tried(["conv1", "conv2", "fc1"]) == ["conv1", "conv2", "fc1"]
    wide = proposal("conv2", 0.88, 800)  # 0.02 for 800 FLOPs: 2.5e-5 per FLOP
    narrow = proposal("fc1", 0.89, 100)  # 0.01 for 100 FLOPs: 1e-4 per FLOP
    assert order.choose([narrow, wide], accuracy=0.9) is wide
    free, freer = proposal("fc1", 0.95, 50), proposal("conv1", 0.9, 60)  # no loss: saves more
    assert order.choose([free, freer, wide], accuracy=0.9) is freer
    assert [order.next_width(w, 4, None, 0, 0) for w in (10, 8, 4)] == [8, 4, 0]


class ByWidth(costs.LatencyTable):
    """A table whose estimate is read off fc1's width: 10 ms per block of 4 neurons."""

    def model_ms(self, model, input_shape):
        return 10 * -(-model.fc1.out_features // 4)


def test_latency_steps_as_few_units_as_save_a_step_of_time():
    order = prune.make_order("latency", ByWidth(), 0.1)
    assert (order.measure, order.latency_step, order.name) == ("latency_ms", 0.1, "latency")
    assert order.spent(small_fashion_cnn(f1=10), (1, 12, 12)) == 30

    def cost_at(width):  # the blocks of 4 of a layer
        return 10 * -(-width // 4)

    # at 30 ms of an original 30, a step must reach 27: 10 -> 9 saves nothing, 8 saves 10
    assert order.next_width(10, 1, cost_at, 30, 30) == 8
    assert order.next_width(10, 4, cost_at, 30, 30) == 8  # the next multiple already saves it
    assert order.next_width(3, 1, cost_at, 10, 30) == 0  # not even one unit reaches 7
    assert order.tried(["conv2", "fc1"]) == ["conv2", "fc1"]
    slow, fast = proposal("conv2", 0.88, 2.0), proposal("fc1", 0.88, 10.0)
    assert order.choose([slow, fast], accuracy=0.9) is fast  # the least accuracy per ms
    assert isinstance(prune.Latency().table, costs.LatencyTable)  # a default table
    for bad in (0, 1, True):
        with pytest.raises(CourseError, match="latency_step"):
            prune.Latency(ByWidth(), bad)
    with pytest.raises(CourseError, match="LatencyTable"):
        prune.Latency(table=256)


# --- the orders inside the loop -----------------------------------------------------------------


def test_cheapest_order_removes_the_least_accuracy_per_flop_across_layers(monkeypatch):
    model = small_fashion_cnn(seed=7)  # (c1, c2, f1) = (3, 4, 6) on 12x12 images

    def evaluate(net, loader):  # conv2 units cost 0.02 each, fc1 0.01, conv1 0.3
        c1, c2, f1 = prune.layer_widths(net, ["conv1", "conv2", "fc1"]).values()
        return 0.0, 1.0 - 0.3 * (3 - c1) - 0.02 * (4 - c2) - 0.01 * (6 - f1)

    monkeypatch.setattr(structured, "evaluate", evaluate)
    data = labelled_by(model, n=8)
    runs = {
        order: prune.structured_prune(
            model, data, order=order, accuracy_floor=0.895, progress=False
        ).trajectory
        for order in ("sequential", "cheapest")
    }
    # A conv2 channel saves 8x more FLOPs than an fc1 neuron for twice the accuracy: it goes
    # first, although fc1 loses less accuracy per step; conv1 never pays for its FLOPs.
    cheapest = runs["cheapest"]
    assert list(cheapest["layer"]) == ["reference"] + ["conv2"] * 3 + ["fc1"] * 5 + ["conv1"]
    assert list(cheapest["phase"].iloc[-2:]) == ["rejected", "rejected"]
    sequential = runs["sequential"]
    assert list(sequential["layer"]) == ["reference", "conv1"] + ["conv2"] * 3 + ["fc1"] * 5
    for t in runs.values():
        kept = t[t["phase"] != "rejected"].iloc[-1]
        assert (kept["conv1"], kept["conv2"], kept["fc1"]) == (3, 1, 2)
    with pytest.raises(CourseError, match="order"):
        prune.structured_prune(model, data, order="random", progress=False)
    given = prune.structured_prune(
        model, data, order=prune.Cheapest(), accuracy_floor=0.895, progress=False
    )
    assert given.trajectory.equals(cheapest) and given.settings["order"] == "cheapest"


class BlockTable(costs.LatencyTable):
    """Layer times with no clock: a linear layer costs one unit per block of 4 outputs by block
    of 4 inputs (as vector kernels do), a conv one per output channel per input channel, the
    rest nothing."""

    def layer_ms(self, layer, input_shape, device, backend):
        if isinstance(layer, nn.Linear):
            return -(-layer.out_features // 4) * -(-layer.in_features // 4)
        if isinstance(layer, nn.Conv2d):
            return layer.out_channels * layer.in_channels
        return 0


def test_latency_order_saves_a_step_of_estimated_time_at_the_least_accuracy_per_ms(monkeypatch):
    model = small_fashion_cnn(seed=7, f1=10)  # (c1, c2, f1) = (3, 4, 10) on 12x12 images

    def evaluate(net, loader):  # a conv2 channel costs 0.02 accuracy, an fc1 neuron 0.01
        c2, f1 = prune.layer_widths(net, ["conv2", "fc1"]).values()
        return 0.0, 1.0 - 0.02 * (4 - c2) - 0.01 * (10 - f1)

    monkeypatch.setattr(structured, "evaluate", evaluate)
    data = labelled_by(model, n=8)
    run = functools.partial(
        prune.structured_prune, model, data, layers=["conv2", "fc1"], accuracy_floor=0.9,
        latency=BlockTable(), latency_step=0.1, progress=False,
    )  # fmt: skip
    t = run(order="latency").trajectory
    # 216 = conv1 3 + conv2 12 + fc1 3*64 + fc2 3*3; a step must save 21.6. fc1 10 -> 9 saves
    # nothing (the same blocks of 4), so its step removes 2 units (149, 0.02 lost per 67 saved)
    # and beats conv2 4 -> 3 (165, 0.02 per 51); then conv2 costs less per ms saved than fc1's
    # next step (8 -> 4), and fc1 closes once no width of it saves 21.6 of the 44 left.
    assert list(t["layer"]) == ["reference", "fc1", "conv2", "conv2", "conv2"]
    assert list(t["fc1"]) == [10, 8, 8, 8, 8] and list(t["conv2"]) == [4, 4, 3, 2, 1]
    assert list(t["latency_ms"]) == [216, 149, 114, 79, 44]
    assert len(t["removed_units"].iloc[1]) == 2
    # By FLOPs a conv2 channel is the cheaper first step; given another order the table only
    # adds its estimate to the trajectory.
    cheapest = run(order="cheapest").trajectory
    assert cheapest["layer"].iloc[1] == "conv2" and cheapest["latency_ms"].iloc[1] == 165
    for bad in (0, 1, -0.1, True, "0.1"):
        with pytest.raises(CourseError, match="latency_step"):
            run(order="latency", latency_step=bad)
    with pytest.raises(CourseError, match="LatencyTable"):
        run(order="latency", latency=256)


def test_latency_order_times_layers_with_a_default_table_and_records_its_settings():
    torch.manual_seed(0)
    model = build_model("lenet300", (1, 28, 28), 10).eval()  # fc1 (784 x 300) is most of its time
    result = prune.structured_prune(
        model, labelled_by(model, n=16, shape=(1, 28, 28)), layers=["fc1"],
        order="latency", accuracy_floor=0.0, max_removals=60, progress=False,
    )  # fmt: skip
    t = result.trajectory
    assert len(t) > 1 and (t["latency_ms"] > 0).all() and t["fc1"].iloc[-1] >= 240
    saved = -t["latency_ms"].diff().iloc[1:]  # the estimates come from the one table's timings
    assert (saved >= 0.03 * t["latency_ms"].iloc[0] - 1e-9).all()
    assert result.settings["latency"] == costs.LatencyTable().settings()
    assert result.settings["order"] == "latency" and result.settings["latency_step"] == 0.03
