"""Made-up submissions of the small assignment (tests/fixtures/assignment) for the grading
tests: the student edition as handed out, filled in as a student would, with changes."""

from pathlib import Path

import nbformat

from course_lib.assign.edition import BEGIN_SOLUTION, END_SOLUTION, marks, write_edition
from course_lib.assign.grading import read_points

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "assignment"
POINTS = read_points(FIXTURE / "points.yaml")
STEM = "01_small"


def editions(root: Path):
    """(the student edition, the instructor's notebook) of the small assignment."""
    (edition,) = write_edition(FIXTURE, root / "student", POINTS.by_cell(STEM))
    return nbformat.read(edition, as_version=4), nbformat.read(FIXTURE / f"{STEM}.ipynb", 4)


def filled(student, instructor, replaced=None, after_setup: str | None = None):
    """The student edition with the solutions written in (markers dropped), as a student would;
    ``replaced``: {grade_id: source} written instead; ``after_setup``: a cell of the student's
    own inserted after the setup cell."""
    solutions = {marks(c).get("grade_id"): c.source for c in instructor.cells}
    notebook = nbformat.from_dict(student)
    for cell in notebook.cells:
        grade_id = marks(cell).get("grade_id")
        if marks(cell).get("solution"):
            source = solutions[grade_id]
            cell.source = "\n".join(
                line for line in source.splitlines()
                if BEGIN_SOLUTION not in line and END_SOLUTION not in line
            )  # fmt: skip
        if replaced and grade_id in replaced:
            cell.source = replaced[grade_id].strip()
    if after_setup:
        setup = next(i for i, c in enumerate(notebook.cells) if "RunOutputs(" in c.source)
        notebook.cells.insert(setup + 1, nbformat.v4.new_code_cell(after_setup.strip()))
    return notebook


def hand_in(folder: Path, submissions: dict) -> Path:
    """One folder per student under ``folder``, each with its notebook; ``folder``."""
    for name, notebook in submissions.items():
        (folder / name).mkdir(parents=True)
        nbformat.write(notebook, folder / name / f"{STEM}.ipynb")
    return folder
