"""The student edition: generated from the instructor's notebooks in nbgrader's format, the same
every time, with stubs for the solutions, no hidden checks, the points from the points file, and
every other cell as it is; the notebooks, the exercises and the points file agree."""

from pathlib import Path

import nbformat
import pytest

from course_lib import assign
from course_lib.assign.edition import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    RECORD,
    TEXT_STUB,
    is_answer,
    is_check,
    is_exercise,
    marks,
    replace_regions,
    student_edition,
    write_edition,
)
from course_lib.assign.grading import check_id, exercises_in, questions_in, read_points
from course_lib.errors import CourseError
from course_lib.runs.cli import main

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
POINTS = read_points(ROOT / "assignments" / "points.yaml")
BY_CELL = POINTS.all_cells()


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student")
    write_edition(NOTEBOOKS, folder, BY_CELL)
    return folder


def instructor(stem: str):
    return nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)


def test_every_exercise_lives_in_its_notebook_with_a_check_and_its_points():
    found = {}
    for stem in POINTS.exercises:
        notebook = instructor(stem)
        checks = [marks(c)["grade_id"] for c in notebook.cells if is_check(c)]
        for name in exercises_in(notebook):
            found[name] = stem
            assert checks.count(check_id(name)) == 1, name
            assert assign.exercise(name).notebook == stem
        assert set(exercises_in(notebook)) == set(POINTS.exercises[stem])
        assert set(questions_in(notebook)) == set(POINTS.questions[stem])
    assert set(found) == set(assign.EXERCISES)
    per_part = {stem: len(names) for stem, names in POINTS.exercises.items()}
    assert all(2 <= count <= 4 for count in per_part.values()), per_part


def test_generating_twice_writes_the_same_bytes(edition, tmp_path):
    write_edition(NOTEBOOKS, tmp_path, BY_CELL)
    for path in sorted(edition.glob("*.ipynb")):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


@pytest.mark.parametrize("stem", list(POINTS.exercises))
def test_the_edition_holds_stubs_no_solution_and_every_other_cell_as_it_was(edition, stem):
    source, student = instructor(stem), nbformat.read(edition / f"{stem}.ipynb", as_version=4)
    assert len(source.cells) == len(student.cells)
    for original, cell in zip(source.cells, student.cells, strict=True):
        assert BEGIN_SOLUTION not in cell.source and BEGIN_HIDDEN not in cell.source
        grade_id = marks(original).get("grade_id")
        if is_exercise(original):
            assert cell.source.endswith(
                f'raise NotImplementedError("not implemented yet: {grade_id}")'
            )
            solution = original.source.split(BEGIN_SOLUTION)[1].splitlines()[2]
            assert solution.strip() not in cell.source
            assert original.source.split('"""')[1] in cell.source  # the contract stays
        elif is_check(original):
            assert cell.source == f'assign.check("{grade_id[:-6]}", {grade_id[:-6]})'
            assert cell.metadata["nbgrader"]["points"] == BY_CELL[grade_id]
            assert cell.metadata["editable"] is False
        elif is_answer(original):
            assert cell.source == TEXT_STUB and cell.metadata["nbgrader"]["points"] == 1
        else:
            assert cell == original


def test_course_assign_writes_the_edition(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["assign", "--out", str(out)]) == 0
    written = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in written) == sorted(p.name for p in NOTEBOOKS.glob("0*"))
    assert main(["assign", "--out", str(out)]) == 0  # its own files it writes again


def test_a_notebook_edited_after_generation_is_never_overwritten(tmp_path):
    write_edition(NOTEBOOKS, tmp_path, BY_CELL)
    edited = tmp_path / "03_pruning.ipynb"
    edited.write_text(edited.read_text().replace("YOUR ANSWER HERE", "my answer", 1))
    with pytest.raises(CourseError, match="03_pruning.ipynb was not written by course assign"):
        write_edition(NOTEBOOKS, tmp_path, BY_CELL)
    assert "my answer" in edited.read_text()
    (tmp_path / RECORD).unlink()
    with pytest.raises(CourseError, match="was not written by course assign"):
        write_edition(NOTEBOOKS, tmp_path, BY_CELL)


def test_mistakes_in_the_markers_and_the_points_are_named():
    with pytest.raises(CourseError, match="'BEGIN SOLUTION' is never closed"):
        replace_regions("a\n### BEGIN SOLUTION\nb", "BEGIN SOLUTION", "END SOLUTION", [], "x")
    with pytest.raises(CourseError, match="a second 'BEGIN SOLUTION'"):
        text = "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"
        replace_regions(text, "BEGIN SOLUTION", "END SOLUTION", [], "x")
    notebook = instructor("01_training")
    with pytest.raises(CourseError, match="no points for 'confusion_check'"):
        student_edition(notebook, "01_training", {})
    loose = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\n1")])
    with pytest.raises(CourseError, match="solution region outside a solution cell"):
        student_edition(loose, "loose", {})
    with pytest.raises(CourseError, match="another folder than the instructor's"):
        write_edition(NOTEBOOKS, NOTEBOOKS, BY_CELL)
