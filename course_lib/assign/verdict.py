"""What a check of one exercise found, shown in the notebook and read back by the grader.

A :class:`Verdict` lists the check's cases, each passed or failed with the reason. In JupyterLab
it shows as a green or red box; in a terminal as text; and the executed notebook keeps it as JSON
under :data:`MIME`, which ``course grade`` reads to score the exercise.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

MIME = "application/vnd.compression-lab.check+json"
NOT_IMPLEMENTED = "not implemented yet"


@dataclass(repr=False)
class Verdict:
    """The cases of one check of ``exercise`` (``hidden``: the instructor's stronger cases);
    ``failures`` maps a failed case to why it failed."""

    exercise: str
    hidden: bool = False
    cases: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return len(self.cases) - len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def missing(self) -> bool:
        """Whether every case found the function still a stub."""
        return bool(self.cases) and all(
            self.failures.get(case, "").startswith(NOT_IMPLEMENTED) for case in self.cases
        )

    def headline(self) -> str:
        kind = "hidden checks" if self.hidden else "checks"
        if self.missing:
            return f"✘ {self.exercise}: {NOT_IMPLEMENTED}"
        mark = "✔" if self.ok else "✘"
        return f"{mark} {self.exercise}: {self.passed} of {len(self.cases)} {kind} passed"

    def lines(self) -> list[str]:
        """The headline, then one line per failed case."""
        if self.missing:
            return [self.headline()]
        return [self.headline()] + [f"  ✘ {case}: {why}" for case, why in self.failures.items()]

    def __repr__(self) -> str:  # what a terminal shows (IPython shows the HTML)
        return "\n".join(self.lines())

    def to_dict(self) -> dict:
        return {
            "exercise": self.exercise,
            "hidden": self.hidden,
            "cases": self.cases,
            "failures": self.failures,
        }

    @classmethod
    def from_dict(cls, values: dict) -> Verdict:
        return cls(values["exercise"], values["hidden"], values["cases"], values["failures"])

    def _repr_html_(self) -> str:
        colour, back = ("#1b7f3b", "#e8f5e9") if self.ok else ("#b3261e", "#fdecea")
        items = "".join(
            f"<li><b>{html.escape(case)}</b>: {html.escape(why)}</li>"
            for case, why in self.failures.items()
        )
        details = f"<ul style='margin:4px 0 0 0'>{items}</ul>" if items and not self.missing else ""
        return (
            f"<div class='course-check' data-ok='{str(self.ok).lower()}' style='border-left:6px "
            f"solid {colour};background:{back};padding:6px 10px;color:#222'>"
            f"<b style='color:{colour}'>{html.escape(self.headline())}</b>{details}</div>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {
            "text/plain": "\n".join(self.lines()),
            "text/html": self._repr_html_(),
            MIME: self.to_dict(),
        }
