"""A notebook's parameters: finding the course notebooks, reading their ``parameters`` cell (names,
defaults, accepted types, help) and checking the values a user gives them."""

from __future__ import annotations

import ast
import contextlib
import io
import re
import tokenize
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from course_lib import profiles, specs
from course_lib.errors import CourseError

NOTEBOOK_NAME = re.compile(r"^(?P<number>\d{2})_(?P<topic>\w+)$")
REFERENCES = "references"  # profiles/references.yaml: the shared reference trainings
# Set by the runner for every notebook: the user chooses them with --profile and --runs-dir.
RESERVED_PARAMETERS = ("output_dir", "profile")
ANNOTATION_TYPES = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "dict": (dict,),
}
IMPLIED_BY = {int: float, tuple: list}  # not named where float (list) is taken: it goes too
LITERAL_ERRORS = (ValueError, TypeError, SyntaxError, MemoryError, RecursionError)
Warn = Callable[[str], None]


# ----------------------------------------------------------------------------------- notebooks


def discover_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """The course notebooks ``NN_name.ipynb`` in ``notebooks_dir``, in course order."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise CourseError(f"No notebooks folder at {folder}: pass --notebooks-dir.")
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.match(p.stem))
    if not found:
        raise CourseError(f"{folder} holds no notebooks named NN_name.ipynb.")
    return found


def matches(notebook: Path, wanted: str) -> bool:
    """Whether ``wanted`` ("01", "01_training", "training" or a path) names ``notebook``."""
    key = Path(wanted).name.removesuffix(".ipynb")
    parts = NOTEBOOK_NAME.match(notebook.stem)
    return key in (notebook.stem, parts["topic"]) or (
        key.isdigit() and int(key) == int(parts["number"])
    )


def select_notebooks(available: list[Path], wanted: Iterable[str]) -> list[Path]:
    """The notebooks named in ``wanted`` ("01", "01_training", "training" or a path), in course
    order; all of them when ``wanted`` is empty."""
    wanted = list(wanted)
    if not wanted:
        return list(available)
    chosen = set()
    for name in wanted:
        hits = [nb for nb in available if matches(nb, name)]
        if len(hits) != 1:
            known = ", ".join(nb.stem for nb in available)
            problem = "is ambiguous" if hits else "is not a notebook"
            raise CourseError(f"{name!r} {problem}: choose from {known}.")
        chosen.add(hits[0])
    return [nb for nb in available if nb in chosen]


# ------------------------------------------------------------------------ the parameters cell


@dataclass(frozen=True)
class Parameter:
    """One name of a notebook's ``parameters`` cell; ``kinds`` None accepts any type."""

    name: str
    default: object
    kinds: tuple[type, ...] | None
    help: str = ""

    def describe(self) -> str:
        kinds = "any" if self.kinds is None else self.kinds[0].__name__
        note = f"  # {self.help}" if self.help else ""
        return f"{self.name} ({kinds}) = {self.default!r}{note}"


def _kinds_of(value: object) -> tuple[type, ...] | None:
    if value is None:
        return None
    for kinds in ANNOTATION_TYPES.values():
        if type(value) is kinds[0]:
            return kinds
    return (type(value),)


def _kinds_from_annotation(annotation: str | None) -> tuple[type, ...] | None:
    """Accepted types from ``float``, ``Optional[float]`` or ``float | None``."""
    if annotation is None:
        return None
    inner = re.fullmatch(r"\s*Optional\[(.+)\]\s*", annotation)
    names = [n.strip() for n in (inner[1] if inner else annotation).split("|")]
    names = [n for n in names if n != "None"]
    return ANNOTATION_TYPES.get(names[0]) if len(names) == 1 else None


def _profile_values(notebook: Path) -> dict[str, list]:
    """Every value each setting takes in the notebook's profiles (``profiles/NN_name.yaml``:
    profile -> settings) and in the shared reference trainings (``references.yaml``: section ->
    model or profile -> settings)."""
    values: dict[str, list] = {}
    tables = []
    if (profiles.FOLDER / f"{notebook.stem}.yaml").is_file():
        tables += profiles.load_profile_file(notebook.stem).values()
    if (profiles.FOLDER / f"{REFERENCES}.yaml").is_file():
        for section in profiles.load_profile_file(REFERENCES).values():
            tables += section.values()
    for settings in tables:
        for name, value in (settings or {}).items():
            values.setdefault(name, []).append(value)
    return values


def _parameters_source(notebook: Path) -> str:
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    if not tagged:
        raise CourseError(
            f"{notebook.name} has no cell tagged 'parameters' (see the notebook contract)."
        )
    return tagged[0].source


def _declarations(
    source: str, notebook: Path
) -> Iterator[tuple[str, object, bool, str | None, str]]:
    """``(name, default, is_literal, annotation, help)`` for each top-level assignment of a
    parameters cell (a default that is no literal comes as its source text); help is the comment
    on the assignment's last line."""
    try:
        tree = ast.parse(source)
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError) as exc:
        raise CourseError(
            f"{notebook.name}'s parameters cell is not valid Python ({exc}): fix the cell."
        ) from None
    comments = {
        t.start[0]: t.string.lstrip("#").strip() for t in tokens if t.type == tokenize.COMMENT
    }
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            targets, annotation = [node.target], ast.unparse(node.annotation)
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            targets, annotation = node.targets, None
        else:
            continue
        try:
            default, is_literal = ast.literal_eval(node.value), True
        except LITERAL_ERRORS:
            default, is_literal = ast.get_source_segment(source, node.value), False
        for target in targets:
            yield target.id, default, is_literal, annotation, comments.get(node.end_lineno, "")


def inspect_parameters(notebook: Path) -> dict[str, Parameter]:
    """The names of ``notebook``'s parameters cell with the types they accept: from the
    notebook's spec (course_lib/specs), else an annotation, else the default's type, else the
    type of the notebook's profile values. (Read with ``ast``: papermill's line pattern drops a
    line whose comment holds an '='.)"""
    profile_values = _profile_values(notebook)
    rules = specs.SPECS[notebook.stem].parameters if notebook.stem in specs.SPECS else {}
    table = {}
    for name, default, is_literal, annotation, help_text in _declarations(
        _parameters_source(notebook), notebook
    ):
        kinds = (rules[name].kinds or None) if name in rules else None
        kinds = kinds or _kinds_from_annotation(annotation)
        kinds = kinds or (_kinds_of(default) if is_literal else None)
        if kinds is None:
            typed = [v for v in profile_values.get(name, []) if v is not None]
            kinds = _kinds_of(typed[0]) if typed else None
        table[name] = Parameter(name, default, kinds, help_text)
    missing = [name for name in RESERVED_PARAMETERS if name not in table]
    if missing:
        raise CourseError(
            f"{notebook.name}'s parameters cell lacks {', '.join(missing)} (see the notebook "
            "contract): add `output_dir = None` and `profile = None`."
        )
    return table


# ------------------------------------------------------------------------------ given values


def future_warning(text: str) -> None:
    """The default ``warn``: a FutureWarning."""
    warnings.warn(text, FutureWarning, stacklevel=4)


def current_name(notebook: Path, table: Mapping[str, Parameter], name: str) -> str | None:
    """``name`` when ``notebook`` has that parameter; the new name when ``name`` is the old name
    of a renamed one (``profiles.RENAMED``); else None."""
    if name in table:
        return name
    new = profiles.renamed(notebook.stem, name)
    return new if new in table else None


def find_parameter(
    notebook: Path, table: Mapping[str, Parameter], name: str, warn: Warn = future_warning
) -> Parameter | None:
    """The parameter ``name`` sets in ``notebook`` (None: no such parameter). An old name of a
    renamed parameter finds the new one, with a one-line ``warn`` naming it; the value still
    goes in under the old name, which the notebook's ``profiles.resolve`` maps."""
    current = current_name(notebook, table, name)
    if current is None:
        return None
    if current != name:
        warn(
            f"{notebook.stem}: the parameter {name!r} is now called {current!r}; "
            f"use {current} (the old name goes in the next release)."
        )
    return table[current]


def check_value(notebook: Path, parameter: Parameter, value: object) -> object:
    """``value`` converted to what ``parameter`` accepts, or a CourseError that says why not (a
    course notebook's value is left to its spec: ``check_with_spec``)."""
    if value is None and parameter.default is None:
        return None
    kinds = parameter.kinds
    if kinds is None:
        return value
    if float in kinds and isinstance(value, str):  # YAML reads 1e-3 as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    wrong_bool = isinstance(value, bool) and bool not in kinds
    if isinstance(value, kinds) and not wrong_bool:
        return float(value) if kinds[0] is float else value
    if notebook.stem in specs.SPECS:  # its spec refuses the value, as the notebook would
        return value
    names = " or ".join(k.__name__ for k in kinds if IMPLIED_BY.get(k) not in kinds)
    raise CourseError(
        f"{notebook.stem}: parameter {parameter.name} takes {names}"
        f", not {value!r} ({type(value).__name__})."
    )


def check_with_spec(notebook: Path, table: Mapping[str, Parameter], values: Mapping) -> None:
    """Check ``values`` (with "profile") over the defaults of the parameters cell as the
    notebook's first cell will (``profiles.check`` against its spec: every value, and its fit to
    the model), so a value the notebook would refuse is refused before anything runs. A
    notebook without a spec is left alone."""
    if notebook.stem not in specs.SPECS:
        return
    given = {name: parameter.default for name, parameter in table.items()}
    for name, value in values.items():
        given[current_name(notebook, table, name) or name] = value
    profiles.check(notebook.stem, given)


def parse_cli_value(parameter: Parameter, text: str) -> object:
    """A ``-p NAME VALUE`` value: text for str parameters, else a Python literal (true, false,
    null and none read as in YAML; a list or mapping may be written in YAML too, ``{fc1: 4}``);
    text that is neither stays text."""
    if parameter.kinds == (str,):
        return text
    yaml_words = {"true": True, "false": False, "null": None, "none": None}
    if text.lower() in yaml_words:
        return yaml_words[text.lower()]
    try:
        return ast.literal_eval(text)
    except LITERAL_ERRORS:
        pass
    if text.strip().startswith(("[", "{")):
        with contextlib.suppress(yaml.YAMLError):
            return yaml.safe_load(text)
    return text


def read_parameter_file(path: str | Path) -> dict:
    """A YAML mapping of parameters; a key naming a notebook holds that notebook's own values."""
    content = profiles.read_yaml(path, "parameter file")
    if content is None:
        raise CourseError(
            f"{path} is empty: write NAME: VALUE lines into it (a notebook's name heads its own "
            "section), or leave out --params-file."
        )
    if not isinstance(content, dict):
        raise CourseError(f"{path} must hold a mapping of parameter names to values.")
    return content
