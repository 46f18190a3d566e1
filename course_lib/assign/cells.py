"""What the check cells call: ``check`` shows the verdict of the student's function on an
exercise's visible cases (the instructor's notebooks also on the hidden ones, read from the
instructor's file) beside the exercise, in the student's own kernel, for feedback while working.
The grade never comes from here (``assign.judge``)."""

from __future__ import annotations

from collections.abc import Callable

from course_lib.assign.exercises import exercise, run_cases, watched
from course_lib.assign.hidden import hidden_cases
from course_lib.assign.verdict import Verdict
from course_lib.errors import CourseError


def verdict(name: str, function: Callable, hidden: bool = False) -> Verdict:
    """Every visible (or hidden) case of exercise ``name`` run on ``function`` in this process;
    hidden cases that cannot be found make a failed case that says where they were looked for."""
    try:
        cases = hidden_cases(name) if hidden else exercise(name).visible
    except CourseError as exc:
        if not hidden:
            raise
        return Verdict(name, True, ["the hidden cases"], {"the hidden cases": str(exc)})
    return run_cases(name, cases, watched(function), hidden)


def check(name: str, function: Callable, hidden: bool = False) -> None:
    """Show the verdict of ``function`` on exercise ``name`` (the check cells call this)."""
    from IPython.display import display

    display(verdict(name, function, hidden))
