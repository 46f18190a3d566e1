"""Checks of user-given values: each refuses with a CourseError that names the value and what is
allowed, and returns the value when it is good."""

from __future__ import annotations

import math
from collections.abc import Iterable

from course_lib.errors import CourseError


def is_number(value) -> bool:
    """A real int or float (not a bool), finite."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (None: no bound)."""
    inside = (low is None or value >= low) if isinstance(value, int) else False
    inside = inside and (high is None or value <= high)
    if isinstance(value, bool) or not isinstance(value, int) or not inside:
        raise CourseError(f"{name} must be an integer {bounds(low, high)}, got {value!r}.")
    return value


def number(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
) -> float:
    """``value`` as a finite number between ``low`` and ``high`` (inclusive unless open)."""
    ok = is_number(value)
    if ok and low is not None:
        ok = value > low if open_low else value >= low
    if ok and high is not None:
        ok = value < high if open_high else value <= high
    if not ok:
        where = bounds(low, high, open_low, open_high)
        raise CourseError(f"{name} must be a number {where}, got {value!r}.")
    return value


def choice(name: str, value, allowed: Iterable):
    """``value`` when it is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise CourseError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}.")
    return value


def bounds(low, high, open_low: bool = False, open_high: bool = False) -> str:
    """The range text of a message: "in [0, 1)", ">= 1", "" (no bound)."""
    if low is not None and high is not None:
        return f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    if low is not None:
        return f"{'>' if open_low else '>='} {low}"
    if high is not None:
        return f"{'<' if open_high else '<='} {high}"
    return ""
