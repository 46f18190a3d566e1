"""course sweep: grids checked before anything runs; runs on a local Dask cluster where a failed
run or a dead worker is recorded and the rest go on; resumed without rerunning finished runs;
every run in MLflow."""

import json
import time
from pathlib import Path

import pytest
import yaml

from course_lib import profiles
from course_lib.errors import CourseError
from course_lib.runs import sweep as sweep_module
from course_lib.runs.cli import main
from course_lib.runs.sweep import results_table
from course_lib.runs.sweep_file import load_sweep

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"


def write_grid(folder: Path, spec: dict) -> Path:
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_grid_is_every_combination_of_checked_values(tmp_path):
    grid = write_grid(
        tmp_path,
        {"notebook": "01", "grid": {"x": ["1e-3", 2], "steps": [1, 2, 3], "label": ["b"]}},
    )
    sweep = load_sweep(grid, FIXTURES, profile="smoke")
    assert (
        sweep.name == "grid" and sweep.profile == "smoke" and sweep.notebook.stem == "01_quadratic"
    )
    assert len(sweep.parameter_sets) == 6
    assert sweep.parameter_sets[0] == {"label": "b", "steps": 1, "x": 0.001}
    assert {(p["x"], p["steps"]) for p in sweep.parameter_sets} == {
        (x, s) for x in (0.001, 2.0) for s in (1, 2, 3)
    }
    keys = {sweep.key(p) for p in sweep.parameter_sets}
    assert len(keys) == 6 and keys == {sweep.key(dict(p)) for p in sweep.parameter_sets}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"notebook": "01", "grid": {"x": []}}, "the sweep is empty"),
        ({"notebook": "01", "grid": {"x": 0.1}}, r"grid\['x'\] must be a list of values, got 0.1"),
        ({"notebook": "01", "grid": {"x": [1], "label": "b"}}, r"write `label: \['b'\]`"),
        ({"notebook": "01", "grid": {"x": {"a": 1}}}, r"grid\['x'\] must be a list of values"),
        ({"notebook": "01", "grid": [1, 2]}, "`grid` must map parameter names to lists"),
        (
            {"notebook": "01", "grid": {"x": list(range(200)), "steps": list(range(1, 101))}},
            "the grid makes 20000 runs, more than 10000: sweep fewer values",
        ),
        ({"notebook": "01", "runs": []}, "the sweep is empty"),
        ({"notebook": "01", "grid": {"xx": [1]}}, "01_quadratic has no parameter 'xx'"),
        ({"notebook": "01", "grid": {"steps": [1, "two"]}}, "parameter steps takes int"),
        ({"notebook": "01", "runs": [{"x": 1}], "grid": {"x": [2]}}, "exactly one of `grid`"),
        (
            {"notebook": "01", "grid": {"x": [1]}, "metric": "score"},
            r"unknown key\(s\) \['metric'\]",
        ),
        ({"notebook": "pruning", "grid": {"x": [1]}}, "'pruning' is not a notebook"),
        ({"notebook": "01", "runs": [{"x": 1}, {"x": 1.0}]}, "some parameter sets appear twice"),
        ({"notebook": "01", "grid": {"output_dir": ["a"]}}, "output_dir is set by course"),
        ({"notebook": "01", "grid": {"x": [1]}, "mode": "best"}, "`mode` is max or min"),
        ({"notebook": "01", "grid": {"x": [1]}, "top": "all"}, "`top` is how many best runs"),
        ({"notebook": "01", "grid": {"x": [1]}, "name": "../up"}, "`name` '../up' must be"),
    ],
)
def test_bad_sweep_files_are_refused(tmp_path, spec, message):
    with pytest.raises(CourseError, match=message):
        load_sweep(write_grid(tmp_path, spec), FIXTURES)


def test_an_old_parameter_name_is_passed_on_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(profiles, "RENAMED", {"01_quadratic": {"where": "x"}})
    said = []
    grid = write_grid(tmp_path, {"notebook": "01", "grid": {"where": ["1e-3", 2]}})
    sweep = load_sweep(grid, FIXTURES, warn=said.append)
    assert sweep.parameter_sets == [{"where": 0.001}, {"where": 2.0}]
    assert len(said) == 2 and all("'where' is now called 'x'" in line for line in said)


def test_an_unreachable_scheduler_is_one_line_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_NETWORK_TIMEOUT", "2")
    grid = write_grid(tmp_path, {"notebook": "01", "grid": {"x": [1, 2]}})
    argv = ["sweep", str(grid), "--notebooks-dir", str(FIXTURES), "--runs-dir", str(tmp_path / "r")]
    assert main([*argv, "--no-track", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("course: error: Cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert not (tmp_path / "r" / "sweeps").exists()


def test_sweep_records_failures_resumes_and_tracks_every_run(tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    fixed = tmp_path / "fixed"  # the failing runs succeed once this file exists
    grid = write_grid(
        tmp_path,
        {
            "notebook": "quadratic",
            "profile": "smoke",
            "name": "resume",
            "parameters": {"steps": 2, "unless_exists": str(fixed)},
            "runs": [
                {"x": 1.0},
                {"x": 2.0},
                {"x": 3.5},
                {"x": 0.5, "fail": True},
                {"x": 0.7, "crash_worker": True},
            ],
            "rank_by": "score",
        },
    )
    runs = tmp_path / "runs"
    argv = ["sweep", str(grid), "--notebooks-dir", str(FIXTURES), "--runs-dir", str(runs)]
    argv += ["--workers", "2", "--threads-per-run", "1"]
    folder = runs / "sweeps" / "resume"

    assert main(argv) == 1
    sweep = load_sweep(grid, FIXTURES)
    first = results_table(sweep, folder).set_index("x")
    assert first["status"].to_dict() == {
        2.0: "ok",
        1.0: "ok",
        3.5: "ok",
        0.5: "failed",
        0.7: "failed",
    }
    assert first.loc[[2.0, 1.0, 3.5], "score"].tolist() == [0.0, -1.0, -2.25]  # best first
    status = {
        x: json.loads((folder / run / "status.json").read_text()) for x, run in first["run"].items()
    }
    assert status[0.5]["error"]["ename"] == "ValueError" and status[0.5]["error"]["cell"] == 4
    assert status[0.7]["error"]["ename"] == "KilledWorker"
    finished = {
        x: (folder / first.loc[x, "run"] / "status.json").stat().st_mtime_ns
        for x in (1.0, 2.0, 3.5)
    }
    for x in (1.0, 2.0, 3.5):  # each run's kernel got the thread limit
        metrics = json.loads((folder / first.loc[x, "run"] / "metrics.json").read_text())
        assert metrics["omp_threads"] == "1" and metrics["profile"] == "smoke"

    fixed.touch()
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "5 runs of 01_quadratic, 3 finished before, 2 to run" in err
    top = out.splitlines()
    assert top[0] == "top 5 by score (max):" and top[1].split() == [
        "run",
        "x",
        "fail",
        "crash_worker",
        "score",
    ]
    assert top[-1] == f"results: {folder / 'results.csv'}"
    table = results_table(sweep, folder)
    assert (table["status"] == "ok").all() and table["x"].tolist()[:3] == [2.0, 1.0, 0.7]
    assert table["score"].tolist()[:3] == pytest.approx([0.0, -1.0, -1.69])
    for x, mtime in finished.items():  # not rerun
        run = table.set_index("x").loc[x, "run"]
        assert (folder / run / "status.json").stat().st_mtime_ns == mtime
    for x in (0.5, 0.7):  # the failed attempts are kept beside the new ones
        assert (folder / f"{first.loc[x, 'run']}.failed-1" / "status.json").is_file()
    written = (folder / "results.csv").read_text().splitlines()
    assert written[0].startswith("run,status,seconds,") and len(written) == 6

    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("01_quadratic")
    tracked = client.search_runs([experiment.experiment_id], max_results=100)
    assert len(tracked) == 7  # 5 runs, then the 2 retried ones
    states = sorted(r.info.status for r in tracked)
    assert states == ["FAILED"] * 2 + ["FINISHED"] * 5
    scores = sorted(r.data.metrics["score"] for r in tracked if r.info.status == "FINISHED")
    assert scores == pytest.approx(sorted([0.0, -1.0, -2.25, -2.25, -1.69]))
    assert all(
        r.data.params["steps"] == "2" and r.data.tags["course.kind"] == "sweep" for r in tracked
    )
    failed = [r for r in tracked if r.info.status == "FAILED"]
    assert {r.data.tags["course.error"].split(":")[0] for r in failed} == {
        "In [4] ValueError",
        "KilledWorker",
    }
    at_one = next(r for r in tracked if r.data.metrics.get("score") == -1.0)
    artifacts = {a.path for a in client.list_artifacts(at_one.info.run_id)}
    assert {"01_quadratic.ipynb", "metrics.json", "curve.png", "status.json"} <= artifacts
    curve = client.get_metric_history(at_one.info.run_id, "curve")
    assert [(m.step, m.value) for m in curve] == [(0, -0.5), (1, -1.0)]


def test_a_scheduler_that_accepts_and_never_answers_is_refused_within_the_bound(
    tmp_path, monkeypatch, capsys, silent_server
):
    host, port = silent_server
    monkeypatch.setenv("COURSE_NETWORK_TIMEOUT", "1")
    grid = write_grid(tmp_path, {"notebook": "01", "grid": {"x": [1.0, 2.0]}})
    argv = ["sweep", str(grid), "--notebooks-dir", str(FIXTURES), "--no-track"]
    started = time.perf_counter()
    status = main(
        [*argv, "--runs-dir", str(tmp_path / "runs"), "--scheduler", f"tcp://{host}:{port}"]
    )
    assert status == 2 and time.perf_counter() - started < 20
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith(
        f"course: error: Cannot reach the Dask scheduler at tcp://{host}:{port} within 1 s"
    )
    assert "start it (`dask scheduler`)" in error
    assert not list((tmp_path / "runs").rglob("status.json"))


def test_a_run_whose_status_was_cut_off_is_reported_damaged_and_run_again(tmp_path):
    grid = write_grid(tmp_path, {"notebook": "01", "grid": {"x": [1.0, 2.0]}})
    sweep = load_sweep(grid, FIXTURES, profile="smoke")
    folder = sweep.folder(tmp_path)
    for parameters, text in zip(
        sweep.parameter_sets, ['{"notebook": "01_qua', "[1, 2]"], strict=True
    ):
        (folder / sweep.key(parameters)).mkdir(parents=True)
        (folder / sweep.key(parameters) / "status.json").write_text(text)
    table = results_table(sweep, folder)
    assert table["status"].tolist() == ["damaged", "damaged"]
    assert not any(sweep_module._finished(folder / sweep.key(p)) for p in sweep.parameter_sets)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"norm": ["l1", "l3"]}, "03_pruning: norm must be one of 'l1', 'l2', got 'l3'"),
        ({"model": ["vgg_small", "resnet_small"]}, "03_pruning: model must be one of"),
        ({"scan_layers": [["conv1"], ["conv9"]]}, "03_pruning: scan_layers holds 'conv9', not a"),
    ],
)
def test_a_sweep_of_a_course_notebook_is_checked_against_its_spec(tmp_path, grid, message):
    path = write_grid(tmp_path, {"notebook": "03", "grid": grid})
    with pytest.raises(CourseError, match=f"grid.yaml: {message}"):
        load_sweep(path, Path(__file__).parents[2] / "notebooks", profile="smoke")


def test_the_seed_001_sweep_is_every_combination_of_its_grid_and_passes_notebook_01(tmp_path):
    """sweeps/seed001_grid.yaml: seed 001's filter sizes, channels, FC sizes, batch sizes,
    learning rates and momenta, with the initialisation: 3,456 runs of notebook 01 ranked by test
    accuracy. A slice of it (two networks, one batch size) loads as the whole file would."""
    root = Path(__file__).parents[2]
    spec = profiles.read_yaml(root / "sweeps" / "seed001_grid.yaml", "sweep file")
    grid = spec["grid"]
    nets = {(n["c1"], n["k1"], n["c2"], n["k2"], n["f1"]) for n in grid["model_kwargs"]}
    assert len(nets) == len(grid["model_kwargs"]) == 72
    assert nets == {
        (c1, k1, c2, k2, f1)
        for c1 in (8, 12, 16) for k1 in (3, 5) for c2 in (8, 12, 16) for k2 in (3, 5)
        for f1 in (50, 100)
    }  # fmt: skip
    assert grid["batch_size"] == [64, 128, 256, 512] and grid["lr"] == [0.1, 0.01, 0.001]
    assert grid["momentum"] == [0.9, 0.99] and grid["init"] == ["xavier_normal", "normal"]
    assert (spec["rank_by"], spec["mode"], spec["top"]) == ("test_accuracy", "max", 3)
    part = {**spec, "grid": {**grid, "model_kwargs": grid["model_kwargs"][:2], "batch_size": [64]}}
    sweep = load_sweep(write_grid(tmp_path, part), root / "notebooks")
    assert sweep.notebook.stem == "01_training" and len(sweep.parameter_sets) == 2 * 3 * 2 * 2
    first = sweep.parameter_sets[0]
    assert first["model_kwargs"] == {"c1": 8, "k1": 3, "c2": 8, "k2": 3, "f1": 50}
    assert first["epochs"] == 40 and first["comparisons"] == [] and first["grid_subset"] == 1000
