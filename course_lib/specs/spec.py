"""A notebook's spec: a rule per parameter and the relations between parameters, checked in one
call that prefixes every refusal with the notebook's name."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from course_lib.errors import CourseError
from course_lib.specs.rules import Rule


@dataclass(frozen=True)
class Relation:
    """A check over several parameters (``check(*values)``, in the order of ``names``); it runs
    when all of them are given."""

    names: tuple[str, ...]
    check: Callable[..., None]


@dataclass(frozen=True)
class Spec:
    """What every parameter of a notebook accepts (``profile`` aside: profiles.resolve reads it)."""

    parameters: Mapping[str, Rule]
    relations: tuple[Relation, ...] = field(default=())

    def check(self, notebook: str, values: Mapping, origins: Mapping[str, str] | None = None):
        """Refuse the first value of ``values`` (parameter name -> value; names not given are
        not checked) that its rule or a relation does not allow. ``origins`` says where a value
        came from (a profile file), for the message."""
        origins = origins or {}
        for name, rule in self.parameters.items():
            if name in values:
                try:
                    rule.check(name, values[name])
                except CourseError as error:
                    where = f" It is {origins[name]}." if name in origins else ""
                    raise CourseError(f"{notebook}: {error}{where}") from None
        for relation in self.relations:
            if all(name in values for name in relation.names):
                try:
                    relation.check(*(values[name] for name in relation.names))
                except CourseError as error:
                    named = [name for name in relation.names if name in str(error)]
                    taken = [name for name in named if name in origins]
                    where = f" ({', '.join(taken)}: {origins[taken[0]]})" if taken else ""
                    raise CourseError(f"{notebook}: {error}{where}") from None
