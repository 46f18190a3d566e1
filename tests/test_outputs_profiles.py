import json

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import profiles
from course_lib.errors import CourseError
from course_lib.outputs import RunOutputs
from course_lib.profiles import resolve


def test_metrics_are_plain_json_written_once(tmp_path):
    out = RunOutputs(tmp_path / "run", "01_training")
    out.save_figure(plt.figure(), "curve")
    out.write_metrics({"accuracy": np.float32(0.5), "sizes": np.arange(3)})
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == {
        "accuracy": 0.5,
        "sizes": [0, 1, 2],
        "figures": ["curve"],
    }
    with pytest.raises(CourseError, match="earlier run"):
        RunOutputs(tmp_path / "run", "01_training")


def test_nan_metrics_are_refused_and_nothing_is_written(tmp_path):
    out = RunOutputs(tmp_path, "x")
    with pytest.raises(CourseError, match="non-finite"):
        out.write_metrics({"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_no_output_dir_means_a_fresh_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path))
    a, b = RunOutputs(None, "nb"), RunOutputs(None, "nb")
    assert a.path != b.path and a.path.parent == tmp_path


def test_profiles_resolve_with_overrides_and_env(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "default")
    names = profiles.load_profile_file("01_training")["default"]
    given = dict.fromkeys(names) | {"profile": None, "divergence_epochs": 7, "unrelated": 1}
    settings = resolve("01_training", given)
    assert settings.profile == "default" and settings.grid_epochs == 3
    assert settings.divergence_epochs == 7 and not hasattr(settings, "unrelated")
    with pytest.raises(CourseError, match="lacks the profile setting.*grid_epochs"):
        resolve("01_training", {k: v for k, v in given.items() if k != "grid_epochs"})
    with pytest.raises(CourseError, match="Unknown profile"):
        resolve("01_training", given | {"profile": "huge"})


def test_records_turn_missing_values_into_none():
    import pandas as pd

    from course_lib.outputs import records

    table = pd.DataFrame({"lr": [1.0, 0.1], "val_accuracy": [float("nan"), 0.8]})
    assert records(table) == [{"lr": 1.0, "val_accuracy": None}, {"lr": 0.1, "val_accuracy": 0.8}]
