"""The seed profiles (``course_lib/profiles/seeds/seedNNN.yaml``): which notebooks reproduce a seed
report's experiments, every number the report gives, and where the kit measures each.

See ``course_lib/profiles/seeds/README.md`` for the file format.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from course_lib import profiles
from course_lib.errors import CourseError

FOLDER = profiles.FOLDER / "seeds"
SEEDS = ("000", "001", "002", "003", "004")
FROM_NOTEBOOK_01 = "01_training"  # `reference: 01_training`: the net this reproduction's 01 trained
ENTRY_KEYS = {  # what a number and a figure of a seed profile may say
    "numbers": {"where", "what", "report", "value", "note", "kit"},
    "figures": {"figure", "what", "kit", "note"},
}
KIT_KEYS = {"notebook", "key", "as", "field", "where", "rank_by", "order", "rank", "per"}
AS = {
    "value": lambda x: x,
    "percent": lambda x: 100 * x,
    "error_percent": lambda x: 100 * (1 - x),
}


@dataclass(frozen=True)
class SeedProfile:
    """One seed report's reproduction: its runs (notebook stem -> parameters), their quick form,
    the report's numbers and figures."""

    seed: str
    report: str
    title: str
    dataset: str
    profile: str
    runs: dict
    quick: dict
    numbers: list
    figures: list

    def plan(self, quick: bool) -> tuple[str, dict[str, dict]]:
        """The profile and each notebook's parameters; ``quick``: the quick overrides on top."""
        if not quick:
            return self.profile, {nb: dict(p) for nb, p in self.runs.items()}
        extra = self.quick.get("runs", {})
        runs = {nb: {**p, **extra.get(nb, {})} for nb, p in self.runs.items()}
        return self.quick.get("profile", "smoke"), runs


def seed_names(text: str) -> list[str]:
    """``000``-``004`` (or ``0``-``4``) as one seed, ``all`` as every seed."""
    if text == "all":
        return list(SEEDS)
    name = text.zfill(3) if text.isdigit() else text
    if name not in SEEDS:
        raise CourseError(f"Unknown seed {text!r}: give one of {', '.join(SEEDS)} or all.")
    return [name]


def load_seed(seed: str) -> SeedProfile:
    """The seed profile ``seedNNN.yaml``, its parts checked."""
    path = FOLDER / f"seed{seed}.yaml"
    content = profiles.read_yaml(path, "seed profile")
    if not isinstance(content, dict):
        raise CourseError(f"{path} must be a mapping: restore it.")
    missing = sorted({"seed", "report", "dataset", "runs", "numbers", "figures"} - set(content))
    if missing:
        raise CourseError(f"{path} lacks {missing}: restore it.")
    for part, keys in ENTRY_KEYS.items():
        for entry in content[part]:
            _check_keys(path, part, entry, keys)
            if isinstance(entry.get("kit"), Mapping):
                _check_keys(path, part, entry["kit"], KIT_KEYS)
    return SeedProfile(
        seed=str(content["seed"]),
        report=content["report"],
        title=content.get("title", ""),
        dataset=content["dataset"],
        profile=content.get("profile", "default"),
        runs=content["runs"],
        quick=content.get("quick", {}),
        numbers=content["numbers"],
        figures=content["figures"],
    )


def _check_keys(path, part: str, entry, keys: set[str]) -> None:
    if not isinstance(entry, Mapping):
        raise CourseError(f"{path}: an entry of {part} is not a mapping ({entry!r}): restore it.")
    unknown = sorted(set(entry) - keys)
    if unknown:
        raise CourseError(
            f"{path}: an entry of {part} has keys {unknown} beside {sorted(keys)} ({entry!r}): "
            'quote a value that holds a comma or a colon, as in what: "a, b".'
        )


class NotMeasured(LookupError):
    """The run holds no value where a number's ``kit`` entry points."""


def _path(metrics: Mapping, key: str):
    """The value at a dotted ``key``; a part that is a number indexes a list."""
    value = metrics
    for part in key.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            raise NotMeasured(f"no {key!r} in metrics.json")
    return value


def _matching(rows: list, where: Mapping | None) -> list[dict]:
    if not isinstance(rows, list):
        raise NotMeasured("not a list of records")
    where = where or {}
    return [
        r for r in rows if isinstance(r, Mapping) and all(r.get(k) == v for k, v in where.items())
    ]


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise NotMeasured(f"{value!r} is not a measured number")
    return float(value)


def _record(rows: list, kit: Mapping) -> dict:
    """The record of ``rows`` that ``kit`` picks: its ``where`` match, ranked by ``rank_by``."""
    found = _matching(rows, kit.get("where"))
    if "rank_by" in kit:
        ranked = [r for r in found if isinstance(r.get(kit["rank_by"]), int | float)]
        ranked.sort(key=lambda r: r[kit["rank_by"]], reverse=kit.get("order") == "max")
        found = ranked[kit.get("rank", 1) - 1 :]
    if not found:
        raise NotMeasured(f"no record {dict(kit.get('where') or {})} in {kit['key']}")
    return found[0]


def kit_value(metrics: Mapping, kit: Mapping) -> float:
    """The number ``kit`` names in one notebook's metrics.json; NotMeasured when it is not there."""
    value = _path(metrics, kit["key"])
    if "field" in kit:
        rows = value
        value = _number(_record(rows, kit).get(kit["field"]))
        if "per" in kit:
            other = _record(rows, {"key": kit["key"], **kit["per"]})
            value /= _number(other.get(kit["per"]["field"]))
    return AS[kit.get("as", "value")](_number(value))


def figure_files(figure: Mapping) -> list[str]:
    """The kit figure files (``NN_notebook/name.png``) a report figure corresponds to."""
    kit = figure.get("kit")
    return [] if kit is None else [kit] if isinstance(kit, str) else list(kit)
