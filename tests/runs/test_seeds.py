"""The seed profiles: faithful to the seed reports' text, runnable as planned, and the
seed-vs-kit table's values read from metrics.json (never a number that was not measured)."""

from pathlib import Path

import pytest
from factories import SEED_REPORTS

from course_lib.errors import CourseError
from course_lib.runs.reproduce import data_message, plan_seed, with_reference
from course_lib.runs.seed_table import NO_DATA, NOT_IN_KIT, figure_rows, markdown, number_rows
from course_lib.runs.seeds import (
    FROM_NOTEBOOK_01,
    SEEDS,
    NotMeasured,
    figure_files,
    kit_value,
    load_seed,
    seed_names,
)

ROOT = Path(__file__).resolve().parents[2]
KIT_AS = {"value", "percent", "error_percent"}


@pytest.mark.parametrize("seed", SEEDS)
def test_every_listed_number_is_the_number_of_its_quote_and_says_where_the_kit_has_it(seed):
    profile = load_seed(seed)
    assert profile.numbers and profile.figures
    for number in profile.numbers:
        if number["value"] is not None:  # the value is the quoted text's number
            digits = str(number["value"]).removesuffix(".0").removeprefix("0")
            assert digits in number["report"].replace(",", "."), number
        kit = number["kit"]
        if kit is not None:
            assert kit["notebook"] in profile.runs and kit.get("as", "value") in KIT_AS
        else:
            assert number.get("note"), f"seed {seed}: {number['what']} needs a note saying why"
    for figure in profile.figures:  # a kit figure is a figure file of one of the seed's runs
        for name in figure_files(figure):
            assert name.split("/")[0] in profile.runs and name.endswith(".png"), name


@pytest.mark.skipif(
    not SEED_REPORTS.is_dir(), reason=f"the seed reports are not at {SEED_REPORTS} ($COURSE_SEEDS)"
)
@pytest.mark.parametrize("seed", SEEDS)
def test_every_listed_number_is_quoted_from_the_seed_report(seed):
    profile = load_seed(seed)
    text = (SEED_REPORTS / profile.report).read_text(encoding="utf-8")
    for number in profile.numbers:
        assert number["report"] in text, f"seed {seed}: {number['report']!r} is not in the report"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("quick", [False, True])
def test_every_seed_plans_as_course_run_checks_it(seed, quick, tmp_path):
    """Every parameter of every run is a notebook parameter its spec allows; a tuned reference
    points at this seed's notebook-01 folder, which runs first."""
    profile = load_seed(seed)
    plans = with_reference(plan_seed(profile, quick, None, ROOT / "notebooks"), tmp_path)
    stems = [plan.notebook.stem for plan in plans]
    assert stems == sorted(profile.runs)
    assert {plan.parameters["profile"] for plan in plans} == {"smoke" if quick else "default"}
    assert all(plan.parameters["dataset"] == profile.dataset for plan in plans)
    for plan in plans:
        tuned = profile.runs[plan.notebook.stem].get("reference") == FROM_NOTEBOOK_01
        expected = str(tmp_path / FROM_NOTEBOOK_01) if tuned else None
        assert plan.parameters.get("reference") == expected
        assert not tuned or stems[0] == FROM_NOTEBOOK_01
        long = {k: v for k, v in plan.parameters.items() if k.endswith("epochs") and v}
        large = {k: v for k, v in plan.parameters.items() if k.endswith("subset") and v}
        assert not quick or all(v <= 2 for v in long.values()), f"quick but {long}"
        assert not quick or all(v <= 4096 for v in large.values()), f"quick but {large}"


def test_settings_replace_the_profile_in_the_notebooks_the_seed_runs_and_are_checked():
    profile = load_seed("001")
    settings = {"01_training": {"grid_epochs": 3}, "04_tucker": {"curve_points": 2}}
    plans = plan_seed(profile, False, None, ROOT / "notebooks", settings)
    by_stem = {plan.notebook.stem: plan.parameters for plan in plans}
    assert by_stem["01_training"]["grid_epochs"] == 3
    assert by_stem["01_training"]["lr"] == profile.runs["01_training"]["lr"]
    assert "04_tucker" not in by_stem
    with pytest.raises(CourseError, match="grid_epochs"):
        plan_seed(profile, False, None, ROOT / "notebooks", {"01_training": {"grid_epochs": -1}})


def test_a_seed_profile_whose_entry_lost_a_comma_split_value_is_refused(tmp_path, monkeypatch):
    """YAML reads `what: test accuracy, configuration 1` in a flow mapping as two keys."""
    import course_lib.runs.seeds as seeds

    text = (seeds.FOLDER / "seed001.yaml").read_text()
    quoted = 'what: "test accuracy, configuration 1"'
    assert quoted in text
    (tmp_path / "seed001.yaml").write_text(text.replace(quoted, quoted.replace('"', "")))
    monkeypatch.setattr(seeds, "FOLDER", tmp_path)
    with pytest.raises(CourseError, match=r"keys \['configuration 1'\].*quote a value"):
        seeds.load_seed("001")


def test_seed_names_take_numbers_and_all():
    assert seed_names("1") == ["001"] and seed_names("004") == ["004"]
    assert seed_names("all") == list(SEEDS)
    with pytest.raises(CourseError, match="Unknown seed '7': give one of 000, 001"):
        seed_names("7")


METRICS = {
    "test_accuracy": 0.9,
    "runs": [
        {"method": "pruning", "test_error": 0.02, "ratio": 10.0},
        {"method": "pruning", "test_error": 0.01, "ratio": 5.0},
        {"method": "quantization", "test_error": 0.03, "ratio": 30.0},
    ],
    "sweep": [{"model": "original", "s": 2.0}, {"model": "k=4", "s": 1.5, "acc": float("nan")}],
    "chosen": {"c1": 3},
    "comparisons": [[{"pool": True, "acc": 0.6}], [{"augment": True, "acc": 0.7}]],
}


def test_kit_values_are_read_where_the_profile_points():
    assert kit_value(METRICS, {"key": "test_accuracy", "as": "error_percent"}) == pytest.approx(10)
    assert kit_value(METRICS, {"key": "chosen.c1"}) == 3
    best = {"key": "runs", "where": {"method": "pruning"}, "rank_by": "test_error"}
    assert kit_value(METRICS, {**best, "order": "min", "field": "ratio"}) == 5.0
    assert kit_value(METRICS, {**best, "order": "max", "field": "ratio"}) == 10.0
    assert kit_value(METRICS, {**best, "rank": 2, "field": "test_error", "as": "percent"}) == 2.0
    share = {"key": "sweep", "where": {"model": "k=4"}, "field": "s", "as": "percent"}
    per = {"where": {"model": "original"}, "field": "s"}
    assert kit_value(METRICS, {**share, "per": per}) == 75
    augmented = {"key": "comparisons.1", "where": {"augment": True}, "field": "acc"}
    assert kit_value(METRICS, augmented) == 0.7
    for missing in (
        {"key": "val_accuracy"},
        {"key": "runs", "where": {"method": "low-rank"}, "field": "ratio"},
        {"key": "sweep", "where": {"model": "k=4"}, "field": "acc"},  # NaN: not measured
        {**best, "rank": 3, "field": "ratio"},
        {**augmented, "key": "comparisons.2"},  # no third comparison
        {"key": "chosen.0"},  # a number indexes a list only
    ):
        with pytest.raises(NotMeasured):
            kit_value(METRICS, missing)


def test_the_table_says_why_a_number_has_no_measurement(tmp_path):
    profile = load_seed("003")
    no_data = number_rows(profile, {}, set(profile.runs))
    assert len(no_data) == len(profile.numbers)
    assert {row["status"] for row in no_data} == {NO_DATA, NOT_IN_KIT}
    assert all(row["kit_value"] is None and row["difference"] is None for row in no_data)
    tucker = {"sweep": [{"model": "k=4", "accuracy": 0.8}, {"model": "original", "accuracy": 0.9}]}
    rows = number_rows(profile, {"01_training": None, "04_tucker": tucker}, set())
    by_report = {row["report"]: row for row in rows}
    k4 = by_report["at  $k = 4$  we get accuracy of around 88.02%"]
    assert (k4["status"], k4["kit_value"]) == ("measured", 80.0)
    assert k4["difference"] == pytest.approx(80.0 - 88.02)
    assert by_report["The final test accuracy is 59%"]["status"] == "not run: the notebook failed"
    assert by_report["accuracy: 50.86%"]["status"].startswith("not measured in this run")
    assert by_report["final accuracy of around 68%"]["status"] == "not run: the notebook failed"
    assert by_report["saturates in learning after 15 epochs"]["status"] == NOT_IN_KIT
    assert by_report["Figure 1 gets  $< 60$  accuracy"]["difference"] is None
    (tmp_path / "04_tucker").mkdir()
    (tmp_path / "04_tucker" / "accuracy.png").write_bytes(b"png")
    figures = {row["figure"]: row["kit"] for row in figure_rows(profile, tmp_path, set())}
    assert figures["Figure 7"] == "04_tucker/accuracy.png"
    assert figures["Figure 4"] == "not measured in this run (01_training/comparison_1.png)"
    assert figures["Figure 6"].startswith("not measured in this run")
    text = markdown(rows, figure_rows(profile, tmp_path, set()), {"003": profile.title})
    row = "| §3.4 Figure 8 | accuracy at k = 4 | at  $k = 4$  we get accuracy of around 88.02% |"
    assert row in text
    assert "| 80 | -8.02 |  |" in text
    note = "the log labels it 4 (the text puts 88.02 % at k = 4); the kit's k = 4"
    assert f"| 80 | -4.59 | {note} |" in text


def test_a_figure_row_carries_the_profiles_note(tmp_path):
    profile = load_seed("004")
    rows = {row["figure"]: row for row in figure_rows(profile, tmp_path, set())}
    assert rows["Figure 2"]["note"].startswith("the frozen panel")
    assert rows["Figure 4"]["note"] == ""
    text = markdown([], list(rows.values()), {"004": profile.title})
    assert f"| {NOT_IN_KIT} | goes on from last week's frozen model at α = 0.0125" in text


def test_the_data_message_names_the_three_ways(tmp_path):
    text = data_message({"000": "mnist", "003": "cifar10"}, tmp_path)
    first, *ways = text.splitlines()
    assert first.startswith(f"cifar10 and mnist not on this machine (looked in {tmp_path}")
    assert "seed 000, 003 not run" in first
    assert [way.split(".")[0].strip() for way in ways] == ["1", "2", "3"]
    assert "--data-dir" in ways[0] and "--download" in ways[1]
    assert "apt-get install dataset-fashion-mnist" in ways[2]
