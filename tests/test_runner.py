"""course_lib.runner: notebook discovery, parameter checks, papermill runs that record failures."""

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib import profiles, runner
from course_lib.errors import CourseError

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
QUADRATIC, ECHO = FIXTURES / "01_quadratic.ipynb", FIXTURES / "02_echo.ipynb"


def test_discovery_keeps_course_notebooks_in_order(tmp_path):
    for name in ("02_echo.ipynb", "01_quadratic.ipynb"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "scratch.ipynb").write_text("{}")
    (tmp_path / "1_short.ipynb").write_text("{}")
    assert [p.name for p in runner.discover_notebooks(tmp_path)] == [
        "01_quadratic.ipynb",
        "02_echo.ipynb",
    ]
    with pytest.raises(CourseError, match="No notebooks folder at .*missing: pass --notebooks-dir"):
        runner.discover_notebooks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CourseError, match="holds no notebooks named NN_name.ipynb"):
        runner.discover_notebooks(tmp_path / "empty")


@pytest.mark.parametrize("name", ["1", "01", "quadratic", "01_quadratic", "x/01_quadratic.ipynb"])
def test_a_notebook_is_named_by_number_topic_or_path(name):
    available = runner.discover_notebooks(FIXTURES)
    assert runner.select_notebooks(available, [name]) == [QUADRATIC]


def test_selection_keeps_course_order_and_rejects_unknown_names():
    available = runner.discover_notebooks(FIXTURES)
    assert runner.select_notebooks(available, ["echo", "01"]) == [QUADRATIC, ECHO]
    assert runner.select_notebooks(available, []) == [QUADRATIC, ECHO]
    with pytest.raises(CourseError, match="'pruning' is not a notebook: choose from 01_quadratic"):
        runner.select_notebooks(available, ["pruning"])


def test_parameter_types_come_from_annotation_default_or_nothing():
    table = runner.inspect_parameters(QUADRATIC)
    assert table["x"].kinds == (float, int) and table["x"].default == 1.0
    assert table["steps"].kinds == (int,) and table["label"].kinds == (str,)
    assert table["fail"].kinds == (bool,) and table["profile"].kinds is None
    assert table["x"].help == "where the quadratic is evaluated"
    assert runner.inspect_parameters(ECHO)["rate"].kinds is None  # None default, no profile file


@pytest.mark.parametrize(
    ("file", "text"),
    [
        ("02_echo.yaml", "smoke: {rate: null}\ndefault: {rate: 0.1}\nfull: {rate: 0.01}\n"),
        ("references.yaml", "models: {m: {rate: 0.1}}\nprofiles: {smoke: {epochs: 1}}\n"),
    ],
)
def test_parameter_type_comes_from_the_profiles_when_the_default_is_none(
    tmp_path, monkeypatch, file, text
):
    (tmp_path / file).write_text(text)
    monkeypatch.setattr(profiles, "FOLDER", tmp_path)
    profiles.load_profile_file.cache_clear()
    try:
        rate = runner.inspect_parameters(ECHO)["rate"]
    finally:
        profiles.load_profile_file.cache_clear()
    assert rate.kinds == (float, int)
    assert runner.check_value(ECHO, rate, 1) == 1.0
    with pytest.raises(CourseError, match="parameter rate takes float, not 'fast'"):
        runner.check_value(ECHO, rate, "fast")


def test_values_are_converted_or_refused():
    table = runner.inspect_parameters(QUADRATIC)
    x, steps, label = table["x"], table["steps"], table["label"]
    assert runner.check_value(QUADRATIC, x, 3) == 3.0 and isinstance(
        runner.check_value(QUADRATIC, x, 3), float
    )
    assert runner.check_value(QUADRATIC, x, "1e-3") == 0.001  # what YAML makes of 1e-3
    assert runner.parse_cli_value(steps, "4") == 4
    assert runner.parse_cli_value(label, "007") == "007"  # text stays text for str parameters
    assert runner.parse_cli_value(table["fail"], "true") is True
    assert runner.parse_cli_value(table["profile"], "none") is None
    assert runner.parse_cli_value(table["profile"], "fashion-mnist") == "fashion-mnist"
    for parameter, value in [(x, True), (steps, 2.5), (steps, None), (table["fail"], 1)]:
        with pytest.raises(CourseError, match=f"parameter {parameter.name} takes"):
            runner.check_value(QUADRATIC, parameter, value)


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


def test_the_parameters_cell_is_read_as_python(tmp_path):
    nb = nbformat.read(ECHO, as_version=4)
    nb.cells[1].source = "\n".join(
        [
            "profile = output_dir = None",
            "mu0 = None  # μ_s = mu0 · growth^s (an '=' in the comment)",
            "lrs: Optional[list] = [",
            "    0.1,",
            "    0.01,",
            "]  # several lines",
            "device = pick_device()",
            "ratio: float | None = None",
            "if False:",
            "    hidden = 1",
        ]
    )
    nbformat.write(nb, tmp_path / "03_cell.ipynb")
    table = runner.inspect_parameters(tmp_path / "03_cell.ipynb")
    assert list(table) == ["profile", "output_dir", "mu0", "lrs", "device", "ratio"]
    assert table["mu0"].help == "μ_s = mu0 · growth^s (an '=' in the comment)"
    assert table["lrs"] == runner.Parameter("lrs", [0.1, 0.01], (list, tuple), "several lines")
    assert table["device"].default == "pick_device()" and table["device"].kinds is None
    assert table["ratio"].kinds == (float, int)


def test_a_notebook_without_the_contract_parameters_is_refused(tmp_path):
    nb = nbformat.read(ECHO, as_version=4)
    nb.cells[1].source = "dataset = 'toy'\nseed = 0"
    nbformat.write(nb, tmp_path / "03_bad.ipynb")
    with pytest.raises(CourseError, match="lacks output_dir, profile"):
        runner.inspect_parameters(tmp_path / "03_bad.ipynb")
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, tmp_path / "03_bad.ipynb")
    with pytest.raises(CourseError, match="no cell tagged 'parameters'"):
        runner.inspect_parameters(tmp_path / "03_bad.ipynb")


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
    first, second = (runner.new_run_folder(tmp_path, "smoke") for _ in range(2))
    assert first != second and first.name.endswith("-smoke") and second.is_dir()
