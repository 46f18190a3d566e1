"""The `course` command: run (with MLflow and the report), bad input in one line, dashboard."""

import json
import re
import sys
import types
from pathlib import Path

import pytest

from course_lib.runs.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"


def test_course_run_records_a_failure_runs_the_rest_tracks_and_reports(
    tmp_path, monkeypatch, capsys
):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    runs = tmp_path / "runs"
    params = tmp_path / "params.yaml"
    params.write_text("seed: 2\necho:\n  rate: 0.5\n")
    common = ["--notebooks-dir", str(FIXTURES), "--runs-dir", str(runs)]

    assert main(["run", *common, "-p", "fail", "true", "--params-file", str(params)]) == 1
    out, err = capsys.readouterr()
    (folder,) = runs.glob("*-default")
    assert out.strip() == f"report: {folder / 'report.html'}"
    assert "[1/2] 01_quadratic FAILED In [4] ValueError: asked to fail" in err
    assert "passed 1/2 notebooks" in err
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["passed"] is False
    assert [(r["notebook"], r["status"]) for r in summary["runs"]] == [
        ("01_quadratic", "failed"),
        ("02_echo", "ok"),
    ]
    echo = json.loads((folder / "02_echo" / "metrics.json").read_text())
    assert echo == {"rate": 0.5, "words": 2, "seed": 2, "profile": "default", "figures": []}
    page = (folder / "report.html").read_text()
    assert "In [4] ValueError: asked to fail" in page and "02_echo/02_echo.ipynb" in page

    client = MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    (failed,) = client.search_runs([client.get_experiment_by_name("01_quadratic").experiment_id])
    (passed,) = client.search_runs([client.get_experiment_by_name("02_echo").experiment_id])
    assert failed.info.status == "FAILED" and failed.data.tags["course.kind"] == "run"
    assert failed.info.run_name == f"{folder.name}/01_quadratic"
    assert passed.info.status == "FINISHED"
    assert passed.data.metrics == {"rate": 0.5, "words": 2.0, "seed": 2.0}
    assert passed.data.params["rate"] == "0.5" and passed.data.params["profile"] == "default"
    assert passed.data.params["model"] == "echo"  # the notebook's own value, not injected

    assert (
        main(["run", *common, "--no-track", "--profile", "smoke", "quadratic", "-p", "x", "3"]) == 0
    )
    (second,) = runs.glob("*-smoke")
    metrics = json.loads((second / "01_quadratic" / "metrics.json").read_text())
    assert metrics["score"] == -1.0 and metrics["profile"] == "smoke"
    assert sorted(p.name for p in second.iterdir() if p.is_dir()) == ["01_quadratic"]
    assert json.loads((folder / "summary.json").read_text()) == summary  # the first run untouched


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "pruning"], "course: error: 'pruning' is not a notebook"),
        (["run", "-p", "sed", "1"], "course: error: Unknown parameter 'sed'"),
        (["run", "-p", "x", "big"], "course: error: 01_quadratic: parameter x takes float"),
        (["run", "--profile", "tiny"], "course run: error: argument --profile: invalid choice"),
        (["run", "--params-file", "no.yaml"], "course: error: No parameter file at no.yaml"),
        (["sweep", "no.yaml"], "course: error: No sweep file at no.yaml"),
        (["sweep", "g.yaml", "--workers", "0"], "course sweep: error: argument --workers"),
        (["report", "nowhere"], "course: error: No run folder at nowhere"),
    ],
)
def test_bad_input_is_one_line_and_nothing_runs(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    status = main([*argv, "--notebooks-dir", str(FIXTURES)] if argv[0] != "report" else argv)
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_list_shows_each_notebooks_parameters(capsys):
    assert main(["run", "--list", "--notebooks-dir", str(FIXTURES)]) == 0
    out = capsys.readouterr().out
    assert (
        "01_quadratic\n" in out and "  x (float) = 1.0  # where the quadratic is evaluated" in out
    )
    assert "  rate (any) = None" in out and "output_dir" not in out


def test_dashboard_gets_its_own_arguments(monkeypatch):
    seen = []
    fake = types.ModuleType("course_lib.runs.dashboard")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "course_lib.runs.dashboard", fake)
    assert main(["dashboard", "--port", "8870", "runs"]) == 3
    assert seen == [["--port", "8870", "runs"]]


@pytest.mark.notebook
def test_course_run_smoke_over_every_course_notebook(tmp_path, monkeypatch, capsys):
    """The instructor's command over the real notebooks: all pass, and the report shows each."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    argv = ["run", "--profile", "smoke", "--notebooks-dir", str(ROOT / "notebooks")]
    assert main([*argv, "--runs-dir", str(tmp_path)]) == 0, capsys.readouterr().err
    (folder,) = tmp_path.glob("*-smoke")
    page = (folder / "report.html").read_text()
    for notebook in notebooks:
        metrics = json.loads((folder / notebook.stem / "metrics.json").read_text())
        assert all(
            (folder / notebook.stem / f"{name}.png").is_file() for name in metrics["figures"]
        )
        assert f"{notebook.stem}/{notebook.name}" in page


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["03", "-p", "norm", "l3"], "03_pruning: norm must be one of 'l1', 'l2', got 'l3'."),
        (["03", "-p", "model", "resnet_small"], "03_pruning: model must be one of 'lenet300'"),
        (["04", "-p", "04.model", "lenet300"], "04_tucker: model must be one of 'vgg_small'"),
        (["04", "-p", "ks", "[0, 9]"], "04_tucker: ks[0] must be an integer in [1, 8], got 0."),
        (["05", "-p", "alpha_step", "0"], "05_alpha_branch: alpha_step must be a number in"),
        (["02", "-p", "keep_fractions", "[1.5]"], "02_lc_compression: keep_fractions[0] must be"),
        (["01", "-p", "grid", "{}"], "01_training: grid must be a non-empty mapping"),
        (["01", "-p", "lr", "fast"], "01_training: lr must be None or a number > 0, got 'fast'."),
        (["03", "-p", "round_to", "fc1"], "03_pruning: round_to must be an integer >= 1, or a"),
        (["01", "-p", "lr", "nan"], "01_training: lr must be None or a number > 0, got nan."),
        (["-p", "seed", "-1"], "01_training: seed must be an integer in [0, 4294967295], got -1."),
        (["-p", "epochz", "2"], "Unknown parameter 'epochz' for 01_training"),
        (
            ["05", "-p", "data_dir", "/no/such"],
            "05_alpha_branch: data_dir must be None or an exist",
        ),
    ],
)
def test_a_value_a_course_notebook_refuses_is_refused_before_anything_runs(
    tmp_path, capsys, argv, message
):
    """The spec the notebook's first cell checks, checked by `course run` while it plans."""
    common = ["--notebooks-dir", str(ROOT / "notebooks"), "--runs-dir", str(tmp_path / "runs")]
    assert main(["run", *argv, *common, "--no-track"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"course: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_a_runs_dir_that_is_a_file_and_an_empty_params_file_are_one_line(tmp_path, capsys):
    (tmp_path / "runs").write_text("a file")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    cases = [
        (["run", "--runs-dir", str(tmp_path / "runs")], "--runs-dir .*runs is a file, not a"),
        (
            ["sweep", str(tmp_path / "grid.yaml"), "--runs-dir", str(tmp_path / "runs")],
            "--runs-dir .*is a file",
        ),
        (["run", "--params-file", str(tmp_path / "empty.yaml")], ".*empty.yaml is empty: write"),
    ]
    (tmp_path / "grid.yaml").write_text("notebook: 01\ngrid: {x: [1.0]}\n")
    for argv, message in cases:
        assert main([*argv, "--notebooks-dir", str(FIXTURES), "--no-track"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert re.match(f"course: error: {message}", err[-1]) and len(err) <= 2, err
    assert (tmp_path / "runs").read_text() == "a file"
