import json
import os

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
    given = dict.fromkeys(names) | {"profile": None, "divergence_epochs": 7, "json": json}
    settings = resolve("01_training", given)
    assert settings.profile == "default" and settings.grid_epochs == 3
    assert settings.divergence_epochs == 7 and not hasattr(settings, "json")
    with pytest.raises(CourseError, match="lacks the profile setting.*grid_epochs"):
        resolve("01_training", {k: v for k, v in given.items() if k != "grid_epochs"})
    with pytest.raises(CourseError, match="Unknown profile"):
        resolve("01_training", given | {"profile": "huge"})


def test_records_turn_missing_values_into_none():
    import pandas as pd

    from course_lib.outputs import records

    table = pd.DataFrame({"lr": [1.0, 0.1], "val_accuracy": [float("nan"), 0.8]})
    assert records(table) == [{"lr": 1.0, "val_accuracy": None}, {"lr": 0.1, "val_accuracy": 0.8}]


PARAMETERS_CELL = "dataset = 'fashion-mnist'\nseed = 0\noutput_dir = None\nepochs = None"
RESOLVE_CELL = 'settings = profiles.resolve("01_training", globals())'


def namespace(history: list[str] | None, **names) -> dict:
    """A notebook's globals at the resolve call: IPython's input history ``In`` (the cell running
    now last; None: not in IPython), its imports and the parameters."""
    ipython = {} if history is None else {"In": ["", *history, RESOLVE_CELL], "Out": {}, "_i": ""}
    imports = {"np": np, "resolve": resolve}
    cell = dict.fromkeys(profiles.load_profile_file("01_training")["smoke"])
    cell |= {"profile": "smoke", "model": "lenet300", "dataset": "mnist", "seed": 0}
    return ipython | imports | cell | names


def test_a_name_papermill_injects_that_is_no_parameter_is_refused():
    injected = "# Parameters\nprofile = 'smoke'\nepochz = 2\n"
    message = r"^01_training has no parameter 'epochz' \(did you mean 'epochs'\?\): its parameters"
    with pytest.raises(CourseError, match=message):
        resolve("01_training", namespace([PARAMETERS_CELL, injected], epochz=2))
    # a typo made in the parameters cell itself, in JupyterLab
    with pytest.raises(CourseError, match="has no parameter 'momentun' \\(did you mean 'momentum'"):
        resolve("01_training", namespace([PARAMETERS_CELL + "\nmomentun = 0.9"], momentun=0.9))
    # outside IPython every plain value counts; modules, functions and classes never do
    with pytest.raises(CourseError, match="has no parameter 'grid_size'"):
        resolve("01_training", namespace(None, grid_size=[1]))
    assert resolve("01_training", namespace(None, RunOutputs=RunOutputs)).grid_epochs == 1


def test_what_earlier_cells_left_in_a_jupyterlab_kernel_is_not_an_unknown_parameter():
    """Rerunning the first cell after later cells ran (a JupyterLab session) finds their
    variables in globals(): plain values, but assigned by code, not by the parameter cells."""
    later = ["net, record = reference_model(config, data)", "layer = chosen[-1]\nprint(layer)"]
    history = [PARAMETERS_CELL, RESOLVE_CELL, *later]
    settings = resolve("01_training", namespace(history, layer="conv2", params=266610))
    assert settings.profile == "smoke"
    # rerunning the parameters cell, then this one: only those two cells are read
    history += [PARAMETERS_CELL]
    assert resolve("01_training", namespace(history, layer="conv2")).profile == "smoke"


def test_an_old_parameter_name_still_works_with_its_warning():
    cell = dict.fromkeys(profiles.load_profile_file("04_tucker")["smoke"]) | {"profile": "smoke"}
    history = ["# Parameters\nfine_tune_epochs = 0\n"]
    given = {"In": ["", *history, "resolve"], "fine_tune_epochs": 0}
    with pytest.warns(FutureWarning, match="'fine_tune_epochs' is now called 'finetune_epochs'"):
        assert resolve("04_tucker", cell | given).finetune_epochs == 0


def test_an_output_dir_that_cannot_hold_this_run_is_refused_before_any_work(tmp_path):
    (tmp_path / "file.txt").write_text("mine")
    cases = [
        (tmp_path / "file.txt", "output_dir .*file.txt is a file, not a folder: pass a folder"),
        (tmp_path / "file.txt" / "run", "is not a folder this user can write to"),
    ]
    for output_dir, message in cases:
        with pytest.raises(CourseError, match=message):
            RunOutputs(output_dir, "03_pruning")
    assert (tmp_path / "file.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_dir_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(CourseError, match="is not a folder this user can write to"):
            RunOutputs(tmp_path / "run", "03_pruning")
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize(
    "earlier", [["sensitivity.png"], ["status.json", "03_pruning.ipynb"], ["notes.txt"], ["sub/"]]
)
def test_any_file_of_an_earlier_run_is_kept_and_the_folder_refused(tmp_path, earlier):
    """A run that failed after its first figures left no metrics.json: its figures stay."""
    for name in earlier:
        if name.endswith("/"):
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(b"earlier")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    with pytest.raises(CourseError, match="already holds files of an earlier run .*nothing in it"):
        RunOutputs(tmp_path, "03_pruning")
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_the_notebook_papermill_writes_and_hidden_files_belong_to_this_run(tmp_path):
    (tmp_path / "03_pruning.ipynb").write_text("{}")  # papermill writes it as the run goes
    (tmp_path / ".ipynb_checkpoints").mkdir()
    out = RunOutputs(tmp_path, "03_pruning")
    out.save_figure(plt.figure(), "curve")
    with pytest.raises(CourseError, match="already saved"):
        out.save_figure(plt.figure(), "curve")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "03_pruning.ipynb",
        "curve.png",
    ]


def test_unicode_paths_work_and_a_runs_folder_that_is_a_file_is_refused(tmp_path, monkeypatch):
    out = RunOutputs(tmp_path / "résultats 测试" / "run", "01_training")
    out.write_metrics({"accuracy": 0.5})
    assert json.loads((out.path / "metrics.json").read_text(encoding="utf-8"))["accuracy"] == 0.5
    (tmp_path / "runs").write_text("not a folder")
    monkeypatch.setenv("COURSE_RUNS", str(tmp_path / "runs"))
    with pytest.raises(CourseError, match=r"\$COURSE_RUNS \(the runs folder\) .* is a file"):
        RunOutputs(None, "01_training")
