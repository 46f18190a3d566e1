import pytest

from course_lib.data import load_data
from course_lib.errors import CourseError
from course_lib.explore import grid_configs, one_at_a_time, run_grid, top_configurations
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


def test_run_grid_trains_with_a_students_epoch(data_root):
    data = load_data("mnist", data_root, val_size=20)
    base = TrainConfig(model="lenet300", dataset="mnist", epochs=1, batch_size=25)
    own, _ = run_grid(base, {"lr": [0.05]}, data, False)
    plugged, histories = run_grid(base, {"lr": [0.05]}, data, False, epoch=sgd_epoch)
    timings = ["seconds", "seconds_per_epoch"]
    assert own.drop(columns=timings).equals(plugged.drop(columns=timings))
    assert len(histories[0].steps) == 4
