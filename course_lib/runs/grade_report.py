"""What ``course grade`` writes from the graded notebooks: ``grades.csv`` (one row per student,
one column per exercise, the total), a feedback page per student (``feedback/<student>.html``:
each exercise's score and the checks that failed and why, what fell back on the library, the
cells that raised, the student's figures and answers) and the instructor's summary
(``summary.html`` and ``summary.md``: scores per exercise, the most common failures, every
student's status, the answers side by side for reading)."""

from __future__ import annotations

import html
import os
from collections import Counter
from pathlib import Path

import nbformat
import pandas as pd

from course_lib import paths
from course_lib.assign.grading import Points, questions_in, score
from course_lib.assign.verdict import NOT_IMPLEMENTED
from course_lib.runs.grade import Graded
from course_lib.runs.report import STYLE
from course_lib.sandbox import describe

STATUS = {
    "ok": "ran to the end",
    "errors": "ran to the end; some cells raised (below)",
    "timeout": "stopped at the time limit",
    "cpu": "stopped at the CPU-time limit",
    "memory": "stopped at the memory limit",
    "missing": "not submitted",
}
COPY_NOTE = "the same code as {} once names, comments and layout are set aside (for you to read)"


def grade_table(graded: list[Graded], points: Points) -> pd.DataFrame:
    """Scores: one row per student, one column per exercise, and the total."""
    rows: dict[str, dict[str, float]] = {}
    for result in graded:
        exercises = points.exercises.get(result.notebook, {})
        rows.setdefault(result.student, {}).update(score(result.outcome, exercises))
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=points.columns())
    table = table.fillna(0.0)
    table["total"] = table.sum(axis=1).round(2)
    table.index.name = "student"
    return table


def _why(result: Graded, exercise: str) -> list[str]:
    """The failed cases of ``exercise`` in words, or why its check never ran."""
    verdicts = result.outcome.verdicts.get(exercise)
    if verdicts and all(verdict.missing for verdict in verdicts):
        return [NOT_IMPLEMENTED]
    if verdicts:
        return [f"{case}: {why}" for v in verdicts for case, why in v.failures.items()]
    if result.status == "missing":
        return ["the notebook was not submitted"]
    return ["the check did not run (see the cells that raised)"]


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>" if items else ""


def _notebook_section(result: Graded, points: Points, questions: dict[str, str], out: Path):
    exercises = points.exercises.get(result.notebook, {})
    scores = score(result.outcome, exercises)
    rows = "".join(
        f"<tr><td>{name}</td><td>{scores[name]:g} / {maximum:g}</td>"
        f"<td>{_list(_why(result, name)) if scores[name] < maximum else '✔'}</td></tr>"
        for name, maximum in exercises.items()
    )
    parts = [
        f"<h2>{result.notebook}: {sum(scores.values()):g} of {sum(exercises.values()):g}</h2>",
        f"<p>{html.escape(result.outcome.stopped or STATUS[result.status])} "
        f"({result.seconds:g} s)</p>",
        f"<table><tr><th>exercise</th><th>points</th><th>checks</th></tr>{rows}</table>",
    ]
    if result.outcome.copies:
        copies = [f"{n}: {COPY_NOTE.format(what)}" for n, what in result.outcome.copies.items()]
        parts += ["<h3>Copied code</h3>", _list(copies)]
    if result.outcome.fallbacks:
        parts += ["<h3>Experiments on the library's function</h3>", _list(result.outcome.fallbacks)]
    if result.outcome.errors:
        parts += ["<h3>Cells that raised</h3>", _list(result.outcome.errors[:10])]
    figures = sorted((result.folder / "outputs").glob("*.png"))
    if figures:
        images = "".join(
            f"<img src='{html.escape(Path(os.path.relpath(f, out)).as_posix())}' "
            f"alt='{f.stem}' title='{f.stem}' style='max-width:480px;margin:4px'>"
            for f in figures
        )
        parts += ["<h3>Figures</h3>", f"<div>{images}</div>"]
    for grade_id, question in questions.items():
        answer = result.answers.get(grade_id, "(no answer)")
        parts += [
            f"<h3>{grade_id}</h3><blockquote>{html.escape(question)}</blockquote>",
            f"<div style='white-space:pre-wrap;border-left:4px solid #888;padding-left:8px'>"
            f"{html.escape(answer)}</div>",
        ]
    return "\n".join(parts)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE} td {{ vertical-align: top; }}</style></head><body><h1>{title}</h1>\n"
        f"{body}\n</body></html>\n"
    )


def _markdown_table(table: pd.DataFrame) -> str:
    cells = table.reset_index().astype(str)
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "---|" * len(cells.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells.to_numpy()])


def feedback_page(student: str, results: list[Graded], points: Points, questions, out: Path):
    """``out/feedback/<student>.html``."""
    table = grade_table(results, points)
    body = f"<p>{table.at[student, 'total']:g} of {points.total():g} points from the checks; "
    body += "the answers to the questions are read and scored by the instructor.</p>"
    body += "\n".join(
        _notebook_section(r, points, questions[r.notebook], out / "feedback") for r in results
    )
    page = _page(f"Feedback for {html.escape(student)}", body)
    return paths.write_text(out / "feedback" / f"{student}.html", page)


def _failures(graded: list[Graded], table: pd.DataFrame, stem: str, name: str, maximum: float):
    """The three most common reasons ``name`` lost points, with how many students each."""
    reasons = Counter(
        line
        for result in graded
        if result.notebook == stem and table.at[result.student, name] < maximum
        for line in _why(result, name)
    )
    return "; ".join(f"{n}× {why}" for why, n in reasons.most_common(3))


def _exercise_summary(table: pd.DataFrame, graded: list[Graded], points: Points) -> pd.DataFrame:
    rows = []
    for stem, exercises in points.exercises.items():
        for name, maximum in exercises.items():
            scores = table[name]
            rows.append({
                "notebook": stem, "exercise": name, "points": maximum,
                "mean": round(scores.mean(), 2), "full marks": int((scores == maximum).sum()),
                "zero": int((scores == 0).sum()),
                "most common failures": _failures(graded, table, stem, name, maximum),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _students(table: pd.DataFrame, graded: list[Graded]) -> pd.DataFrame:
    """Per student: the total, the notebooks missing or that raised, the limits crossed, and the
    exercises whose code is a copy."""
    students = table[["total"]].copy()
    for status in ("missing", "errors"):
        students[status] = [
            ", ".join(r.notebook for r in graded if r.student == s and r.status == status)
            for s in students.index
        ]
    students["stopped"] = [
        "; ".join(f"{r.notebook}: {r.outcome.stopped}" for r in graded
                  if r.student == s and r.outcome.stopped)
        for s in students.index
    ]  # fmt: skip
    students["copied code"] = [
        "; ".join(f"{n} is {what}" for r in graded if r.student == s
                  for n, what in r.outcome.copies.items())
        for s in students.index
    ]  # fmt: skip
    return students


def summary(
    graded: list[Graded], points: Points, questions, out: Path, changed: list[str]
) -> tuple[Path, Path]:
    """``summary.html`` and ``summary.md``: per exercise, per student, and the answers."""
    table = grade_table(graded, points)
    exercises = _exercise_summary(table, graded, points)
    students = _students(table, graded)
    intro = f"{len(table)} students; the checks give at most {points.total():g} points. "
    intro += f"Isolation: {describe()}. "
    intro += (
        f"Submitted files changed while grading: {', '.join(changed)}."
        if changed
        else "No submitted file changed while grading (digests before and after)."
    )
    md = f"# Grading summary\n\n{intro}\n\n## Exercises\n\n"
    md += _markdown_table(exercises.set_index("notebook"))
    md += f"\n\n## Students\n\n{_markdown_table(students)}\n"
    links = students.copy()
    links.index = [
        f"<a href='feedback/{html.escape(s)}.html'>{html.escape(s)}</a>" for s in links.index
    ]
    answers = "".join(
        f"<h3>{stem}: {grade_id}</h3><blockquote>{html.escape(text)}</blockquote>"
        + "".join(
            f"<p><b>{html.escape(r.student)}</b>: <span style='white-space:pre-wrap'>"
            f"{html.escape(r.answers.get(grade_id, '(no answer)'))}</span></p>"
            for r in graded
            if r.notebook == stem
        )
        for stem, found in questions.items()
        for grade_id, text in found.items()
    )
    body = f"<p>{intro}</p><h2>Exercises</h2>{exercises.to_html(index=False)}<h2>Students</h2>"
    body += f"{links.to_html(escape=False)}<h2>Answers</h2>{answers}"
    page = _page("Grading summary", body)
    return paths.write_text(out / "summary.html", page), paths.write_text(out / "summary.md", md)


def write_reports(
    graded: list[Graded], points: Points, instructor_dir: Path, out: Path, changed=()
) -> dict:
    """grades.csv, one feedback page per student, the summary (``changed``: the submitted
    files that changed while grading); their paths."""
    questions = {
        stem: questions_in(nbformat.read(Path(instructor_dir) / f"{stem}.ipynb", as_version=4))
        for stem in dict.fromkeys(r.notebook for r in graded)
    }
    table = grade_table(graded, points)
    written = {"grades": paths.write_text(out / "grades.csv", table.to_csv())}
    for student in table.index:
        mine = [r for r in graded if r.student == student]
        feedback_page(student, mine, points, questions, out)
    written["summary"], written["markdown"] = summary(graded, points, questions, out, list(changed))
    return written
