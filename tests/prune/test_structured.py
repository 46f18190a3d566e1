"""The structured pruning loop: it obeys its floor, its removal limit, its FLOP target and its
width multiples, retrains a removal below the floor when asked, and records every step."""

import pytest
import torch
from factories import labelled_by, small_fashion_cnn

from course_lib import costs, prune
from course_lib.errors import CourseError
from course_lib.prune import structured
from course_lib.train import TrainConfig, finetune_config

torch.set_num_threads(1)


def test_structured_prune_to_the_floor_and_trajectory_costs():
    model = small_fashion_cnn(seed=5)
    data = labelled_by(model, n=64)
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
        assert row["flops"] == costs.fashion_cnn_flops(**shape, k2=3, input_shape=(1, 12, 12))
    assert t["val_accuracy"].iloc[0] == t["test_accuracy"].iloc[0] == 1.0
    assert model.conv1.out_channels == 3  # the input model is not changed


def test_max_removals_by_layer_prunes_each_layer_to_its_own_width():
    """Seed 001 pruned its net to (c1, c2, f1) = (1, 7, 72): a count per layer reaches such
    widths exactly; a layer it omits has no limit."""
    model = small_fashion_cnn(seed=5)
    data = labelled_by(model, n=64)
    limits = {"conv1": 1, "fc1": 3}
    result = prune.structured_prune(
        model, data, accuracy_floor=0.0, max_removals=limits, progress=False
    )
    assert result.widths == {"conv1": 2, "conv2": 1, "fc1": 3}
    for bad in ({"fc2": 1}, {"conv1": -1}, {"conv1": 1.5}):
        with pytest.raises(CourseError, match="max_removals"):
            prune.PruneSettings(max_removals=bad).check(model, data)


def test_settings_object_and_keywords_agree_and_unknown_settings_are_refused():
    model = small_fashion_cnn(seed=5)
    data = labelled_by(model, n=32)
    settings = prune.PruneSettings(accuracy_floor=0.0, max_removals=1)
    by_object = prune.structured_prune(model, data, settings, progress=False)
    by_name = prune.structured_prune(
        model, data, accuracy_floor=0.0, max_removals=1, progress=False
    )
    assert by_object.to_dict() == by_name.to_dict()
    changed = prune.structured_prune(model, data, settings, layers=["fc1"], progress=False)
    assert changed.widths == {"fc1": 5} and settings.layers == ("conv1", "conv2", "fc1")
    with pytest.raises(CourseError, match="no setting"):
        prune.structured_prune(model, data, accuracy_flor=0.5, progress=False)
    for bad in ({"accuracy_floor": 1.5}, {"max_removals": -1}, {"batch_size": 0}):
        with pytest.raises(CourseError):
            prune.PruneSettings(**bad).check(model, data)


def test_round_to_removes_the_weakest_units_down_to_the_next_multiple():
    model = small_fashion_cnn(seed=5, f1=10)
    data = labelled_by(model, n=32)
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
    model = small_fashion_cnn(seed=5, f1=10)
    data = labelled_by(model, n=32)
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
    model = small_fashion_cnn(seed=5, c1=4, c2=6, f1=8)
    data = labelled_by(model, n=32)
    result = prune.structured_prune(
        model, data, accuracy_floor=0.0, flop_ratio_target=2.0, progress=False
    )
    flops = list(result.trajectory["flops"])
    assert flops[0] / flops[-1] >= 2.0 > flops[0] / flops[-2]  # the first model past the target
    with pytest.raises(CourseError, match="flop_ratio_target"):
        prune.structured_prune(model, data, flop_ratio_target=0.5, progress=False)


def test_structured_prune_stops_a_layer_below_the_floor():
    model = small_fashion_cnn(seed=6, c1=6)
    data = labelled_by(model, n=128)
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

    monkeypatch.setattr(structured, "evaluate", evaluate)


def test_a_removal_below_the_floor_is_retrained_and_kept_when_it_recovers(monkeypatch):
    model = small_fashion_cnn(seed=7)
    data = labelled_by(model, n=32)
    calls = []
    monkeypatch.setattr(structured, "fit", lambda net, data, config, **kw: calls.append(config))
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
    model = small_fashion_cnn(seed=7)
    data = labelled_by(model, n=32)
    scripted_accuracies(monkeypatch, [0.95, 0.93, 0.80, 0.99, 0.5])
    result = prune.structured_prune(
        model, data, layers=["fc1", "conv2"], accuracy_floor=0.9, progress=False
    )
    phases = ["start", "prune", "rejected", "prune", "rejected"]
    assert list(result.trajectory["phase"]) == phases
    assert result.widths == {"fc1": 5, "conv2": 3}


def test_finetune_plan_and_the_final_finetune_hand_back_an_eval_model_on_the_cpu(monkeypatch):
    calls = []
    monkeypatch.setattr(structured, "fit", lambda net, data, config, **kw: calls.append(kw))
    config = TrainConfig(model="fashion_cnn", dataset="fashion-mnist", epochs=1, batch_size=32)
    assert prune.finetune_plan(config, 0) is None
    plan = prune.finetune_plan(config, 3, 0.002)
    assert plan == finetune_config(config, 3, 0.002)
    model = small_fashion_cnn().train()
    data = labelled_by(model, n=8)
    assert prune.finetune_model(model, data, None) is model and not model.training
    assert calls == []
    tuned = prune.finetune_model(model.train(), data, plan, progress=False)
    assert tuned is model and not tuned.training and tuned.conv1.weight.device.type == "cpu"
    assert calls == [{"progress": False, "eval_splits": ()}]
