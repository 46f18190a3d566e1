"""Delegation earns nothing: while a student's function runs against a case, the library's
reference for every exercise (and the helpers that do its work) answers with :class:`Delegated`.

``forbidden(exercises)`` swaps every name a reference is reachable by (the attributes of every
loaded ``course_lib`` module that hold it, each exercise's ``library``, and the names a
student's own namespace imported) for a refusal, and puts them back on leaving. The check
cells use it around each call of the student's function;
the grader's contestant process swaps them for good (``refuse_all``, ``assign.contestant``).
Building blocks the student may use (``torch.topk``, ``torch.linalg.svd``, ``np.unique``) are
no reference and stay callable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager


class Delegated(Exception):
    """The student's function called the library's reference of an exercise."""


def refusal(exercise: str, name: str) -> Callable:
    """A stand-in for the reference ``name`` of ``exercise`` that refuses to run."""

    def refuse(*args, **kwargs):
        raise Delegated(f"called the library's {name}: {exercise} must be written, not called")

    refuse.__name__ = refuse.__qualname__ = name.rsplit(".", 1)[-1]
    return refuse


def label(function, exercise: str) -> str:
    """How a refusal names a reference: its home in the library (``lc.kmeans.lloyd_1d``)."""
    name = getattr(function, "__qualname__", "")
    if not name or "<lambda>" in name:
        return f"reference of {exercise}"
    return f"{function.__module__.removeprefix('course_lib.')}.{name}"


def references(exercises: Iterable) -> dict[int, tuple[object, Callable]]:
    """Every reference and helper of ``exercises`` by id: (the object, its refusal)."""
    found = {}
    for exercise in exercises:
        for function in (exercise.library, *exercise.helpers):
            found[id(function)] = (function, refusal(exercise.name, label(function, exercise.name)))
    return found


def _namespaces(extra: Iterable[dict]) -> Iterator[dict]:
    """Every loaded course_lib module's namespace, then the ``extra`` ones."""
    for module_name, module in list(sys.modules.items()):
        if module is not None and module_name.startswith("course_lib"):
            yield vars(module)
    yield from extra


def refuse_all(exercises: Iterable, extra: Iterable[dict] = ()) -> list[tuple]:
    """Swap every name of every reference of ``exercises`` for a refusal, in the library and in
    the ``extra`` namespaces (a student's globals, which may hold a reference imported by
    name); returns what was swapped, for :func:`forbidden` to put back."""
    exercises = list(exercises)
    found = references(exercises)
    swapped = []
    for namespace in _namespaces(extra):
        for name, value in list(namespace.items()):
            if id(value) in found and found[id(value)][0] is value:
                swapped.append((namespace, name, value))
                namespace[name] = found[id(value)][1]
    for exercise in exercises:  # frozen dataclasses: the registry's own handle too
        swapped.append((exercise, "library", exercise.library))
        object.__setattr__(exercise, "library", found[id(exercise.library)][1])
    return swapped


@contextmanager
def forbidden(exercises: Iterable, extra: Iterable[dict] = ()) -> Iterator[None]:
    """Inside: every reference of ``exercises`` refuses to run, under every name it has."""
    swapped = refuse_all(exercises, extra)
    try:
        yield
    finally:
        for holder, name, value in reversed(swapped):
            if isinstance(holder, dict):
                holder[name] = value
            else:
                object.__setattr__(holder, name, value)
