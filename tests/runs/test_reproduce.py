"""`course reproduce`: a seed's notebooks run in their quick form, the notebook-01 net compressed
by the notebooks after it, and every number of the report in the seed-vs-kit table; a seed whose
dataset is missing is refused before any work, or, beside seeds that run, listed as not run."""

import csv
import json

import pytest
from factories import write_mnist_like

from course_lib.runs.cli import main
from course_lib.runs.options import default_notebooks_dir
from course_lib.runs.reproduce import reproduce
from course_lib.runs.seed_table import NO_DATA, NOT_IN_KIT
from course_lib.runs.seeds import load_seed


def _table(folder):
    with (folder / "seed_vs_kit.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _lists_every_number(rows, seed):
    profile = load_seed(seed)
    mine = [row for row in rows if row["seed"] == seed]
    assert [row["report"] for row in mine] == [n["report"] for n in profile.numbers]
    for row in mine:  # a kit value only beside "measured"; every other row says why not
        assert (row["kit_value"] != "") == (row["status"] == "measured"), row
    return {row["report"]: row for row in mine}


@pytest.mark.notebook
def test_reproduce_seed_001_quick_on_fashion_mnist(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["reproduce", "1", "--quick", "--output-dir", str(out)]) == 0
    (folder,) = out.glob("*-reproduce-001-quick")
    seed = folder / "seed001"
    assert capsys.readouterr().out.splitlines() == [
        f"seed vs kit: {folder / 'seed_vs_kit.md'}",
        f"report: {folder / 'report.html'}",
    ]
    training = json.loads((seed / "01_training" / "metrics.json").read_text())
    pruning = json.loads((seed / "03_pruning" / "metrics.json").read_text())
    # notebook 03 pruned the net notebook 01 trained with the seed's settings
    assert pruning["reference"] == training["reference"]
    status = json.loads((seed / "03_pruning" / "status.json").read_text())
    assert status["parameters"]["reference"] == str(seed / "01_training")
    assert status["parameters"]["norm"] == "l2" and status["parameters"]["final_epochs"] == 2
    assert pruning["chosen"]["final_epochs"] == 2
    rows = _lists_every_number(_table(folder), "001")
    test = rows["Test: 89.32"]
    assert test["status"] == "measured"
    assert float(test["kit_value"]) == pytest.approx(100 * training["test_accuracy"])
    assert float(test["difference"]) == pytest.approx(100 * training["test_accuracy"] - 89.32)
    assert float(rows["87.62 %"]["kit_value"]) == pytest.approx(
        100 * pruning["chosen"]["test_accuracy"]
    )
    assert rows["**87-88 sec**"]["status"] == NOT_IN_KIT
    markdown = (folder / "seed_vs_kit.md").read_text()
    assert "| §3 plot: successive pruning |" in markdown and "03_pruning/structured.png" in markdown
    assert "Seed vs kit" in (seed / "report.md").read_text()
    index = (folder / "report.md").read_text()
    assert "- [seed001](seed001/report.md)" in index and "| Test: 89.32 |" in index


@pytest.mark.notebook
def test_reproduce_an_mnist_seed_beside_a_cifar_seed_without_data(tmp_path):
    """Seed 000 runs on MNIST files in the upstream format (data_dir); seed 003's CIFAR-10 is
    not there: it is said before any work, and its numbers are listed as not run."""
    data = write_mnist_like(tmp_path / "data" / "mnist", n_train=1600, n_test=200).parent
    out = tmp_path / "runs"
    said = []
    folder, results = reproduce(
        ["003", "000"],
        quick=True,
        data_dir=data,
        output_dir=out,
        notebooks_dir=default_notebooks_dir(),
        say=said.append,
    )
    assert said[0].startswith("warning: cifar10 not on this machine") and "seed 003" in said[0]
    assert [r.notebook for r in results] == ["01_training", "02_lc_compression"]
    assert all(r.ok for r in results), [r.error for r in results]
    assert not (folder / "seed003").exists()
    rows = _table(folder)
    cifar = _lists_every_number(rows, "003")
    assert {row["status"] for row in cifar.values()} == {NO_DATA, NOT_IN_KIT}
    mnist = _lists_every_number(rows, "000")
    assert mnist["1.33% accuracy"]["status"] == "measured"
    lc = json.loads((folder / "seed000" / "02_lc_compression" / "metrics.json").read_text())
    assert lc["dataset"] == "mnist" and lc["lc_config"]["mu_schedule"][0] == pytest.approx(9e-5)
    assert (
        "| Figure 5 | accuracy vs prune rate for various layers | not run: no data |"
        in (folder / "seed_vs_kit.md").read_text()
    )


def test_reproduce_refuses_before_any_work_when_no_seed_has_its_data(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "runs"
    assert main(["reproduce", "003", "--data-dir", str(empty), "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"course: error: cifar10 not on this machine (looked in {empty}")
    assert not out.exists()
