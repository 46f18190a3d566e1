"""The sweep file of ``course sweep``: read and checked before anything runs.

A sweep file names the notebook and either a cartesian ``grid`` or a list of ``runs``::

    notebook: 01_training        # as for `course run`: 01, training, 01_training
    profile: smoke               # optional (else $COURSE_PROFILE, else default)
    name: lr-momentum            # optional: the folder runs/sweeps/<name> (else the file's name)
    parameters: {epochs: 2}      # optional: values shared by every run
    grid:                        # every combination ...
      lr: [0.1, 0.01, 0.001]
      momentum: [0.9, 0.99]
    # runs: [{lr: 0.1}, {lr: 0.01, momentum: 0.99}]   # ... or an explicit list
    rank_by: test_accuracy       # optional: the metric the top table is sorted by
    mode: max                    # max or min
    top: 5

See :mod:`course_lib.runs.sweep` for how its runs execute.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from course_lib import checks, profiles
from course_lib.errors import CourseError
from course_lib.runs.parameters import (
    RESERVED_PARAMETERS,
    Warn,
    check_value,
    check_with_spec,
    discover_notebooks,
    find_parameter,
    future_warning,
    inspect_parameters,
    select_notebooks,
)

MAX_RUNS = 10_000  # a grid larger than this is a mistake (and checking it would take long)
SWEEP_KEYS = {"notebook", "profile", "name", "parameters", "grid", "runs", "rank_by", "mode", "top"}


@dataclass(frozen=True)
class Sweep:
    """A checked sweep: one notebook and the distinct parameter sets to run it with."""

    name: str
    notebook: Path
    profile: str
    parameter_sets: list[dict]
    rank_by: str | None = None
    mode: str = "max"
    top: int = 5

    def key(self, parameters: dict) -> str:
        """A short, stable name for one parameter set of this sweep."""
        text = json.dumps([self.notebook.stem, self.profile, parameters], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:10]

    def folder(self, runs_dir: str | Path) -> Path:
        """Where the sweep's runs and results.csv go: ``runs_dir/sweeps/<name>``."""
        return Path(runs_dir) / "sweeps" / self.name


def _read_spec(path: Path) -> dict:
    spec = profiles.read_yaml(path, "sweep file")
    if not isinstance(spec, dict) or "notebook" not in spec:
        raise CourseError(f"{path} must be a mapping with a `notebook` (see `course sweep -h`).")
    unknown = sorted(set(spec) - SWEEP_KEYS)
    if unknown:
        raise CourseError(f"{path}: unknown key(s) {unknown}; the keys are {sorted(SWEEP_KEYS)}.")
    if ("grid" in spec) == ("runs" in spec):
        raise CourseError(f"{path} needs exactly one of `grid` (all combinations) or `runs`.")
    return spec


def _combinations(path: Path, grid: dict) -> list[dict]:
    if not isinstance(grid, dict) or not grid:
        raise CourseError(f"{path}: `grid` must map parameter names to lists of values.")
    for name, values in grid.items():
        if not isinstance(values, list):
            raise CourseError(
                f"{path}: grid[{name!r}] must be a list of values, got {values!r}: write "
                f"`{name}: [{values!r}]` for one value, or put it under `parameters`."
            )
    runs = math.prod(len(values) for values in grid.values())
    if runs > MAX_RUNS:
        raise CourseError(
            f"{path}: the grid makes {runs} runs, more than {MAX_RUNS}: sweep fewer values."
        )
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _parameter_sets(path: Path, spec: dict) -> list[dict]:
    """Each run's values as the file gives them: the shared ``parameters`` and its own."""
    if "grid" in spec:
        sets = _combinations(path, spec["grid"])
    else:
        sets = spec["runs"]
        if not isinstance(sets, list) or not all(isinstance(s, dict) for s in sets):
            raise CourseError(f"{path}: `runs` must be a list of parameter mappings.")
    if not sets:
        raise CourseError(f"{path}: the sweep is empty (a grid axis or `runs` has no values).")
    shared = spec.get("parameters") or {}
    if not isinstance(shared, dict):
        raise CourseError(f"{path}: `parameters` must be a mapping.")
    return [{**shared, **s} for s in sets]


def _checked_sets(
    path: Path, notebook: Path, sets: list[dict], profile: str, warn: Warn
) -> list[dict]:
    """Every set's names belong to the notebook, its values have the right types and pass the
    notebook's spec (as its first cell will check them); no set appears twice."""
    table = inspect_parameters(notebook)
    checked = []
    for values in sets:
        found = {}
        for name in values:
            if name in RESERVED_PARAMETERS:
                raise CourseError(f"{path}: {name} is set by course itself; use `profile:` keys.")
            found[name] = find_parameter(notebook, table, name, warn)
            if found[name] is None:
                names = ", ".join(sorted(set(table) - set(RESERVED_PARAMETERS)))
                raise CourseError(f"{path}: {notebook.stem} has no parameter {name!r}: {names}.")
        checked.append({n: check_value(notebook, found[n], v) for n, v in sorted(values.items())})
        try:
            check_with_spec(notebook, table, {"profile": profile, **checked[-1]})
        except CourseError as error:
            raise CourseError(f"{path}: {error}") from None
    if len({json.dumps(s, sort_keys=True) for s in checked}) != len(checked):
        raise CourseError(f"{path}: some parameter sets appear twice; each run must differ.")
    return checked


def load_sweep(
    path: str | Path,
    notebooks_dir: str | Path,
    profile: str | None = None,
    warn: Warn = future_warning,
) -> Sweep:
    """Read and check a sweep file: the notebook exists, every parameter name is in its
    parameters cell with a value of the right type, and there is at least one run."""
    path = Path(path)
    spec = _read_spec(path)
    (notebook,) = select_notebooks(discover_notebooks(notebooks_dir), [str(spec["notebook"])])
    profile = profiles.resolve_profile_name(profile or spec.get("profile"))
    checked = _checked_sets(path, notebook, _parameter_sets(path, spec), profile, warn)
    mode, top, name = (
        spec.get("mode", "max"),
        spec.get("top", 5),
        str(spec.get("name") or path.stem),
    )
    if mode not in ("max", "min"):
        raise CourseError(f"{path}: `mode` is max or min, not {mode!r}.")
    checks.integer(f"{path}: `top` is how many best runs to show; it", top, low=1)
    if not re.fullmatch(r"[\w.-]+", name) or name.startswith("."):
        raise CourseError(f"{path}: `name` {name!r} must be letters, digits, '_', '-' or '.'.")
    return Sweep(
        name=name,
        notebook=notebook,
        profile=profile,
        parameter_sets=checked,
        rank_by=spec.get("rank_by"),
        mode=mode,
        top=top,
    )
