import pytest

from course_lib.data import load_data
from course_lib.errors import CourseError
from course_lib.explore import (
    grid_configs,
    labelled,
    one_at_a_time,
    run_grid,
    settings_of,
    top_configurations,
    top_table,
)
from course_lib.train import TrainConfig, sgd_epoch


def test_grid_mixes_training_settings_and_model_options():
    base = TrainConfig(model="fashion_cnn")
    configs = grid_configs(base, {"lr": [0.1, 0.01], "c1": [8, 12, 16]})
    assert len(configs) == 6
    assert {(c.lr, c.model_kwargs["c1"]) for c in configs} == {
        (lr, c1) for lr in (0.1, 0.01) for c1 in (8, 12, 16)
    }
    with pytest.raises(CourseError, match="Unknown grid settings"):
        grid_configs(base, {"learning_rate": [0.1]})
    with pytest.raises(CourseError, match="non-empty list"):
        grid_configs(base, {"lr": []})


def test_run_grid_ranks_runs_and_compares_one_setting(data_root):
    data = load_data("mnist", data_root, val_size=20)
    base = TrainConfig(model="lenet300", dataset="mnist", epochs=2, batch_size=25)
    table, histories = run_grid(base, {"lr": [1e4, 0.05], "momentum": [0.0, 0.9]}, data, False)
    assert len(table) == len(histories) == 4
    assert table.loc[table["lr"] == 1e4, "diverged"].all()
    best = top_configurations(table, 2)
    assert not best["diverged"].any() and best["val_accuracy"].is_monotonic_decreasing
    runs = one_at_a_time(table, histories, "lr")
    assert set(runs) == {"lr=10000.0", "lr=0.05"}


def test_a_grid_row_shows_the_runs_learning_rate_not_its_last_epochs(data_root):
    """A StepLR schedule decays the learning rate of the last epoch; the row keeps the setting."""
    data = load_data("mnist", data_root, val_size=20)
    base = TrainConfig(model="lenet300", dataset="mnist", epochs=2, batch_size=25, step_size=1)
    table, histories = run_grid(base, {"lr": [0.05, 0.01]}, data, False)
    assert table["lr"].tolist() == [0.05, 0.01]
    assert [h.epochs["lr"].iloc[-1] for h in histories] == pytest.approx([0.005, 0.001])
    assert sorted(top_table(table, 2).loc["lr"]) == [0.01, 0.05]


def test_run_grid_trains_with_a_students_epoch(data_root):
    data = load_data("mnist", data_root, val_size=20)
    base = TrainConfig(model="lenet300", dataset="mnist", epochs=1, batch_size=25)
    own, _ = run_grid(base, {"lr": [0.05]}, data, False)
    plugged, histories = run_grid(base, {"lr": [0.05]}, data, False, epoch=sgd_epoch)
    timings = ["seconds", "seconds_per_epoch"]
    assert own.drop(columns=timings).equals(plugged.drop(columns=timings))
    assert len(histories[0].steps) == 4


def test_one_at_a_time_varies_each_setting_alone_around_the_centre():
    """Seed 001's grid (with the initialisation) one factor at a time: the centre, then each
    value off the centre, 1 + 14 runs instead of the factorial's 3456."""
    base = TrainConfig(model="fashion_cnn", init="xavier_normal", batch_size=128)
    grid = {
        "c1": [8, 12, 16], "k1": [3, 5], "c2": [8, 12, 16], "k2": [3, 5], "f1": [50, 100],
        "batch_size": [64, 128, 256, 512], "lr": [0.1, 0.01, 0.001], "momentum": [0.9, 0.99],
        "init": ["xavier_normal", "normal"],
    }  # fmt: skip
    configs = grid_configs(base, grid, "one_at_a_time")
    assert len(grid_configs(base, grid)) == 3456
    # centre; c1 8, 16; k1 5; c2 8, 12; k2 3; f1 50; batch 64, 256, 512; lr 0.1, 0.001; 0.99; normal
    assert len(configs) == 1 + 2 + 1 + 2 + 1 + 1 + 3 + 2 + 1 + 1 == 15
    assert configs[0] == base
    changed = [
        {k: v for k, v in settings_of(c, grid).items() if v != settings_of(base, grid)[k]}
        for c in configs[1:]
    ]
    assert changed[:3] == [{"c1": 8}, {"c1": 16}, {"k1": 5}]
    assert changed[-1] == {"init": "normal"} and {"lr": 0.1} in changed
    assert all(len(c) == 1 for c in changed)
    with pytest.raises(CourseError, match="design must be one of"):
        grid_configs(base, grid, "latin")


def test_a_one_at_a_time_table_shows_every_setting_and_compares_around_its_centre(data_root):
    data = load_data("fashion-mnist", data_root, val_size=20)
    base = TrainConfig(model="fashion_cnn", epochs=1, batch_size=25, model_kwargs={"c1": 4})
    grid = {"lr": [0.05, 0.01], "f1": [8, 100]}
    table, histories = run_grid(base, grid, data, False, design="one_at_a_time")
    assert list(zip(table["lr"], table["f1"], strict=True)) == [(0.01, 100), (0.05, 100), (0.01, 8)]
    row = table.iloc[2]
    assert (row["c1"], row["k1"], row["c2"], row["k2"], row["f1"]) == (4, 3, 16, 5, 8)
    assert (row["batch_size"], row["momentum"], row["init"], row["max_epochs"]) == (
        25,
        0.9,
        "default",
        1,
    )
    assert {"train_accuracy", "test_accuracy", "test_loss"} <= set(table.columns)
    # around the centre (run 0), not the best run: f1=8 is compared with the centre's f1=100
    assert one_at_a_time(table, histories, "f1") == {"f1=100": histories[0], "f1=8": histories[2]}
    top = top_table(table, 2)
    assert list(top.columns) == top_configurations(table, 2).index.tolist()
    assert list(top.index) == [
        "c1", "k1", "c2", "k2", "f1", "batch_size", "lr", "momentum", "init", "max_epochs",
        "train_accuracy", "test_accuracy", "test_loss",
    ]  # fmt: skip
    assert list(labelled(table, histories)) == [
        "lr=0.01, f1=100",
        "lr=0.05, f1=100",
        "lr=0.01, f1=8",
    ]
