"""The smoke / default / full settings of each notebook, read from ``profiles/<notebook>.yaml``."""

from __future__ import annotations

import ast
import difflib
import os
import warnings
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import SimpleNamespace

import yaml

from course_lib import specs
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
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CourseError(f"{path} is not valid YAML ({problem}{where}): fix it.") from None
    except UnicodeDecodeError:
        raise CourseError(f"{path} is not a text file (UTF-8): pass a YAML file.") from None


@cache
def load_profile_file(notebook: str) -> dict:
    """The content of ``profiles/<notebook>.yaml``."""
    path = FOLDER / f"{notebook}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in FOLDER.glob("*.yaml"))
        raise CourseError(f"No profiles for {notebook!r}: one of {known}.")
    content = read_yaml(path, "profile file")
    if not isinstance(content, dict):
        raise CourseError(f"{path} must be a mapping (profile name -> settings): restore it.")
    return content


def profile_settings(notebook: str, profile: str) -> dict:
    """The settings of ``profile`` in the notebook's profile file; every profile must be there,
    each naming the same settings."""
    path = FOLDER / f"{notebook}.yaml"
    table = load_profile_file(notebook)
    for name in PROFILES:
        if not isinstance(table.get(name), dict):
            raise CourseError(f"{path} lacks the profile {name!r} (a mapping of settings): add it.")
    for name in PROFILES:
        differ = sorted(set(table[name]) ^ set(table[profile]))
        if differ:
            raise CourseError(
                f"{path}: the profiles {profile!r} and {name!r} differ in the settings {differ}; "
                "give every profile the same settings."
            )
    return dict(table[profile])


def resolve(notebook: str, parameters: Mapping) -> SimpleNamespace:
    """A notebook's settings, checked before it does any work: for each setting of its profile
    file, the notebook parameter of that name (``parameters``: the notebook's ``globals()``), or
    the profile's value where that is None; the profile is ``parameters["profile"]`` (see
    resolve_profile_name). Every parameter is checked against the notebook's spec
    (course_lib/specs), and a name given to the notebook that is not one of its parameters (a
    misspelt name papermill injects with only a warning) is refused."""
    parameters = _with_new_names(notebook, parameters)
    _refuse_unknown(notebook, parameters, _assigned_by_parameter_cells(parameters))
    values = check(notebook, parameters)
    settings = profile_settings(notebook, values["profile"])
    return SimpleNamespace(profile=values["profile"], **{k: values[k] for k in settings})


def check(notebook: str, parameters: Mapping) -> dict:
    """``parameters`` (a notebook's parameters by name; names left out are not checked) with
    None replaced by the profile's value, each checked against the notebook's spec; the profile's
    name is under "profile". A CourseError names the first value that is not allowed."""
    spec = specs.spec_of(notebook)
    profile = resolve_profile_name(parameters.get("profile"))
    settings = profile_settings(notebook, profile)
    missing = sorted(set(settings) - set(parameters))
    if missing:
        raise CourseError(
            f"{notebook}'s parameters cell lacks the profile setting(s) {missing}: add them "
            "with the value None."
        )
    values = {k: parameters[k] for k in spec.parameters if k in parameters}
    from_profile = [k for k in settings if parameters[k] is None]
    values.update({k: settings[k] for k in from_profile})
    where = f"the {profile} profile's value in course_lib/profiles/{notebook}.yaml"
    spec.check(notebook, values, dict.fromkeys(from_profile, where))
    return {**values, "profile": profile}


# Values papermill can inject; modules, functions and classes are the notebook's own imports.
PLAIN = (type(None), bool, int, float, complex, str, bytes, list, tuple, dict, set)


def _refuse_unknown(notebook: str, parameters: Mapping, assigned: set[str] | None) -> None:
    """Refuse a plain value under a name that is no parameter of ``notebook``; ``assigned``
    (None: every name) limits the suspects to the names the parameter cells assigned."""
    known = {*specs.spec_of(notebook).parameters, "profile"}
    unknown = sorted(
        name
        for name, value in parameters.items()
        if name not in known
        and not name.startswith("_")
        and isinstance(value, PLAIN)
        and (assigned is None or name in assigned)
    )
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise CourseError(
            f"{notebook} has no parameter {unknown[0]!r}{hint}: its parameters are "
            f"{', '.join(sorted(known))}."
        )


def _assigned_by_parameter_cells(namespace: Mapping) -> set[str] | None:
    """The names assigned by the cells run just before the current one that do nothing but
    assign (the parameters cell, papermill's injected cell), read from IPython's input history
    ``In``; None outside IPython. Names that later cells of an earlier run left in a JupyterLab
    kernel are not among them."""
    history = namespace.get("In")
    if not isinstance(history, list) or not history:
        return None
    names: set[str] = set()
    for source in reversed(history[:-1]):  # history[-1] is the cell running now
        assigned = _assignments(source)
        if not assigned:
            break
        names |= assigned
    return names


def _assignments(source: str) -> set[str]:
    """The names a cell assigns when every statement of it is an assignment to names; else an
    empty set."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return set()
    names = set()
    for node in body:
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            names |= {target.id for target in node.targets}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        else:
            return set()
    return names


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
