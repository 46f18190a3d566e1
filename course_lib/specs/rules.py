"""What one parameter accepts: a type, a range, a choice, or a list or mapping of such.

A rule refuses with one line that names the parameter, the value and what is allowed
("prune_rates[1] must be a number in [0, 1], got 1.5."); ``kinds`` are the Python types it takes,
which ``course run`` converts command-line text to.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from course_lib import checks
from course_lib.errors import CourseError

SHOWN = 80  # characters of a refused value shown in a message


def shown(value) -> str:
    """``repr(value)``, cut to one short line."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


class Rule:
    """A rule for one value; ``allows`` says whether its type and range fit."""

    kinds: tuple[type, ...] = ()

    def allows(self, value) -> bool:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def check(self, name: str, value) -> None:
        """A CourseError naming ``name``, the value and what is allowed, unless it fits."""
        if not self.allows(value):
            raise CourseError(f"{name} must be {self.describe()}, got {shown(value)}.")


class Anything(Rule):
    kinds = ()

    def allows(self, value) -> bool:
        return True

    def describe(self) -> str:
        return "a value"


class Integer(Rule):
    kinds = (int,)

    def __init__(self, low: int | None = None, high: int | None = None):
        self.low, self.high = low, high

    def allows(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self) -> str:
        return f"an integer {checks.bounds(self.low, self.high)}".rstrip()


class Number(Rule):
    """A finite int or float between ``low`` and ``high`` (inclusive unless open)."""

    kinds = (float, int)

    def __init__(self, low=None, high=None, *, open_low=False, open_high=False):
        self.low, self.high, self.open_low, self.open_high = low, high, open_low, open_high

    def allows(self, value) -> bool:
        if not checks.is_number(value):
            return False
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        below = self.high is None or (value < self.high if self.open_high else value <= self.high)
        return above and below

    def describe(self) -> str:
        where = checks.bounds(self.low, self.high, self.open_low, self.open_high)
        return f"a number {where}".rstrip()


class Flag(Rule):
    kinds = (bool,)

    def allows(self, value) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "True or False"


class Choice(Rule):
    def __init__(self, *values):
        self.values = values
        self.kinds = (type(values[0]),)

    def allows(self, value) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return f"one of {', '.join(map(repr, self.values))}"


class Text(Rule):
    """Non-empty text: a layer name."""

    kinds = (str,)

    def allows(self, value) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def describe(self) -> str:
        return "a name (non-empty text)"


class Folder(Rule):
    """A folder path (text or a path object); ``existing``: it must be a folder already."""

    kinds = (str,)

    def __init__(self, existing: bool = False):
        self.existing = existing

    def allows(self, value) -> bool:
        if not isinstance(value, str | os.PathLike) or not str(os.fspath(value)).strip():
            return False
        return not self.existing or Path(value).is_dir()

    def describe(self) -> str:
        return "an existing folder" if self.existing else "a folder path"


class Location(Rule):
    """A path to a file or a folder (text or a path object); whether it exists is the reader's
    check (``checkpoints.tuned_reference``), so that a run planned ahead can name it."""

    kinds = (str,)

    def allows(self, value) -> bool:
        return isinstance(value, str | os.PathLike) and bool(str(os.fspath(value)).strip())

    def describe(self) -> str:
        return "a file or folder path"


class Optional(Rule):
    """None, or what ``inner`` allows."""

    def __init__(self, inner: Rule):
        self.inner = inner
        self.kinds = inner.kinds

    def allows(self, value) -> bool:
        return value is None or self.inner.allows(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def check(self, name: str, value) -> None:
        if value is not None:
            super().check(name, value)
            self.inner.check(name, value)


class Either(Rule):
    """What one of ``rules`` allows (the first whose type fits judges the value)."""

    def __init__(self, *rules: Rule):
        self.rules = rules
        self.kinds = tuple(kind for rule in rules for kind in rule.kinds)

    def allows(self, value) -> bool:
        return any(rule.allows(value) for rule in self.rules)

    def describe(self) -> str:
        return ", or ".join(rule.describe() for rule in self.rules)

    def check(self, name: str, value) -> None:
        super().check(name, value)
        next(rule for rule in self.rules if rule.allows(value)).check(name, value)


class ListOf(Rule):
    """A list (or tuple) of at least ``min_len`` items, each allowed by ``item``."""

    kinds = (list, tuple)

    def __init__(self, item: Rule, min_len: int = 1, distinct: bool = False):
        self.item, self.min_len, self.distinct = item, min_len, distinct

    def allows(self, value) -> bool:
        return isinstance(value, list | tuple) and len(value) >= self.min_len

    def describe(self) -> str:
        size = "a non-empty list" if self.min_len else "a list (may be empty)"
        return f"{size}, each {self.item.describe()}" + (", none twice" if self.distinct else "")

    def check(self, name: str, value) -> None:
        super().check(name, value)
        for index, item in enumerate(value):
            self.item.check(f"{name}[{index}]", item)
        if self.distinct:
            twice = [item for index, item in enumerate(value) if item in value[:index]]
            if twice:
                raise CourseError(f"{name} holds {shown(twice[0])} twice: give each value once.")


class MappingOf(Rule):
    """A mapping of at least ``min_len`` entries: keys allowed by ``keys``, values by ``values``."""

    kinds = (dict,)

    def __init__(self, values: Rule, keys: Rule | None = None, min_len: int = 1):
        self.values, self.keys, self.min_len = values, keys or Text(), min_len

    def allows(self, value) -> bool:
        return isinstance(value, Mapping) and len(value) >= self.min_len

    def describe(self) -> str:
        size = "a non-empty mapping" if self.min_len else "a mapping"
        return f"{size} of {self.keys.describe()} to {self.values.describe()}"

    def check(self, name: str, value) -> None:
        super().check(name, value)
        for key, item in value.items():
            self.keys.check(f"a key of {name}", key)
            self.values.check(f"{name}[{key!r}]", item)


class Record(Rule):
    """A mapping with exactly the keys of ``fields``, each value allowed by its rule."""

    kinds = (dict,)

    def __init__(self, fields: Mapping[str, Rule]):
        self.fields = dict(fields)

    def allows(self, value) -> bool:
        return isinstance(value, Mapping) and set(value) == set(self.fields)

    def describe(self) -> str:
        return "a mapping of " + ", ".join(
            f"{key!r} to {rule.describe()}" for key, rule in self.fields.items()
        )

    def check(self, name: str, value) -> None:
        super().check(name, value)
        for key, rule in self.fields.items():
            rule.check(f"{name}[{key!r}]", value[key])
