"""The student edition as handed out runs to the end: every check says its exercise is not
implemented yet, every experiment says which exercise it ran without (on the library's function),
and the exercises score zero. Two notebooks run here (the grid's training loop of part 1, and
part 3 with four plug-ins); tests/assign/test_fallbacks.py covers every plug-in point, and
tests/notebooks/test_papermill.py gives the solutions full marks."""

import json
from pathlib import Path

import nbformat
import papermill
import pytest
from notebooks.test_papermill import CASES

from course_lib.assign.edition import write_edition
from course_lib.assign.grading import read_outcome, read_points, score, shown_verdicts

ROOT = Path(__file__).resolve().parents[2]
POINTS = read_points(ROOT / "assignments" / "points.yaml")


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", ["01_training", "03_pruning"])
def test_the_student_edition_runs_to_the_end_and_scores_zero(notebook, tmp_path):
    write_edition(ROOT / "notebooks", tmp_path / "student", POINTS.all_cells())
    parameters, check = CASES[notebook]
    out = tmp_path / "run"
    papermill.execute_notebook(
        str(tmp_path / "student" / f"{notebook}.ipynb"),
        str(tmp_path / "executed.ipynb"),
        parameters={"profile": "smoke", "output_dir": str(out), **parameters},
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    check(json.loads((out / "metrics.json").read_text()))  # the library's results, to the end
    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    outcome = read_outcome(executed)
    outcome.verdicts = shown_verdicts(executed)
    exercises = POINTS.exercises[notebook]
    assert set(score(outcome, exercises).values()) == {0.0}
    assert all(all(v.missing for v in outcome.verdicts[name]) for name in exercises)
    missing = {line.split(":")[0] for line in outcome.fallbacks}
    assert missing == set(exercises), outcome.fallbacks
