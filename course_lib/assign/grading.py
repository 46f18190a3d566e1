"""Grading one submitted notebook: the points file, the instructor's checks put back, and the
scores read off the executed notebook (``course grade`` runs it: ``runs/grade.py``).

The points file (``assignments/points.yaml``) holds, per notebook, the points of each exercise
and of each question (answers are read and scored by the instructor)::

    02_lc_compression:
      exercises: {keep_largest: 2, kmeans_1d: 3}
      questions: {q2_1_direct_vs_lc: 1}

An exercise's check cell has the grade_id ``<exercise>_check``. An exercise scores its points
times the share of its cases (visible and hidden) that passed when ``assign.judge`` ran them on
the student's functions, never what the student's kernel displayed.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from course_lib import checks
from course_lib.assign.edition import (
    BEGIN_HIDDEN,
    END_HIDDEN,
    is_answer,
    is_check,
    is_exercise,
    marks,
    replace_regions,
)
from course_lib.assign.verdict import MIME, Verdict
from course_lib.errors import CourseError

CHECK_SUFFIX = "_check"
FALLBACK_MARK = "this experiment uses the library's"


def check_id(exercise: str) -> str:
    return exercise + CHECK_SUFFIX


@dataclass(frozen=True)
class Points:
    """Points by notebook stem: ``exercises`` and ``questions``, each {name: points}."""

    exercises: dict[str, dict[str, float]]
    questions: dict[str, dict[str, float]]

    def by_cell(self, notebook: str) -> dict[str, float]:
        """Points by the grade_id of the graded cells (check cells and answers) of a notebook."""
        cells = {check_id(name): p for name, p in self.exercises.get(notebook, {}).items()}
        return cells | self.questions.get(notebook, {})

    def all_cells(self) -> dict[str, float]:
        """Points by grade_id over every notebook (what the student edition is stamped with)."""
        notebooks = dict.fromkeys([*self.exercises, *self.questions])
        return {grade_id: p for stem in notebooks for grade_id, p in self.by_cell(stem).items()}

    def columns(self) -> list[str]:
        """Every exercise, notebook after notebook: the columns of grades.csv."""
        return [name for names in self.exercises.values() for name in names]

    def total(self) -> float:
        return sum(p for names in self.exercises.values() for p in names.values())


def read_points(path: str | Path) -> Points:
    """The points file; a CourseError names what is wrong in it."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"No points file {path}: give --points (see assignments/points.yaml).")
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict):
        raise CourseError(f"{path}: a mapping of notebooks is expected, e.g. '01_training:'.")
    found = {"exercises": {}, "questions": {}}
    for notebook, sections in content.items():
        unknown = set(sections or {}) - set(found) if isinstance(sections, dict) else {sections}
        if unknown:
            raise CourseError(
                f"{path}: {notebook} holds {sorted(map(str, unknown))}; use {list(found)}."
            )
        for kind in found:
            entries = sections.get(kind) or {}
            found[kind][str(notebook)] = {
                str(name): float(checks.number(f"{path}: {notebook}.{kind}.{name}", p, 0))
                for name, p in entries.items()
            }
    return Points(found["exercises"], found["questions"])


def restore_checks(submitted, instructor):
    """``submitted`` with every check cell as the student edition has it (the visible checks,
    for the feedback's notebook; the score comes from ``assign.judge``): a check the student
    changed is replaced, one they deleted is put back after its exercise."""
    notebook = copy.deepcopy(submitted)
    ids = {cell.get("id") for cell in notebook.cells}
    for check in (c for c in instructor.cells if is_check(c)):
        fresh = copy.deepcopy(check)
        fresh.outputs, fresh.execution_count = [], None
        grade_id = marks(check)["grade_id"]
        visible, _ = replace_regions(fresh.source, BEGIN_HIDDEN, END_HIDDEN, [], grade_id)
        fresh.source = visible.rstrip("\n")
        found = _find(notebook, grade_id)
        if found is not None:
            fresh["id"] = notebook.cells[found].get("id", fresh.get("id"))
            notebook.cells[found] = fresh
            continue
        if fresh.get("id") in ids:
            fresh["id"] = uuid.uuid4().hex[:8]
        exercise = _find(notebook, grade_id.removesuffix(CHECK_SUFFIX))
        notebook.cells.insert(len(notebook.cells) if exercise is None else exercise + 1, fresh)
    return notebook


def _find(notebook, grade_id: str) -> int | None:
    return next(
        (i for i, c in enumerate(notebook.cells) if marks(c).get("grade_id") == grade_id), None
    )


@dataclass
class Outcome:
    """What grading one submitted notebook found: the verdicts of its exercises (from the
    judge), the exercises whose code is a copy (and of what), the lines in which an experiment
    fell back on the library, the cells that raised, and the limit that stopped the run."""

    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopped: str | None = None

    def to_dict(self) -> dict:
        return {
            "verdicts": {n: [v.to_dict() for v in vs] for n, vs in self.verdicts.items()},
            "copies": self.copies,
            "fallbacks": self.fallbacks,
            "errors": self.errors,
            "stopped": self.stopped,
        }

    @classmethod
    def from_dict(cls, values: dict) -> Outcome:
        verdicts = {n: [Verdict.from_dict(v) for v in vs] for n, vs in values["verdicts"].items()}
        copies, fallbacks, errors = values["copies"], values["fallbacks"], values["errors"]
        return cls(verdicts, copies, fallbacks, errors, values.get("stopped"))


def read_outcome(executed) -> Outcome:
    """The fallbacks and errors an executed notebook shows (its verdicts are not read: a cell
    of the student's can display anything)."""
    outcome = Outcome()
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            text = output.get("text", "") if output.get("output_type") == "stream" else ""
            outcome.fallbacks += [line for line in text.splitlines() if FALLBACK_MARK in line]
            if output.get("output_type") == "error":
                where = f"In [{cell.execution_count}]" if cell.execution_count else "a cell"
                outcome.errors.append(f"{where}: {output.get('ename')}: {output.get('evalue')}")
    return outcome


def shown_verdicts(executed) -> dict[str, list[Verdict]]:
    """The verdicts the check cells of an executed notebook displayed, by exercise (what the
    instructor's own notebooks show; never a submission's score)."""
    shown: dict[str, list[Verdict]] = {}
    for cell in (c for c in executed.cells if is_check(c)):
        for output in cell.get("outputs", []):
            if MIME in output.get("data", {}):
                verdict = Verdict.from_dict(output["data"][MIME])
                if check_id(verdict.exercise) == marks(cell).get("grade_id"):
                    shown.setdefault(verdict.exercise, []).append(verdict)
    return shown


def score(outcome: Outcome, exercises: dict[str, float]) -> dict[str, float]:
    """Each exercise's points times the share of its checks' cases that passed (0 unchecked)."""
    scores = {}
    for name, points in exercises.items():
        verdicts = outcome.verdicts.get(name, [])
        cases = sum(len(v.cases) for v in verdicts)
        passed = sum(v.passed for v in verdicts)
        scores[name] = round(points * passed / cases, 2) if cases else 0.0
    return scores


def answers(notebook) -> dict[str, str]:
    """The student's answers by grade_id (markdown answer cells)."""
    return {marks(c)["grade_id"]: c.source for c in notebook.cells if is_answer(c)}


def exercises_in(notebook) -> list[str]:
    """The grade_ids of the exercise cells of an instructor notebook."""
    return [marks(c)["grade_id"] for c in notebook.cells if is_exercise(c)]


def questions_in(notebook) -> dict[str, str]:
    """Each answer cell's grade_id and its question: the markdown cell just above it."""
    return {
        marks(cell)["grade_id"]: notebook.cells[i - 1].source if i else ""
        for i, cell in enumerate(notebook.cells)
        if is_answer(cell)
    }
