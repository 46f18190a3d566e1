"""The smoke / default / full settings of each notebook, read from ``profiles/<notebook>.yaml``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import yaml

from course_lib.errors import CourseError

PROFILES = ("smoke", "default", "full")
FOLDER = Path(__file__).parent / "profiles"


def resolve_profile_name(profile: str | None) -> str:
    """``profile``, else $COURSE_PROFILE, else 'default'; checked against PROFILES."""
    name = profile or os.environ.get("COURSE_PROFILE") or "default"
    if name not in PROFILES:
        raise CourseError(f"Unknown profile {name!r}: choose one of {', '.join(PROFILES)}.")
    return name


def read_yaml(path: str | Path, what: str):
    """The content of a user's YAML file (None when empty); clear errors when it is missing or
    not YAML. ``what`` names the file in the message ("parameter file", "sweep file")."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"No {what} at {path}.")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise CourseError(f"{path} is not valid YAML: {exc}".splitlines()[0]) from None


@cache
def load_profile_file(notebook: str) -> dict:
    path = FOLDER / f"{notebook}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in FOLDER.glob("*.yaml"))
        raise CourseError(f"No profiles for {notebook!r}: one of {known}.")
    return yaml.safe_load(path.read_text())


def resolve(notebook: str, parameters: Mapping) -> SimpleNamespace:
    """A notebook's settings: for each setting of its profile file, the value of the notebook
    parameter of that name (``parameters``: the notebook's ``globals()``), or the profile's value
    where that is None; the profile is ``parameters["profile"]`` (see resolve_profile_name)."""
    name = resolve_profile_name(parameters.get("profile"))
    settings = dict(load_profile_file(notebook)[name])
    missing = sorted(set(settings) - set(parameters))
    if missing:
        raise CourseError(
            f"{notebook}'s parameters cell lacks the profile setting(s) {missing}: add them "
            "with the value None."
        )
    settings.update({k: parameters[k] for k in settings if parameters[k] is not None})
    return SimpleNamespace(profile=name, **settings)
