"""course_lib.runs.runner: runs planned (renamed parameters included) before any runs, and
papermill runs that record failures."""

import json
import os
import warnings
from pathlib import Path

import pytest

from course_lib import paths, profiles
from course_lib.errors import CourseError
from course_lib.runs import runner
from course_lib.runs.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
QUADRATIC, ECHO = FIXTURES / "01_quadratic.ipynb", FIXTURES / "02_echo.ipynb"


def test_plan_layers_file_section_and_command_line():
    plans = runner.plan_runs(
        [QUADRATIC, ECHO],
        "smoke",
        cli_parameters=[("seed", "7")],
        file_parameters={"seed": 1, "x": 2, "echo": {"rate": "slow", "seed": 3}},
    )
    assert [p.notebook for p in plans] == [QUADRATIC, ECHO]
    assert plans[0].parameters == {"profile": "smoke", "seed": 7, "x": 2.0}
    assert plans[1].parameters == {"profile": "smoke", "seed": 7, "rate": "slow"}
    # a section for a notebook that is not run is left aside; the profile may come from the file
    (only,) = runner.plan_runs([QUADRATIC], None, [], {"profile": "full", "echo": {"rate": 1}})
    assert only.parameters == {"profile": "full"}


def test_a_parameter_is_given_to_one_notebook_by_its_name():
    cli = [("seed", "7"), ("echo.seed", "9"), ("02.rate", "fast")]
    first, second = runner.plan_runs([QUADRATIC, ECHO], "smoke", cli)
    assert first.parameters == {"profile": "smoke", "seed": 7}
    assert second.parameters == {"profile": "smoke", "seed": 9, "rate": "fast"}


@pytest.mark.parametrize(
    ("cli", "file", "message"),
    [
        ([("sed", "1")], None, "Unknown parameter 'sed'"),
        ([("output_dir", "/tmp")], None, "output_dir is set by course itself"),
        ([], {"profile": "tiny"}, "Unknown profile 'tiny'"),
        ([], {"echo": {"x": 1.0}}, r"02_echo has no parameter\(s\) \['x'\]"),
        ([("steps", "many")], None, "parameter steps takes int, not 'many'"),
        ([("echo.x", "1")], None, r"02_echo has no parameter\(s\) \['x'\]"),
        ([("pruning.x", "1")], None, "'pruning' is not a notebook"),
        ([("echo.output_dir", "/x")], None, "output_dir is set by course itself"),
    ],
)
def test_plan_refuses_bad_input_before_running(cli, file, message):
    with pytest.raises(CourseError, match=message):
        runner.plan_runs([QUADRATIC, ECHO], None, cli, file)


def test_an_old_parameter_name_is_passed_on_with_a_warning_naming_the_new(
    monkeypatch, tmp_path, capsys
):
    renamed = {"01_quadratic": {"where": "x"}, "02_echo": {"speed": "rate"}}
    monkeypatch.setattr(profiles, "RENAMED", renamed)
    said = []
    first, second = runner.plan_runs(
        [QUADRATIC, ECHO],
        "smoke",
        cli_parameters=[("where", "3"), ("echo.speed", "fast")],
        file_parameters={"quadratic": {"where": 2}},
        warn=said.append,
    )
    # under the old name (the notebook's profiles.resolve maps it), checked as the new one
    assert first.parameters == {"profile": "smoke", "where": 3.0}
    assert second.parameters == {"profile": "smoke", "speed": "fast"}
    assert said == [
        "01_quadratic: the parameter 'where' is now called 'x'; use x (the old name goes in "
        "the next release).",
    ] * 2 + [
        "02_echo: the parameter 'speed' is now called 'rate'; use rate (the old name goes in "
        "the next release)."
    ]
    with pytest.warns(FutureWarning, match="'where' is now called 'x'"):
        (plan,) = runner.plan_runs([QUADRATIC], None, [("where", "1")])
    assert plan.parameters["where"] == 1.0
    with pytest.raises(CourseError, match="parameter x takes float, not 'far'"):
        runner.plan_runs([QUADRATIC], None, [("where", "far")], warn=said.append)
    with pytest.raises(CourseError, match=r"02_echo has no parameter\(s\) \['where'\]"):
        runner.plan_runs([ECHO], None, [], {"echo": {"where": 1}}, warn=said.append)

    # course run: one line on stderr that names the new name, then the run's own checks
    params = tmp_path / "params.yaml"
    params.write_text("where: 2\nsteps: many\n")
    argv = ["run", "quadratic", "--notebooks-dir", str(FIXTURES), "--params-file", str(params)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the CLI says it in its own line, not as a Python warning
        assert main([*argv, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "warning: 01_quadratic: the parameter 'where' is now called 'x'; use x (the old name goes "
        "in the next release).",
        "course: error: 01_quadratic: parameter steps takes int, not 'many' (str).",
    ]
    assert not (tmp_path / "runs").exists()


def test_execute_writes_the_run_and_never_overwrites_it(tmp_path):
    result = runner.execute(QUADRATIC, tmp_path / "run", {"x": 4.0, "steps": 2, "profile": "smoke"})
    assert result.ok and result.error is None
    assert result.metrics["score"] == -4.0 and result.metrics["curve"] == [-2.0, -4.0]
    assert result.metrics["profile"] == "smoke" and result.metrics["figures"] == ["curve"]
    assert {p.name for p in (tmp_path / "run").iterdir()} >= {
        "01_quadratic.ipynb",
        "metrics.json",
        "curve.png",
        "status.json",
    }
    assert runner.RunResult.load(tmp_path / "run") == result
    with pytest.raises(CourseError, match="never writes into an earlier run's folder"):
        runner.execute(QUADRATIC, tmp_path / "run", {})


def test_a_failing_notebook_is_recorded_with_its_cell_and_error(tmp_path):
    result = runner.execute(ECHO, tmp_path / "ok", {"words": 5})  # not a list: len() fails
    assert not result.ok and result.metrics is None
    assert result.error["ename"] == "TypeError" and "int" in result.error["evalue"]
    # In [1] the parameters cell, In [2] the injected parameters, In [3] the failing cell
    assert result.error["cell"] == 3
    assert result.error["source"][0] == "from course_lib.outputs import RunOutputs"
    status = json.loads((tmp_path / "ok" / "status.json").read_text())
    assert status["status"] == "failed" and status["error"] == result.error
    assert "In [3] TypeError" in result.headline()


def test_thread_limit_sets_and_restores_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with runner.thread_limit(2):
        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "2"
    assert os.environ["OMP_NUM_THREADS"] == "8" and "MKL_NUM_THREADS" not in os.environ


def test_run_folders_are_new_each_time(tmp_path):
    first, second = (paths.fresh_folder(tmp_path, "smoke") for _ in range(2))
    assert first != second and first.name.endswith("-smoke") and second.is_dir()
