"""course_lib.runs.tracking: what of a metrics.json goes to MLflow, and where the store is."""

from course_lib.runs.tracking import flatten_metrics, tracking_uri


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
