"""The student edition, generated from the instructor's notebooks in nbgrader's format.

The instructor's notebooks mark their cells as nbgrader does (cell metadata ``nbgrader``:
``grade_id``, ``solution``, ``grade``, ``locked``, ``schema_version`` 3):

* an exercise is a code cell with ``solution: true``; the code between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` becomes a stub that raises "not implemented yet: <grade_id>";
* its check is a code cell with ``grade: true``; the lines between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` are removed;
* a question's answer is a markdown cell with ``solution`` and ``grade`` true; its text becomes
  "YOUR ANSWER HERE".

Every other cell stays as it is. The points of the graded cells come from the points file
(``assignments/points.yaml``) and are written into the edition's metadata, as nbgrader keeps them.
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import nbformat

from course_lib import paths
from course_lib.errors import CourseError

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
TEXT_STUB = "YOUR ANSWER HERE"
RECORD = ".generated.json"  # the digest of every notebook the last generation wrote


def code_stub(grade_id: str) -> list[str]:
    return ["# YOUR CODE HERE", f'raise NotImplementedError("not implemented yet: {grade_id}")']


def marks(cell) -> dict:
    """The cell's nbgrader metadata ({} for an ordinary cell)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def is_exercise(cell) -> bool:
    return cell.cell_type == "code" and marks(cell).get("solution", False)


def is_check(cell) -> bool:
    return cell.cell_type == "code" and marks(cell).get("grade", False)


def is_answer(cell) -> bool:
    meta = marks(cell)
    return cell.cell_type == "markdown" and meta.get("solution", False) and meta.get("grade", False)


def replace_regions(source: str, begin: str, end: str, stub: list[str], where: str):
    """``source`` with every region between lines holding ``begin`` and ``end`` replaced by
    ``stub`` (indented as the begin line), and whether there was one."""
    lines, out, inside, found = source.split("\n"), [], False, False
    for line in lines:
        if begin in line:
            if inside:
                raise CourseError(f"{where}: a second '{begin}' before '{end}'; close the first.")
            inside, found = True, True
            indent = re.match(r"\s*", line).group(0)
            out += [indent + part for part in stub]
        elif end in line:
            if not inside:
                raise CourseError(f"{where}: '{end}' without '{begin}' before it.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise CourseError(f"{where}: '{begin}' is never closed by '{end}'.")
    return "\n".join(out), found


def _student_cell(cell, where: str, points: dict[str, float]):
    cell = copy.deepcopy(cell)
    meta, grade_id = marks(cell), marks(cell).get("grade_id", "")
    if meta and not grade_id:
        raise CourseError(f"{where}: an nbgrader cell needs a grade_id in its metadata.")
    if is_exercise(cell):
        source, found = replace_regions(
            cell.source, BEGIN_SOLUTION, END_SOLUTION, code_stub(grade_id), where
        )
        cell.source = source if found else "\n".join(code_stub(grade_id))
    elif is_answer(cell):
        cell.source = TEXT_STUB
    elif BEGIN_SOLUTION in cell.source:
        raise CourseError(
            f"{where}: a solution region outside a solution cell (nbgrader metadata)."
        )
    if is_check(cell) or is_answer(cell):
        if grade_id not in points:
            raise CourseError(f"{where}: no points for {grade_id!r} in the points file; add them.")
        cell.metadata["nbgrader"]["points"] = points[grade_id]
    if is_check(cell):  # JupyterLab keeps the student from changing or deleting a check
        cell.metadata.update(editable=False, deletable=False)
    if cell.cell_type == "code":
        source, found = replace_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, [], where)
        if found and not is_check(cell):
            raise CourseError(f"{where}: hidden tests outside a check cell (nbgrader grade: true).")
        cell.source = source.rstrip("\n") if found else source
    return cell


def student_edition(notebook, name: str, points: dict[str, float]):
    """The student edition of one instructor notebook (``points`` by grade_id)."""
    edition = copy.deepcopy(notebook)
    edition.metadata.pop("celltoolbar", None)
    edition.cells = [
        _student_cell(cell, f"{name}, cell {index}", points)
        for index, cell in enumerate(notebook.cells)
    ]
    return edition


def _refuse_edited(destination: Path, names: list[str]) -> dict:
    """The record of the last generation; refuse when a notebook there is not what it wrote."""
    record_path = destination / RECORD
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    for name in names:
        path = destination / name
        if path.exists() and record.get(name) != paths.file_digest(path):
            raise CourseError(
                f"{path} was not written by course assign (or was edited since): move it away "
                "first; the student edition is generated, never edited by hand."
            )
    return record


def write_edition(source: Path, destination: Path, points: dict[str, float]) -> list[Path]:
    """The student edition of every NN_*.ipynb of ``source`` written into ``destination``
    (atomically; a notebook there that course assign did not write is never overwritten)."""
    source, destination = Path(source), Path(destination)
    notebooks = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise CourseError(f"No NN_name.ipynb notebooks in {source}: name the instructor's folder.")
    if destination.resolve() == source.resolve():
        raise CourseError("The student edition must go to another folder than the instructor's.")
    editions = {
        nb.name: student_edition(nbformat.read(nb, as_version=4), nb.stem, points)
        for nb in notebooks
    }
    record = _refuse_edited(destination, list(editions))
    written, umask = [], os.umask(0)
    os.umask(umask)
    for name, edition in editions.items():
        path = paths.write_text(destination / name, nbformat.writes(edition, version=4) + "\n")
        path.chmod(0o666 & ~umask)  # a file to hand out, readable as any other
        record[name] = paths.file_digest(path)
        written.append(path)
    paths.write_json(destination / RECORD, record, sort_keys=True)
    return written
