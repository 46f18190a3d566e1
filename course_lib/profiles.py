"""The smoke / default / full settings of each notebook, read from ``profiles/<notebook>.yaml``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import yaml

from course_lib.errors import CourseError

PROFILES = ("smoke", "default", "full")
FOLDER = Path(__file__).parent / "profiles"
# Notebook parameters renamed in this release: {notebook: {old name: new name}}. An old name
# still works, with a FutureWarning; it goes in the next release.
RENAMED: dict[str, dict[str, str]] = {
    "02_lc_compression": {"prune_fractions": "keep_fractions"},
    "04_tucker": {
        "fine_tune_epochs": "finetune_epochs",
        "fine_tune_ks": "finetune_ks",
        "fine_tune_lr": "finetune_lr",
        "fine_tune_subset": "finetune_subset",
    },
    "05_alpha_branch": {"fraction": "remove_fraction"},
}


def renamed(notebook: str, name: str) -> str | None:
    """The new name of a renamed parameter of ``notebook`` (None: not renamed)."""
    return RENAMED.get(notebook, {}).get(name)


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
    parameters = _with_new_names(notebook, parameters)
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


def _with_new_names(notebook: str, parameters: Mapping) -> dict:
    """``parameters`` with the values given under old names moved to the new ones."""
    parameters = dict(parameters)
    for old, new in RENAMED.get(notebook, {}).items():
        if old in parameters:
            warnings.warn(
                f"{notebook}: the parameter {old!r} is now called {new!r}; the old name goes in "
                "the next release.",
                FutureWarning,
                stacklevel=3,
            )
            value = parameters.pop(old)
            if parameters.get(new) is None:
                parameters[new] = value
    return parameters
