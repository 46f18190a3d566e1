"""course_lib.runs.parameters: notebook discovery, the parameters cell, checked values."""

import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib import profiles
from course_lib.errors import CourseError
from course_lib.runs import parameters

FIXTURES = Path(__file__).parents[1] / "fixtures" / "notebooks"
QUADRATIC, ECHO = FIXTURES / "01_quadratic.ipynb", FIXTURES / "02_echo.ipynb"


def test_discovery_keeps_course_notebooks_in_order(tmp_path):
    for name in ("02_echo.ipynb", "01_quadratic.ipynb"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "scratch.ipynb").write_text("{}")
    (tmp_path / "1_short.ipynb").write_text("{}")
    assert [p.name for p in parameters.discover_notebooks(tmp_path)] == [
        "01_quadratic.ipynb",
        "02_echo.ipynb",
    ]
    with pytest.raises(CourseError, match="No notebooks folder at .*missing: pass --notebooks-dir"):
        parameters.discover_notebooks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CourseError, match="holds no notebooks named NN_name.ipynb"):
        parameters.discover_notebooks(tmp_path / "empty")


@pytest.mark.parametrize("name", ["1", "01", "quadratic", "01_quadratic", "x/01_quadratic.ipynb"])
def test_a_notebook_is_named_by_number_topic_or_path(name):
    available = parameters.discover_notebooks(FIXTURES)
    assert parameters.select_notebooks(available, [name]) == [QUADRATIC]


def test_selection_keeps_course_order_and_rejects_unknown_names():
    available = parameters.discover_notebooks(FIXTURES)
    assert parameters.select_notebooks(available, ["echo", "01"]) == [QUADRATIC, ECHO]
    assert parameters.select_notebooks(available, []) == [QUADRATIC, ECHO]
    with pytest.raises(CourseError, match="'pruning' is not a notebook: choose from 01_quadratic"):
        parameters.select_notebooks(available, ["pruning"])


def test_parameter_types_come_from_annotation_default_or_nothing():
    table = parameters.inspect_parameters(QUADRATIC)
    assert table["x"].kinds == (float, int) and table["x"].default == 1.0
    assert table["steps"].kinds == (int,) and table["label"].kinds == (str,)
    assert table["fail"].kinds == (bool,) and table["profile"].kinds is None
    assert table["x"].help == "where the quadratic is evaluated"
    # None default, no profile file
    assert parameters.inspect_parameters(ECHO)["rate"].kinds is None


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
        rate = parameters.inspect_parameters(ECHO)["rate"]
    finally:
        profiles.load_profile_file.cache_clear()
    assert rate.kinds == (float, int)
    assert parameters.check_value(ECHO, rate, 1) == 1.0
    with pytest.raises(CourseError, match="parameter rate takes float, not 'fast'"):
        parameters.check_value(ECHO, rate, "fast")


def test_values_are_converted_or_refused():
    table = parameters.inspect_parameters(QUADRATIC)
    x, steps, label = table["x"], table["steps"], table["label"]
    assert parameters.check_value(QUADRATIC, x, 3) == 3.0 and isinstance(
        parameters.check_value(QUADRATIC, x, 3), float
    )
    assert parameters.check_value(QUADRATIC, x, "1e-3") == 0.001  # what YAML makes of 1e-3
    assert parameters.parse_cli_value(steps, "4") == 4
    assert parameters.parse_cli_value(label, "007") == "007"  # text stays text for str parameters
    assert parameters.parse_cli_value(table["fail"], "true") is True
    assert parameters.parse_cli_value(table["profile"], "none") is None
    assert parameters.parse_cli_value(table["profile"], "fashion-mnist") == "fashion-mnist"
    for parameter, value in [(x, True), (steps, 2.5), (steps, None), (table["fail"], 1)]:
        with pytest.raises(CourseError, match=f"parameter {parameter.name} takes"):
            parameters.check_value(QUADRATIC, parameter, value)


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
    table = parameters.inspect_parameters(tmp_path / "03_cell.ipynb")
    assert list(table) == ["profile", "output_dir", "mu0", "lrs", "device", "ratio"]
    assert table["mu0"].help == "μ_s = mu0 · growth^s (an '=' in the comment)"
    assert table["lrs"] == parameters.Parameter("lrs", [0.1, 0.01], (list, tuple), "several lines")
    assert table["device"].default == "pick_device()" and table["device"].kinds is None
    assert table["ratio"].kinds == (float, int)


def test_a_notebook_without_the_contract_parameters_is_refused(tmp_path):
    nb = nbformat.read(ECHO, as_version=4)
    nb.cells[1].source = "dataset = 'toy'\nseed = 0"
    nbformat.write(nb, tmp_path / "03_bad.ipynb")
    with pytest.raises(CourseError, match="lacks output_dir, profile"):
        parameters.inspect_parameters(tmp_path / "03_bad.ipynb")
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, tmp_path / "03_bad.ipynb")
    with pytest.raises(CourseError, match="no cell tagged 'parameters'"):
        parameters.inspect_parameters(tmp_path / "03_bad.ipynb")


def test_a_course_notebooks_types_come_from_its_spec_and_an_empty_file_is_refused(tmp_path):
    table = parameters.inspect_parameters(
        Path(__file__).parents[2] / "notebooks" / "03_pruning.ipynb"
    )
    assert table["round_to"].kinds == (int, dict) and table["prune_rates"].kinds == (list, tuple)
    assert table["accuracy_floor"].kinds == (float, int) and table["norm"].kinds == (str,)
    assert parameters.check_value(ECHO, table["accuracy_floor"], 1) == 1.0
    for text in ("", "# only a comment\n", "null\n"):
        (tmp_path / "p.yaml").write_text(text)
        with pytest.raises(CourseError, match="p.yaml is empty: write NAME: VALUE lines into it"):
            parameters.read_parameter_file(tmp_path / "p.yaml")


def test_a_cli_list_or_mapping_may_be_yaml_and_a_wrong_type_names_every_type_taken():
    table = parameters.inspect_parameters(
        Path(__file__).parents[2] / "notebooks" / "03_pruning.ipynb"
    )
    round_to = table["round_to"]
    assert parameters.parse_cli_value(round_to, "{fc1: 4}") == {"fc1": 4}
    assert parameters.parse_cli_value(round_to, "{'fc1': 4}") == {"fc1": 4}
    assert parameters.parse_cli_value(table["scan_layers"], "[conv1, fc1]") == ["conv1", "fc1"]
    assert parameters.parse_cli_value(round_to, "{fc1: [") == "{fc1: ["  # neither: stays text
    with pytest.raises(CourseError, match="parameter round_to takes int or dict, not 'fc1'"):
        parameters.check_value(ECHO, round_to, "fc1")
