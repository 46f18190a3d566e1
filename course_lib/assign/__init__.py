"""Assignments: the student edition of the notebooks, the exercises' checks, and grading.

``assign.check(name, function)`` shows a check's verdict beside an exercise; ``assign.use(function,
name)`` hands a student's function to the library's plug-in point (the library's own while it is a
stub). ``edition`` writes the student edition; ``grading`` scores an executed submission.
"""

from course_lib.assign import (  # noqa: F401  (each part registers its exercises)
    checks_branches,
    checks_lc,
    checks_pruning,
    checks_training,
    checks_tucker,
)
from course_lib.assign.cells import check, verdict
from course_lib.assign.exercises import EXERCISES, Exercise, exercise, use
from course_lib.assign.verdict import MIME, Verdict

__all__ = ["EXERCISES", "MIME", "Exercise", "Verdict", "check", "exercise", "use", "verdict"]
