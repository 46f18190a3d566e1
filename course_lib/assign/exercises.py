"""The exercises of the assignment: each one a function the student writes, the library's own
function with the same contract, and the cases that compare the two.

In a notebook, after the student's function::

    assign.check("keep_largest", keep_largest)              # the visible check: a verdict box
    solvers = lc.Solvers(keep=assign.use(keep_largest, "keep_largest"))  # the experiment uses it

``check`` never raises: a failing case, a stub or a crash becomes a line of the verdict, so the
notebook runs on. ``use`` hands the student's function to the library's plug-in point; while it is
a stub (or once it raises) the experiment says so in one line and runs on the library's function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from course_lib.assign.verdict import NOT_IMPLEMENTED, Verdict
from course_lib.errors import CourseError
from course_lib.train import Diverged

Test = Callable[[Callable], "str | None"]
"""A case: called with the student's function, it returns None when it passed, else why not."""


@dataclass(frozen=True)
class Case:
    name: str
    test: Test


@dataclass(frozen=True)
class Exercise:
    """One exercise of ``notebook``: ``library`` is the library's function with the contract
    the student implements; ``visible`` cases run in the student's check cell, ``hidden`` ones
    only in the instructor's."""

    name: str
    notebook: str
    library: Callable
    visible: tuple[Case, ...]
    hidden: tuple[Case, ...]


EXERCISES: dict[str, Exercise] = {}


def seeded(seed: int, *shape: int) -> torch.Tensor:
    """A tensor of standard normal values drawn from ``seed`` (the same every time)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def register(exercise: Exercise) -> Exercise:
    EXERCISES[exercise.name] = exercise
    return exercise


def exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise CourseError(f"No exercise {name!r}: the exercises are {', '.join(EXERCISES)}.")
    return EXERCISES[name]


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def run_case(case: Case, function: Callable) -> str | None:
    """Why ``function`` fails ``case`` (None: it passed); a stub or a crash is a failure."""
    try:
        return case.test(function)
    except NotImplementedError:
        return NOT_IMPLEMENTED
    except Exception as exc:  # the student's code may raise anything: it is the verdict
        return f"raised {first_line(exc)}"


def verdict(name: str, function: Callable, hidden: bool = False) -> Verdict:
    """Every visible (or hidden) case of exercise ``name`` run on ``function``."""
    cases = exercise(name).hidden if hidden else exercise(name).visible
    result = Verdict(name, hidden, [case.name for case in cases])
    for case in cases:
        why = run_case(case, function)
        if why is not None:
            result.failures[case.name] = why
    return result


def check(name: str, function: Callable, hidden: bool = False) -> None:
    """Show the verdict of ``function`` on exercise ``name`` (the check cells call this)."""
    from IPython.display import display

    display(verdict(name, function, hidden))


class _Guarded:
    """The student's function, or the library's once the student's raised (said once)."""

    def __init__(self, function: Callable, task: Exercise):
        self.function, self.task, self.fell_back = function, task, False

    def __call__(self, *args, **kwargs):
        if not self.fell_back:
            try:
                return self.function(*args, **kwargs)
            except Diverged:  # the library's signal to stop training, not the student's failure
                raise
            except Exception as exc:  # a stub or a crash: the experiment runs on the library's
                self.fell_back = True
                why = NOT_IMPLEMENTED if isinstance(exc, NotImplementedError) else first_line(exc)
                print(
                    f"{self.task.name}: {why}; this experiment uses the library's "
                    f"{self.task.name} instead"
                )
        return self.task.library(*args, **kwargs)

    def __deepcopy__(self, memo):  # copies of a compression share one plug-in and its state
        return self


def use(function: Callable, name: str) -> Callable:
    """``function`` for a library plug-in point, falling back to the library's ``name``."""
    return _Guarded(function, exercise(name))
