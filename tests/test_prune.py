"""Pruning: exactly the intended weights go, slimmed models compute what masked ones do, the
FLOP formula matches the counter, the scan is cached, the structured loop obeys its floor."""

import copy
import functools

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from course_lib import costs, prune
from course_lib.data import DataBundle, Split
from course_lib.errors import CourseError
from course_lib.models import build_model
from course_lib.train import TrainConfig, finetune_config

torch.set_num_threads(1)


def small_cnn(seed=0, **widths):
    torch.manual_seed(seed)
    shape = {"c1": 3, "c2": 4, "f1": 6, **widths}
    return build_model("fashion_cnn", (1, 12, 12), 10, k1=3, k2=3, **shape).eval()


def with_distinct_weights(model, seed=0):
    """Weights whose magnitudes are all different, so 'the k smallest' is unambiguous."""
    generator = torch.Generator().manual_seed(seed)
    layers = prune.weight_layers(model).values()
    total = sum(m.weight.numel() for m in layers)
    magnitudes = (torch.randperm(total, generator=generator).float() + 1) / total
    signs = torch.where(torch.rand(total, generator=generator) < 0.5, -1.0, 1.0)
    values = (magnitudes * signs).split([m.weight.numel() for m in layers])
    with torch.no_grad():
        for module, value in zip(layers, values, strict=True):
            module.weight.copy_(value.view_as(module.weight))
    return model


def bundle_labelled_by(model, n=96, seed=0, shape=(1, 12, 12)):
    """Random images labelled by ``model`` itself: its accuracy on every split is exactly 1."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)
    data = DataBundle(
        "fashion-mnist", Split(images, torch.zeros(n, dtype=torch.long)), None, None,
        (0.5,) * shape[0], (0.25,) * shape[0], tuple(str(k) for k in range(10)),
    )  # fmt: skip
    with torch.no_grad():
        x = next(iter(data.loader("train", n)))[0]
        labels = model(x).argmax(1)
    split = Split(images, labels)
    data.train, data.val, data.test = split, split, split
    return data


# --- unstructured ---------------------------------------------------------------------------


def test_layer_pruning_keeps_exactly_the_largest_weights_and_leaves_the_original():
    model = with_distinct_weights(small_cnn())
    before = copy.deepcopy(model.state_dict())
    pruned = prune.magnitude_prune(model, 0.3, layers=["conv2"])
    weight = model.conv2.weight.reshape(-1)
    n_removed = round(0.3 * weight.numel())
    expected_kept = set(weight.abs().argsort()[n_removed:].tolist())
    kept = set(torch.nonzero(pruned.conv2.weight.reshape(-1)).reshape(-1).tolist())
    assert kept == expected_kept
    assert torch.equal(pruned.conv2.weight.reshape(-1)[list(kept)], weight[list(kept)])
    for name in ("conv1", "fc1", "fc2"):  # layers not named are untouched
        assert torch.equal(getattr(pruned, name).weight, getattr(model, name).weight)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not any("mask" in k or "orig" in k for k in pruned.state_dict())  # pruning is baked in


def test_global_pruning_shares_one_threshold_across_layers():
    model = with_distinct_weights(small_cnn(), seed=3)
    pruned = prune.magnitude_prune(model, 0.6, layers=["conv2", "fc1"], scope="global")
    together = torch.cat([model.conv2.weight.reshape(-1), model.fc1.weight.reshape(-1)])
    threshold = together.abs().sort().values[round(0.6 * together.numel())]
    for name in ("conv2", "fc1"):
        original, result = getattr(model, name).weight, getattr(pruned, name).weight
        assert torch.equal(result, torch.where(original.abs() >= threshold, original, 0.0))
    rates = prune.sparsity(pruned, ["conv2", "fc1"])
    assert rates["conv2"] != pytest.approx(rates["fc1"], abs=0.01)  # per-layer rates differ


def test_per_layer_rates_and_sparsity():
    model = with_distinct_weights(small_cnn())
    pruned = prune.magnitude_prune(model, {"conv1": 0.5, "fc1": 0.9})
    sizes = {n: m.weight.numel() for n, m in prune.weight_layers(model).items()}
    got = prune.sparsity(pruned)
    assert got["conv1"] == round(0.5 * sizes["conv1"]) / sizes["conv1"]
    assert got["fc1"] == round(0.9 * sizes["fc1"]) / sizes["fc1"]
    assert got["conv2"] == got["fc2"] == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 1.5},
        {"rate": -0.1},
        {"rate": "half"},
        {"rate": 0.5, "layers": ["conv9"]},
        {"rate": 0.5, "scope": "everywhere"},
        {"rate": {"conv1": 0.5}, "scope": "global"},
    ],
)
def test_bad_pruning_requests_are_refused(kwargs):
    with pytest.raises(CourseError):
        prune.magnitude_prune(small_cnn(), **kwargs)


# --- the sensitivity scan --------------------------------------------------------------------


def test_scan_values_and_cache(tmp_path, monkeypatch):
    model = small_cnn(seed=1)
    data = bundle_labelled_by(model)
    scan = prune.sensitivity_scan(model, data, [0.5, 0.0, 1.0], cache=tmp_path)
    assert scan.rates == [0.0, 0.5, 1.0]
    assert scan.curves == ["conv1", "conv2", "fc1", "fc2", prune.ALL_LAYERS]
    assert scan.baseline == 1.0
    assert all(scan.accuracy_at(curve, 0.0) == 1.0 for curve in scan.curves)
    # fc2 with every weight removed predicts argmax(bias) for every image
    constant = int(model.fc2.bias.argmax())
    assert scan.accuracy_at("fc2", 1.0) == (data.val.labels == constant).float().mean().item()
    assert list(scan.table().columns) == scan.curves

    def no_evaluation(*args):
        raise AssertionError("a cached scan must not evaluate")

    monkeypatch.setattr(prune, "evaluate", no_evaluation)
    again = prune.sensitivity_scan(model, data, [0.0, 0.5, 1.0], cache=tmp_path)
    assert again.accuracy == scan.accuracy and again.key == scan.key
    (tmp_path / "scans" / f"{scan.key}.json").write_text("{not json")
    with pytest.raises(AssertionError):  # a damaged cache file is scanned again
        prune.sensitivity_scan(model, data, [0.0, 0.5, 1.0], cache=tmp_path)
    with pytest.raises(AssertionError):  # other weights: another key, so a fresh scan
        prune.sensitivity_scan(small_cnn(seed=2), data, [0.0, 0.5, 1.0], cache=tmp_path)


def test_scan_weight_split_matches_the_pruned_layer(tmp_path):
    model = with_distinct_weights(small_cnn())
    data = bundle_labelled_by(model, n=32)
    scan = prune.sensitivity_scan(model, data, [0.0, 0.25, 0.7], cache=tmp_path)
    kept, removed = scan.weight_split("fc1", 0.7)
    pruned = prune.magnitude_prune(model, 0.7, layers=["fc1"]).fc1.weight
    assert sorted(kept.tolist()) == sorted(pruned[pruned != 0].tolist())
    assert len(removed) == round(0.7 * model.fc1.weight.numel())
    assert abs(removed).max() < abs(kept).min()
    kept_all, removed_all = scan.weight_split(prune.ALL_LAYERS, 0.25)
    assert len(kept_all) + len(removed_all) == sum(
        m.weight.numel() for m in prune.weight_layers(model).values()
    )
    with pytest.raises(CourseError, match="no rate"):
        scan.accuracy_at("fc1", 0.3)
    with pytest.raises(CourseError, match="no curve"):
        scan.weight_split("conv7", 0.25)


def test_scan_refuses_bad_input_before_work(tmp_path):
    model = small_cnn()
    data = bundle_labelled_by(model, n=8)
    for bad in ([], [0.2, 2.0], "0.5"):
        with pytest.raises(CourseError):
            prune.sensitivity_scan(model, data, bad, cache=tmp_path)
    with pytest.raises(CourseError):
        prune.sensitivity_scan(model, data, [0.5], split="training", cache=tmp_path)


# --- structured pruning -------------------------------------------------------------------------


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc1"])
@pytest.mark.parametrize("norm,order", [("l1", 1), ("l2", 2)])
def test_slimmed_model_equals_torch_structured_mask(layer, norm, order):
    """Removing the weakest unit gives the outputs of torch's ln_structured mask on that unit."""
    model = small_cnn(seed=4)
    masked = copy.deepcopy(model)
    target = getattr(masked, layer)
    torch_prune.ln_structured(target, "weight", amount=1, n=order, dim=0)
    unit = int(prune.unit_importance(getattr(model, layer), norm).argmin())
    dropped = target.weight_mask.flatten(1).sum(1) == 0
    assert torch.nonzero(dropped).reshape(-1).tolist() == [unit]  # the same unit as torch's
    with torch.no_grad():
        target.bias[unit] = 0.0  # a removed unit's output is ReLU(0) = 0
    slimmed = prune.remove_unit(model, layer, unit)
    x = torch.randn(5, 1, 12, 12)
    assert torch.allclose(slimmed(x), masked(x), atol=1e-6)
    assert prune.layer_widths(slimmed, [layer])[layer] == getattr(model, layer).weight.shape[0] - 1
    assert costs.count_params(slimmed) < costs.count_params(model)


def test_slim_cuts_the_input_slice_through_batch_norm_and_pooling():
    torch.manual_seed(0)
    model = build_model("vgg_small", (3, 8, 8), 10, widths=(4, 6)).eval()
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    keep = [0, 2, 5]
    slimmed = prune.slim(model, "conv4", keep)  # conv4 -> bn4 -> relu4 -> pool2 -> flatten -> fc1
    masked = copy.deepcopy(model)
    per_channel = model.fc1.in_features // 6
    with torch.no_grad():
        for channel in set(range(6)) - set(keep):
            masked.fc1.weight[:, channel * per_channel : (channel + 1) * per_channel] = 0
    x = torch.randn(4, 3, 8, 8)
    assert torch.allclose(slimmed(x), masked(x), atol=1e-5)
    assert slimmed.bn4.num_features == 3 and slimmed.fc1.in_features == 3 * per_channel


def test_output_layer_and_non_sequential_models_are_refused():
    model = small_cnn()
    with pytest.raises(CourseError, match="output layer"):
        prune.slim(model, "fc2", [0, 1])
    with pytest.raises(CourseError, match="output layer"):
        prune.structured_prune(model, bundle_labelled_by(model, 8), layers=["fc2"], progress=False)
    with pytest.raises(CourseError, match="Sequential"):
        prune.prunable_layers(build_model("resnet_small", (3, 8, 8), 10, widths=(4,)))
    with pytest.raises(CourseError, match="last unit"):
        prune.remove_unit(small_cnn(c1=1), "conv1", 0)
    with pytest.raises(CourseError, match="no unit 3"):
        prune.remove_unit(model, "conv1", 3)
    with pytest.raises(CourseError, match="cannot be pruned"):
        prune.remove_unit(model, "relu1", 0)
    with pytest.raises(CourseError, match="norm"):
        prune.structured_prune(model, bundle_labelled_by(model, 8), norm="l3", progress=False)


def test_structured_prune_to_the_floor_and_trajectory_costs():
    model = small_cnn(seed=5)
    data = bundle_labelled_by(model, n=64)
    result = prune.structured_prune(model, data, accuracy_floor=0.0, max_removals=2, progress=False)
    t = result.trajectory
    assert list(t["phase"]) == ["start"] + ["prune"] * 6
    assert list(t["conv1"]) == [3, 2, 1, 1, 1, 1, 1]
    assert list(t["conv2"]) == [4, 4, 4, 3, 2, 2, 2]
    assert list(t["fc1"]) == [6, 6, 6, 6, 6, 5, 4]
    assert result.widths == {"conv1": 1, "conv2": 2, "fc1": 4}
    assert result.original_widths == {"conv1": 3, "conv2": 4, "fc1": 6}
    for _, row in t.iterrows():
        shape = {"c1": row["conv1"], "c2": row["conv2"], "f1": row["fc1"]}
        assert row["flops"] == prune.fashion_cnn_flops(**shape, k2=3, input_shape=(1, 12, 12))
    assert t["val_accuracy"].iloc[0] == t["test_accuracy"].iloc[0] == 1.0
    assert model.conv1.out_channels == 3  # the input model is not changed


def test_round_to_removes_the_weakest_units_down_to_the_next_multiple():
    model = small_cnn(seed=5, f1=10)
    data = bundle_labelled_by(model, n=32)
    result = prune.structured_prune(
        model, data, layers=["fc1", "conv2"], round_to={"fc1": 4}, accuracy_floor=0.0,
        progress=False,
    )  # fmt: skip
    t = result.trajectory
    assert list(t["fc1"]) == [10, 8, 4, 4, 4, 4]  # 10 -> 8 -> 4, then no multiple of 4 is left
    assert list(t["conv2"]) == [4, 4, 4, 3, 2, 1]  # a layer it omits goes one unit per step
    assert result.settings["round_to"] == {"fc1": 4, "conv2": 1}
    weakest = prune.unit_importance(model.fc1, "l2").argsort()[:2].sort().values.tolist()
    assert t["removed_units"].iloc[1] == weakest
    assert len(t["removed_units"].iloc[2]) == 4
    kept = sorted(set(range(10)) - set(weakest))
    x = torch.randn(3, 1, 12, 12)
    with torch.no_grad():  # the first step's model is the slim one that keeps the other units
        first = prune.structured_prune(
            model, data, layers=["fc1"], round_to=4, max_removals=2, accuracy_floor=0.0,
            progress=False,
        ).model  # fmt: skip
        assert torch.allclose(first(x), prune.slim(model, "fc1", kept)(x), atol=1e-6)


def test_max_removals_counts_units_and_bad_round_to_is_refused():
    model = small_cnn(seed=5, f1=10)
    data = bundle_labelled_by(model, n=32)
    result = prune.structured_prune(
        model, data, layers=["fc1"], round_to=4, max_removals=5, accuracy_floor=0.0,
        progress=False,
    )  # fmt: skip
    assert result.widths == {"fc1": 8}  # 8 -> 4 would make 6 removals
    none = prune.structured_prune(model, data, max_removals=0, accuracy_floor=0.0, progress=False)
    assert list(none.trajectory["phase"]) == ["start"]
    for bad in (0, 2.5, True, {"fc2": 4}, {"fc1": 0}):
        with pytest.raises(CourseError, match="round_to"):
            prune.structured_prune(model, data, round_to=bad, progress=False)


def test_structured_prune_stops_at_the_flop_target():
    model = small_cnn(seed=5, c1=4, c2=6, f1=8)
    data = bundle_labelled_by(model, n=32)
    result = prune.structured_prune(
        model, data, accuracy_floor=0.0, flop_ratio_target=2.0, progress=False
    )
    flops = list(result.trajectory["flops"])
    assert flops[0] / flops[-1] >= 2.0 > flops[0] / flops[-2]  # the first model past the target
    with pytest.raises(CourseError, match="flop_ratio_target"):
        prune.structured_prune(model, data, flop_ratio_target=0.5, progress=False)


def test_structured_prune_stops_a_layer_below_the_floor():
    model = small_cnn(seed=6, c1=6)
    data = bundle_labelled_by(model, n=128)
    result = prune.structured_prune(
        model, data, layers=["conv1"], accuracy_floor=1.0, progress=False
    )
    t = result.trajectory
    assert t["phase"].iloc[-1] == "rejected" and t["val_accuracy"].iloc[-1] < 1.0
    assert (t.loc[t["phase"] == "prune", "val_accuracy"] == 1.0).all()
    accepted = t[t["phase"] != "rejected"].iloc[-1]
    assert result.widths["conv1"] == accepted["conv1"] == result.model.conv1.out_channels


def scripted_accuracies(monkeypatch, values):
    """Make evaluation return ``values`` in turn (the same for every split)."""
    script = iter(values)
    current = {}

    def evaluate(model, loader):
        if model not in current.values() or loader is current.get("first"):
            current.update(model=model, first=loader, value=next(script))
        return 0.0, current["value"]

    monkeypatch.setattr(prune, "evaluate", evaluate)


def test_a_removal_below_the_floor_is_retrained_and_kept_when_it_recovers(monkeypatch):
    model = small_cnn(seed=7)
    data = bundle_labelled_by(model, n=32)
    calls = []
    monkeypatch.setattr(prune, "fit", lambda net, data, config, **kw: calls.append(config))
    # start, removal 1 (below), after retraining (recovered), removal 2, removal 3 (below),
    # after retraining (still below: rejected)
    scripted_accuracies(monkeypatch, [0.95, 0.80, 0.92, 0.91, 0.70, 0.85])
    config = TrainConfig(model="fashion_cnn", dataset="fashion-mnist", epochs=1, batch_size=32)
    tune = finetune_config(config, epochs=2, lr=0.001)
    assert (tune.epochs, tune.lr, tune.step_size) == (2, 0.001, 0)
    result = prune.structured_prune(
        model, data, layers=["fc1"], accuracy_floor=0.9, finetune=tune, progress=False
    )
    t = result.trajectory
    assert list(t["phase"]) == [
        "start", "below_floor", "finetune", "prune", "below_floor", "rejected"
    ]  # fmt: skip
    assert list(t["fc1"]) == [6, 5, 5, 4, 3, 3]
    assert list(t["val_accuracy"]) == [0.95, 0.80, 0.92, 0.91, 0.70, 0.85]
    assert calls == [tune, tune]
    assert result.widths == {"fc1": 4}
    with pytest.raises(CourseError):
        finetune_config(config, epochs=0)


def test_without_finetuning_the_first_removal_below_the_floor_ends_the_layer(monkeypatch):
    model = small_cnn(seed=7)
    data = bundle_labelled_by(model, n=32)
    scripted_accuracies(monkeypatch, [0.95, 0.93, 0.80, 0.99, 0.5])
    result = prune.structured_prune(
        model, data, layers=["fc1", "conv2"], accuracy_floor=0.9, progress=False
    )
    phases = ["start", "prune", "rejected", "prune", "rejected"]
    assert list(result.trajectory["phase"]) == phases
    assert result.widths == {"fc1": 5, "conv2": 3}


def test_cheapest_order_removes_the_least_accuracy_per_flop_across_layers(monkeypatch):
    model = small_cnn(seed=7)  # (c1, c2, f1) = (3, 4, 6) on 12x12 images

    def evaluate(net, loader):  # conv2 units cost 0.02 each, fc1 0.01, conv1 0.3
        c1, c2, f1 = prune.layer_widths(net, ["conv1", "conv2", "fc1"]).values()
        return 0.0, 1.0 - 0.3 * (3 - c1) - 0.02 * (4 - c2) - 0.01 * (6 - f1)

    monkeypatch.setattr(prune, "evaluate", evaluate)
    data = bundle_labelled_by(model, n=8)
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
    model = small_cnn(seed=7, f1=10)  # (c1, c2, f1) = (3, 4, 10) on 12x12 images

    def evaluate(net, loader):  # a conv2 channel costs 0.02 accuracy, an fc1 neuron 0.01
        c2, f1 = prune.layer_widths(net, ["conv2", "fc1"]).values()
        return 0.0, 1.0 - 0.02 * (4 - c2) - 0.01 * (10 - f1)

    monkeypatch.setattr(prune, "evaluate", evaluate)
    data = bundle_labelled_by(model, n=8)
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
        model, bundle_labelled_by(model, n=16, shape=(1, 28, 28)), layers=["fc1"],
        order="latency", accuracy_floor=0.0, max_removals=60, progress=False,
    )  # fmt: skip
    t = result.trajectory
    assert len(t) > 1 and (t["latency_ms"] > 0).all() and t["fc1"].iloc[-1] >= 240
    saved = -t["latency_ms"].diff().iloc[1:]  # the estimates come from the one table's timings
    assert (saved >= 0.03 * t["latency_ms"].iloc[0] - 1e-9).all()
    assert result.settings["latency"] == costs.LatencyTable().settings()
    assert result.settings["order"] == "latency" and result.settings["latency_step"] == 0.03


# --- costs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(12, 16, 100, 3, 5), (1, 7, 72, 3, 5), (5, 3, 20, 5, 3), (16, 1, 1, 3, 3)]
)
def test_flop_formula_matches_the_counter(shape):
    c1, c2, f1, k1, k2 = shape
    net = build_model("fashion_cnn", (1, 28, 28), 10, c1=c1, k1=k1, c2=c2, k2=k2, f1=f1)
    counted = costs.count_flops(net, (1, 28, 28))
    assert prune.fashion_cnn_flops(c1, c2, f1, k1=k1, k2=k2) == counted
    assert prune.fashion_cnn_flops(**prune.fashion_cnn_shape(net)) == counted


def test_seed_001_convention():
    # seed 001's formula written out for (12, 16, 100):
    # 26²·9·12 + 2·12·26² + 22²·12·25·16 + 2·16·22² + 100·22²·16 + 2·100 + 100·10
    expected = 73008 + 16224 + 2323200 + 15488 + 774400 + 200 + 1000
    assert prune.fashion_cnn_flops(12, 16, 100, convention="seed001") == expected
    with pytest.raises(CourseError):
        prune.fashion_cnn_flops(12, 16, 100, convention="macs")
    with pytest.raises(CourseError):
        prune.fashion_cnn_flops(0, 16, 100)


def test_cost_table_counts_and_formulas():
    original = build_model("fashion_cnn", (1, 28, 28), 10)
    pruned = prune.remove_unit(original, "conv1", 0)
    table = prune.cost_table({"original": original, "pruned": pruned}, (1, 28, 28))
    assert list(table["c1"]) == [12, 11]
    assert (table["flops"] == table["formula_torch"]).all()
    assert table.loc["pruned", "formula_seed001"] == prune.fashion_cnn_flops(
        11, 16, 100, convention="seed001"
    )
    assert table.loc["original", "params"] == costs.count_params(original)
    lenet = prune.cost_table({"lenet5": build_model("lenet5")}, (1, 28, 28))
    assert "formula_torch" not in lenet and not prune.is_fashion_cnn(build_model("lenet5"))


def test_evaluation_subset_cuts_validation_and_test_only():
    model = small_cnn()
    data = bundle_labelled_by(model, n=20)
    cut = evaluation_subset(data, 7)
    assert (len(cut.train), len(cut.val), len(cut.test)) == (20, 7, 7)
    assert torch.equal(cut.val.images, data.val.images[:7])
    assert evaluation_subset(data, None) is data
    assert len(evaluation_subset(data, 100).test) == 20
    with pytest.raises(CourseError):
        evaluation_subset(data, 0)


def test_speedup_reports_both_timings_and_the_flop_ratio():
    original = build_model("fashion_cnn", (1, 28, 28), 10)
    pruned = build_model("fashion_cnn", (1, 28, 28), 10, c1=2, c2=4, f1=20)
    result = prune.speedup(
        original, pruned, (1, 28, 28), batch_size=8, repeats=2, warmup=1, images=20
    )
    expected_ratio = prune.fashion_cnn_flops(12, 16, 100) / prune.fashion_cnn_flops(2, 4, 20)
    assert result["flop_ratio"] == pytest.approx(expected_ratio)
    assert result["speedup"] == pytest.approx(result["original_s"] / result["pruned_s"])
    assert result["threads"] == 1 and result["batch_size"] == 8
    assert result["pruned_images_s"] == pytest.approx(result["pruned_s"] * 20 / 8)
    assert result["steady_heap"] and result["pruned_conv_backend"] in costs.CONV_BACKENDS


def test_time_by_layer_sets_each_layers_flop_ratio_beside_its_speedup():
    original = build_model("fashion_cnn", (1, 28, 28), 10)
    pruned = build_model("fashion_cnn", (1, 28, 28), 10, c1=2, c2=4, f1=20)
    timing = prune.speedup(original, pruned, (1, 28, 28), batch_size=4, repeats=2, rounds=1)
    table = prune.time_by_layer(original, pruned, (1, 28, 28), timing)
    assert table.loc["conv2", "flop_ratio"] == pytest.approx(12 * 16 / (2 * 4))
    assert table.loc["fc1", "flop_ratio"] == pytest.approx(16 * 100 / (4 * 20))
    assert table.loc["total", "flop_ratio"] == pytest.approx(timing["flop_ratio"])
    assert table.loc["total", "ms_pruned"] == pytest.approx(table["ms_pruned"].iloc[:-1].sum())
    speedup = table.loc["conv2", "ms_original"] / table.loc["conv2", "ms_pruned"]
    assert table.loc["conv2", "speedup"] == pytest.approx(speedup)
    with pytest.raises(CourseError, match="same layers"):
        prune.time_by_layer(original, nn.Sequential(nn.Flatten()), (1, 28, 28), timing)
