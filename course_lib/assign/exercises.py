"""The exercises of the assignment: each one a function the student writes, the library's own
function with the same contract, and the visible cases that compare the two (the hidden cases
are the instructor's: ``assign.hidden``).

In a notebook, after the student's function::

    assign.check("keep_largest", keep_largest)              # the visible check: a verdict box
    solvers = lc.Solvers(keep=assign.use(keep_largest, "keep_largest"))  # the experiment uses it

``check`` (``assign.cells``) never raises: a failing case, a stub, a crash or a call of the
library's reference (``assign.forbid``) becomes a line of the verdict, so the notebook runs on.
``use`` hands the
student's function to the library's plug-in point; while it is a stub (or once it raises) the
experiment says so in one line and runs on the library's function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from course_lib.assign.forbid import Delegated, forbidden
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
    the student implements, ``helpers`` the library functions that do its work (both refuse to
    run while a case runs the student's function); ``visible`` cases run in the student's check
    cell, the hidden ones only where the instructor's file is (``assign.hidden``)."""

    name: str
    notebook: str
    library: Callable
    visible: tuple[Case, ...]
    helpers: tuple[Callable, ...] = ()


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
    """``Type: first line of the message``; ``kind`` names the type of an error raised elsewhere
    (the grader's contestant process)."""
    kind = getattr(exc, "kind", type(exc).__name__)
    text = str(exc).strip().splitlines()
    return f"{kind}: {text[0]}" if text else kind


def run_case(case: Case, function: Callable) -> str | None:
    """Why ``function`` fails ``case`` (None: it passed); a stub, a crash or a call of the
    library's reference is a failure."""
    try:
        return case.test(function)
    except NotImplementedError:
        return NOT_IMPLEMENTED
    except Delegated as exc:
        return str(exc)
    except Exception as exc:  # the student's code may raise anything: it is the verdict
        return f"raised {first_line(exc)}"


def run_cases(name: str, cases, function: Callable, hidden: bool) -> Verdict:
    """The verdict of ``function`` on ``cases`` of exercise ``name``."""
    result = Verdict(name, hidden, [case.name for case in cases])
    for case in cases:
        why = run_case(case, function)
        if why is not None:
            result.failures[case.name] = why
    return result


def watched(function: Callable) -> Callable:
    """``function`` with every exercise's reference refusing to run while it runs."""

    def call(*args, **kwargs):
        with forbidden(EXERCISES.values(), [getattr(function, "__globals__", {})]):
            return function(*args, **kwargs)

    return call


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
