"""The hidden cases: the instructor's file (``assignments/hidden_cases.py`` beside the points
file), never part of the package a student installs nor of the student edition.

The file defines ``HIDDEN``, a mapping of exercise names to tuples of ``Case``. It is found at
the path given, else ``$COURSE_HIDDEN_CASES``, else ``assignments/hidden_cases.py`` in the
working folder or the one above it (the instructor's notebooks run in ``notebooks/``).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

from course_lib.assign.exercises import EXERCISES, Case
from course_lib.errors import CourseError

ENVIRONMENT = "COURSE_HIDDEN_CASES"
FILE = Path("assignments") / "hidden_cases.py"


def hidden_path(path: str | Path | None = None) -> Path:
    """The hidden cases' file; a CourseError says where it was looked for."""
    given = path or os.environ.get(ENVIRONMENT)
    places = [Path(given)] if given else [Path.cwd() / FILE, Path.cwd().parent / FILE]
    found = next((p for p in places if p.is_file()), None)
    if found is None:
        raise CourseError(
            f"No hidden cases at {', '.join(map(str, places))}: they are the instructor's file "
            f"(assignments/hidden_cases.py); give its path (--hidden, or ${ENVIRONMENT})."
        )
    return found.resolve()


@functools.cache
def _load(path: Path) -> dict[str, tuple[Case, ...]]:
    spec = importlib.util.spec_from_file_location("course_hidden_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hidden = getattr(module, "HIDDEN", None)
    if not isinstance(hidden, dict):
        raise CourseError(f"{path} defines no HIDDEN mapping of exercise names to cases.")
    unknown = sorted(set(hidden) - set(EXERCISES))
    if unknown:
        raise CourseError(f"{path}: {unknown} are no exercise; they are {', '.join(EXERCISES)}.")
    for name, cases in hidden.items():
        if not isinstance(cases, tuple) or not all(isinstance(c, Case) for c in cases):
            raise CourseError(f"{path}: HIDDEN[{name!r}] must be a tuple of Case.")
    return hidden


def load_hidden(path: str | Path | None = None) -> dict[str, tuple[Case, ...]]:
    """Every exercise's hidden cases (an exercise the file does not name has none)."""
    return _load(hidden_path(path))


def hidden_cases(name: str, path: str | Path | None = None) -> tuple[Case, ...]:
    """The hidden cases of exercise ``name``."""
    return load_hidden(path).get(name, ())
