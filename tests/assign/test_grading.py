"""Grading one notebook: the points file, the instructor's checks put back into a submission,
the verdicts read only from the check cells, and the scores."""

from pathlib import Path

import nbformat
import pytest

from course_lib.assign.edition import is_check
from course_lib.assign.grading import (
    Outcome,
    answers,
    check_id,
    read_outcome,
    read_points,
    restore_checks,
    score,
    shown_verdicts,
)
from course_lib.assign.verdict import MIME, Verdict
from course_lib.errors import CourseError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "assignment"


def instructor():
    return nbformat.read(FIXTURE / "01_small.ipynb", as_version=4)


def grade_ids(notebook):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]


def test_a_changed_check_is_replaced_and_a_deleted_one_put_back_after_its_exercise():
    original = instructor()
    submitted = instructor()
    changed = grade_ids(submitted).index("keep_largest_check")
    submitted.cells[changed].source = "print('all good')"
    del submitted.cells[grade_ids(submitted).index("codebook_bits_check")]
    restored = restore_checks(submitted, original)
    assert grade_ids(restored) == grade_ids(original)
    for got, want in zip(restored.cells, original.cells, strict=True):
        visible = want.source.split("\n### BEGIN HIDDEN TESTS")[0]
        assert got.source == (visible if is_check(want) else want.source)
    assert "hidden=True" not in "".join(c.source for c in restored.cells)
    ids = [c["id"] for c in restored.cells]
    assert len(set(ids)) == len(ids)


def _output(verdict: Verdict) -> dict:
    return nbformat.v4.new_output("display_data", data={MIME: verdict.to_dict()})


def test_shown_verdicts_count_only_from_the_check_cells_and_never_in_a_submissions_outcome():
    notebook = instructor()
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    passed = Verdict("keep_largest", cases=["a", "b"])
    failed = Verdict("codebook_bits", cases=["a", "b", "c", "d"], failures={"a": "no"})
    cells[check_id("keep_largest")].outputs = [_output(passed)]
    cells[check_id("codebook_bits")].outputs = [_output(failed)]
    cells["keep_largest"].outputs = [_output(Verdict("codebook_bits", cases=["forged"]))]
    cells[check_id("keep_largest")].outputs.append(_output(Verdict("codebook_bits", cases=["x"])))
    notebook.cells[-3].outputs = [
        nbformat.v4.new_output("stream", text="x: not implemented yet; this experiment uses the "
                               "library's x instead\n"),
        nbformat.v4.new_output("error", ename="NameError", evalue="name 'x'", traceback=[]),
    ]  # fmt: skip
    notebook.cells[-3].execution_count = 7
    shown = shown_verdicts(notebook)
    assert {k: [v.cases for v in vs] for k, vs in shown.items()} == {
        "keep_largest": [["a", "b"]],
        "codebook_bits": [["a", "b", "c", "d"]],
    }
    outcome = read_outcome(notebook)
    assert outcome.verdicts == {}  # what a kernel displayed never scores a submission
    assert outcome.errors == ["In [7]: NameError: name 'x'"]
    assert len(outcome.fallbacks) == 1
    outcome.verdicts, outcome.copies = shown, {"keep_largest": "the instructor's solution"}
    assert score(outcome, {"keep_largest": 2, "codebook_bits": 1, "absent": 5}) == {
        "keep_largest": 2.0,
        "codebook_bits": 0.75,
        "absent": 0.0,
    }
    assert Outcome.from_dict(outcome.to_dict()) == outcome


def test_answers_are_read_by_their_grade_id():
    assert answers(instructor()) == {"q_small": "Two values need one bit to tell them apart: "
                                                "⌈log2 2⌉ = 1."}  # fmt: skip


def test_the_points_file_is_read_and_its_mistakes_named(tmp_path):
    points = read_points(FIXTURE / "points.yaml")
    assert points.exercises == {"01_small": {"keep_largest": 2.0, "codebook_bits": 1.0}}
    assert points.by_cell("01_small") == {
        "keep_largest_check": 2.0, "codebook_bits_check": 1.0, "q_small": 1.0,
    }  # fmt: skip
    assert points.columns() == ["keep_largest", "codebook_bits"] and points.total() == 3
    bad = tmp_path / "points.yaml"
    for text, message in [
        ("01_small: {exercise: {a: 1}}", "holds \\['exercise'\\]"),
        ("01_small: {exercises: {a: -1}}", "01_small.exercises.a must be a number >= 0"),
        ("[1, 2]", "a mapping of notebooks"),
    ]:
        bad.write_text(text)
        with pytest.raises(CourseError, match=message):
            read_points(bad)
    with pytest.raises(CourseError, match="No points file"):
        read_points(tmp_path / "absent.yaml")
