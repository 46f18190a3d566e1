"""course_lib.runs.tracking: what of a metrics.json goes to MLflow, and where the store is."""

import time
from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.runs.cli import main
from course_lib.runs.tracking import Tracker, flatten_metrics, tracking_uri

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"


def test_metrics_are_flattened_into_scalars_and_series():
    scalars, series = flatten_metrics(
        {
            "test_accuracy": 0.9,
            "params": 266610,
            "diverged": True,
            "ledger": {"flops": 5.0, "by_layer": {"fc1": 2}},
            "history": {"loss": [2.0, 1.5, float("nan")], "val_accuracy": [0.5, 0.75]},
            "grid": [{"lr": 0.1}],
            "model": "lenet300",
            "bad": float("inf"),
            "empty": [],
        }
    )
    assert scalars == {
        "test_accuracy": 0.9,
        "params": 266610.0,
        "diverged": 1.0,
        "ledger.flops": 5.0,
        "ledger.by_layer.fc1": 2.0,
    }
    assert series == {"history.val_accuracy": [0.5, 0.75]}  # a series with NaN is left out


def test_the_store_is_a_sqlite_file_in_the_runs_folder_unless_the_environment_says(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path / "runs") == f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking_uri(tmp_path / "runs") == "http://mlflow.example:5000"


def test_an_mlflow_server_that_never_answers_is_refused_before_any_run(
    tmp_path, monkeypatch, capsys, silent_server
):
    host, port = silent_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://{host}:{port}")
    monkeypatch.setenv("COURSE_NETWORK_TIMEOUT", "1")
    for name in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)  # the kit bounds them when they are not set
    started = time.perf_counter()
    with pytest.raises(CourseError, match=f"^The MLflow server at http://{host}:{port} did not"):
        Tracker(tmp_path / "runs")
    assert time.perf_counter() - started < 20
    argv = ["run", "--notebooks-dir", str(FIXTURES), "--runs-dir", str(tmp_path / "runs")]
    assert main(argv) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("course: error: The MLflow server at") and "--no-track" in error
    assert not list((tmp_path / "runs").glob("*-default"))
