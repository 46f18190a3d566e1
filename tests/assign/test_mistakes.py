"""Checks proven to catch wrong code: every plausible wrong implementation of every exercise
(``mistakes.py``, five or more each, written as a student would) is graded by the judge in a
sandboxed contestant process, exactly as ``course grade`` grades a submission. Each scores below
60 % of its exercise's points with a feedback line that names the mistake, the instructor's
solutions score full marks, and the README's table holds the scores measured here.

``python tests/assign/test_mistakes.py`` prints the README's table."""

import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from course_lib.assign.exercises import EXERCISES, exercise, run_cases
from course_lib.assign.grading import read_points
from course_lib.assign.hidden import load_hidden
from course_lib.assign.judge import Contestant, judge
from course_lib.sandbox import Limits, Sandbox

sys.path.insert(0, str(Path(__file__).parent))
from mistakes import IMPORTS, MISTAKES  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = load_hidden(ROOT / "assignments" / "hidden_cases.py")
POINTS = read_points(ROOT / "assignments" / "points.yaml")
PASS_MARK = 0.6


def grade_mistakes() -> dict[str, tuple[float, list[str]]]:
    """Each mistake's share of the cases passed and its feedback lines, by alias."""
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch).chmod(0o711)
        (Path(scratch) / "work").mkdir()
        code = [IMPORTS, *(m.renamed() for m in MISTAKES)]
        contestant = Contestant(code, Sandbox(Path(scratch) / "work", Limits()))
        found = {}
        try:
            for mistake in MISTAKES:
                student = contestant.function(mistake.alias)
                name = mistake.exercise
                verdicts = [
                    run_cases(name, exercise(name).visible, student, hidden=False),
                    run_cases(name, HIDDEN.get(name, ()), student, hidden=True),
                ]
                cases = sum(len(v.cases) for v in verdicts)
                passed = sum(v.passed for v in verdicts)
                lines = [f"{c}: {why}" for v in verdicts for c, why in v.failures.items()]
                found[mistake.alias] = (passed / cases, lines)
        finally:
            contestant.close()
    return found


@pytest.fixture(scope="module")
def graded():
    return grade_mistakes()


def test_every_exercise_has_five_mistakes_or_more():
    counts = Counter(m.exercise for m in MISTAKES)
    assert set(counts) == set(EXERCISES) and min(counts.values()) >= 5, counts


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.alias)
def test_a_mistake_loses_its_points_and_its_feedback_names_it(graded, mistake):
    share, lines = graded[mistake.alias]
    assert share < PASS_MARK, (mistake.alias, share)
    assert any(mistake.words in line for line in lines), lines


def _message(lines: list[str], words: str) -> str:
    line = next(line for line in lines if words in line)
    return line.split(": ", 1)[1].replace("|", "\\|")


def table(graded) -> str:
    """The README's table: each mistake, its score and the feedback line that names it."""
    rows = ["| exercise | mistake | score | the feedback says |", "|---|---|---|---|"]
    for m in MISTAKES:
        share, lines = graded[m.alias]
        why = _message(lines, m.words)
        rows.append(f"| {m.exercise} | {m.name.replace('_', ' ')} | {share:.0%} | {why} |")
    return "\n".join(rows)


def test_the_readmes_table_holds_the_measured_scores(graded):
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"\| exercise \| mistake \| score .*?(?=\n\n)", readme, re.S)
    assert found, "README: no table of the wrong implementations"
    assert found.group(0) == table(graded), "regenerate: python tests/assign/test_mistakes.py"


@pytest.mark.parametrize("stem", sorted(POINTS.exercises))
def test_the_instructors_solutions_score_full_marks_through_the_judge(stem, tmp_path):
    tmp_path.chmod(0o711)
    (tmp_path / "work").mkdir()
    notebook = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    names = list(POINTS.exercises[stem])
    judged = judge(notebook, names, HIDDEN, Sandbox(tmp_path / "work", Limits()))
    for name in names:
        assert all(v.ok and v.cases for v in judged.verdicts[name]), judged.verdicts[name]
    assert judged.failed == []


if __name__ == "__main__":
    print(table(grade_mistakes()))
