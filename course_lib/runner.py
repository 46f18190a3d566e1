"""Headless notebook runs through papermill: discovery, parameter checks, one run folder per run.

``course run`` (see :mod:`course_lib.cli`) plans every run first (notebooks, parameter names and
types checked against each notebook's ``parameters`` cell), then executes the notebooks one by
one into ``runs/<timestamp>-<profile>/NN_name/``. A failing notebook is recorded with its cell and
error in ``status.json`` and the run's ``summary.json``; the others still run.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import os
import re
import sys
import tempfile
import time
import tokenize
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from course_lib import profiles
from course_lib.errors import CourseError

NOTEBOOK_NAME = re.compile(r"^(?P<number>\d{2})_(?P<topic>\w+)$")
REFERENCES = "references"  # profiles/references.yaml: the shared reference trainings
# Set by the runner for every notebook: the user chooses them with --profile and --runs-dir.
RESERVED_PARAMETERS = ("output_dir", "profile")
# the kernel's own log (start-up warnings, an interrupt at shutdown) would bury the progress lines
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
ANNOTATION_TYPES = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "tuple": (list, tuple),
    "dict": (dict,),
}


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


def _matches(notebook: Path, wanted: str) -> bool:
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
        hits = [nb for nb in available if _matches(nb, name)]
        if len(hits) != 1:
            known = ", ".join(nb.stem for nb in available)
            problem = "is ambiguous" if hits else "is not a notebook"
            raise CourseError(f"{name!r} {problem}: choose from {known}.")
        chosen.add(hits[0])
    return [nb for nb in available if nb in chosen]


# ---------------------------------------------------------------------------------- parameters


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


def _literal(text: str) -> object:
    """A Python literal from source text; the text itself when it is not a literal."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


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
        raise CourseError(f"{notebook.name}'s parameters cell is not valid Python: {exc}") from None
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
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            default, is_literal = ast.get_source_segment(source, node.value), False
        for target in targets:
            yield target.id, default, is_literal, annotation, comments.get(node.end_lineno, "")


def inspect_parameters(notebook: Path) -> dict[str, Parameter]:
    """The names of ``notebook``'s parameters cell with the types they accept: from an
    annotation, else the default's type, else the type of the notebook's profile values.
    (Read with ``ast``: papermill's line pattern drops a line whose comment holds an '='.)"""
    profile_values = _profile_values(notebook)
    table = {}
    for name, default, is_literal, annotation, help_text in _declarations(
        _parameters_source(notebook), notebook
    ):
        kinds = _kinds_from_annotation(annotation) or (_kinds_of(default) if is_literal else None)
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


def check_value(notebook: Path, parameter: Parameter, value: object) -> object:
    """``value`` converted to what ``parameter`` accepts, or a CourseError that says why not."""
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
    raise CourseError(
        f"{notebook.stem}: parameter {parameter.name} takes {kinds[0].__name__}"
        f", not {value!r} ({type(value).__name__})."
    )


def parse_cli_value(parameter: Parameter, text: str) -> object:
    """A ``-p NAME VALUE`` value: text for str parameters, else a Python literal (true, false,
    null and none read as in YAML); text that is no literal stays text."""
    if parameter.kinds == (str,):
        return text
    yaml_words = {"true": True, "false": False, "null": None, "none": None}
    if text.lower() in yaml_words:
        return yaml_words[text.lower()]
    return _literal(text)


def read_parameter_file(path: str | Path) -> dict:
    """A YAML mapping of parameters; a key naming a notebook holds that notebook's own values."""
    content = profiles.read_yaml(path, "parameter file")
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise CourseError(f"{path} must hold a mapping of parameter names to values.")
    return content


# ------------------------------------------------------------------------------------ planning


def _split_sections(file_parameters: dict, every_notebook: list[Path]) -> dict[str, dict]:
    """Pop the per-notebook sections (a mapping under a notebook's name) out of
    ``file_parameters``, keyed by notebook stem; what remains is shared by all notebooks."""
    sections: dict[str, dict] = {}
    for key in list(file_parameters):
        hits = [nb for nb in every_notebook if _matches(nb, str(key))]
        if isinstance(file_parameters[key], dict) and len(hits) == 1:
            sections.setdefault(hits[0].stem, {}).update(file_parameters.pop(key))
    return sections


@dataclass(frozen=True)
class PlannedRun:
    """One notebook with the checked parameters it will be given (besides output_dir)."""

    notebook: Path
    parameters: dict


def plan_runs(
    notebooks: list[Path],
    profile: str | None = None,
    cli_parameters: Iterable[tuple[str, str]] = (),
    file_parameters: Mapping | None = None,
) -> list[PlannedRun]:
    """Checked parameters for each notebook, later layers winning: the file's shared values, its
    section for the notebook, ``-p NAME VALUE``, ``-p NOTEBOOK.NAME VALUE``. A shared name must
    belong to at least one of the notebooks and goes to those that declare it; a section's names
    must belong to its notebook. Nothing runs before all of it is checked."""
    file_parameters = dict(file_parameters or {})
    profile = profiles.resolve_profile_name(profile or file_parameters.pop("profile", None))
    every = discover_notebooks(notebooks[0].parent)
    file_sections = _split_sections(file_parameters, every)
    cli_shared: dict[str, str] = {}
    cli_sections: dict[str, dict[str, str]] = {}
    for name, text in cli_parameters:
        target, _, short = name.rpartition(".")
        if target:
            (notebook,) = select_notebooks(every, [target])
            cli_sections.setdefault(notebook.stem, {})[short] = text
        else:
            cli_shared[name] = text
    sections = [*file_sections.values(), *cli_sections.values()]
    for name in [*file_parameters, *cli_shared, *(n for section in sections for n in section)]:
        if name in RESERVED_PARAMETERS:
            raise CourseError(
                f"{name} is set by course itself: use --profile or --runs-dir instead of -p."
            )
    tables = {nb: inspect_parameters(nb) for nb in notebooks}
    for name in [*file_parameters, *cli_shared]:
        if not any(name in table for table in tables.values()):
            names = sorted({n for t in tables.values() for n in t} - set(RESERVED_PARAMETERS))
            raise CourseError(
                f"Unknown parameter {name!r} for {', '.join(nb.stem for nb in notebooks)}: "
                f"the parameters are {', '.join(names)}."
            )
    plans = []
    for nb in notebooks:
        table, values = tables[nb], {"profile": profile}
        layers = [
            (file_parameters, False, False),
            (file_sections.get(nb.stem, {}), True, False),
            (cli_shared, False, True),
            (cli_sections.get(nb.stem, {}), True, True),
        ]
        for layer, is_section, from_cli in layers:
            unknown = sorted(set(layer) - set(table)) if is_section else []
            if unknown:
                raise CourseError(f"{nb.stem} has no parameter(s) {unknown}.")
            for name, value in layer.items():
                if name in table:
                    value = parse_cli_value(table[name], value) if from_cli else value
                    values[name] = check_value(nb, table[name], value)
        plans.append(PlannedRun(nb, values))
    return plans


# ----------------------------------------------------------------------------------- execution


@dataclass
class RunResult:
    """What became of one notebook run; ``error`` names the failing cell and the exception."""

    notebook: str
    status: str
    seconds: float
    output_dir: str
    parameters: dict
    started: str
    error: dict | None = None
    metrics: dict | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def load(cls, folder: str | Path) -> RunResult:
        """The result recorded in ``folder/status.json`` (and its metrics.json)."""
        folder = Path(folder)
        record = json.loads((folder / "status.json").read_text())
        metrics_path = folder / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
        return cls(**record, metrics=metrics)

    def headline(self) -> str:
        state = "ok" if self.ok else f"FAILED {error_text(self.error)}"
        return f"{state} ({self.seconds:.1f} s)"


def error_text(error: dict) -> str:
    """A failure in one line: the cell's execution count in the executed notebook, the error."""
    where = f"In [{error['cell']}] " if error.get("cell") is not None else ""
    return f"{where}{error['ename']}: {error['evalue']}"


def write_json(path: Path, content) -> None:
    """Write ``content`` as JSON atomically (a reader never sees half a file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(content, f, indent=2, default=str)
    os.replace(tmp, path)


@contextlib.contextmanager
def thread_limit(threads: int | None):
    """Set OpenMP/MKL threads for kernels started inside the block (torch reads
    OMP_NUM_THREADS when it starts); ``None`` leaves the environment alone."""
    if threads is None:
        yield
        return
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _ReadByAst(logging.Filter):
    """Papermill's line pattern warns about any parameter whose comment holds an '='; this
    module reads the parameters cell with ``ast`` instead, so those warnings mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unable to parse line")


logging.getLogger("papermill").addFilter(_ReadByAst())


def _kernel_config(sockets: Path):
    """Kernel connections over Unix sockets in a folder of this run's own: kernels started at
    the same moment (a sweep) then cannot pick the same TCP port and hang. TCP on Windows."""
    from traitlets.config import Config

    if os.name == "nt":
        return Config()
    return Config({"KernelManager": {"transport": "ipc", "ip": str(sockets / "kernel")}})


def _error_record(exc: BaseException) -> dict:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return {
            "cell": exc.exec_count,
            "cell_index": exc.cell_index,
            "source": exc.source.strip().splitlines()[:3],
            "ename": exc.ename,
            "evalue": exc.evalue.strip().splitlines()[0] if exc.evalue.strip() else "",
        }
    return {"cell": None, "ename": type(exc).__name__, "evalue": str(exc).strip()[:500]}


def execute(
    notebook: str | Path,
    output_dir: str | Path,
    parameters: dict,
    *,
    kernel_name: str | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> RunResult:
    """Run ``notebook`` through papermill into the new folder ``output_dir`` (the executed
    notebook, its metrics.json and figures, and status.json). Failures are recorded, not raised."""
    import papermill

    notebook, output_dir = Path(notebook).resolve(), Path(output_dir).resolve()
    if output_dir.exists():
        raise CourseError(f"{output_dir} exists: a run never writes into an earlier run's folder.")
    output_dir.mkdir(parents=True)
    parameters = {**parameters, "output_dir": str(output_dir)}
    started, clock = datetime.now().isoformat(timespec="seconds"), time.perf_counter()
    error = None
    try:
        with thread_limit(threads), tempfile.TemporaryDirectory(prefix="course-") as sockets:
            papermill.execute_notebook(
                str(notebook),
                str(output_dir / notebook.name),
                parameters=parameters,
                kernel_name=kernel_name,
                cwd=str(notebook.parent),
                progress_bar=progress,
                start_timeout=180,
                extra_arguments=KERNEL_ARGUMENTS,
                config=_kernel_config(Path(sockets)),
            )
    except Exception as exc:  # every failure of the notebook or its kernel is the run's result
        error = _error_record(exc)
    metrics_path = output_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    if error is None and metrics is None:
        error = {
            "cell": None,
            "ename": "MissingMetrics",
            "evalue": "the notebook wrote no metrics.json (RunOutputs.write_metrics)",
        }
    result = RunResult(
        notebook=notebook.stem,
        status="ok" if error is None else "failed",
        seconds=round(time.perf_counter() - clock, 2),
        output_dir=str(output_dir),
        parameters=parameters,
        started=started,
        error=error,
        metrics=metrics,
    )
    record = asdict(result)
    record.pop("metrics")
    write_json(output_dir / "status.json", record)
    return result


def new_run_folder(runs_dir: str | Path, profile: str) -> Path:
    """A fresh ``runs_dir/<timestamp>-<profile>`` folder; never one that exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{stamp}-{profile}"
    folder, attempt = base, 1
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            attempt += 1
            folder = base.with_name(f"{base.name}-{attempt}")


def run_notebooks(
    plans: list[PlannedRun],
    folder: Path,
    *,
    kernel_name: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    say: Callable[[str], None] = print,
    progress: bool = False,
) -> list[RunResult]:
    """Execute ``plans`` in order into the run folder ``folder`` (one subfolder each), recording
    each result in ``summary.json`` as it comes; a failure does not stop the later notebooks."""
    profile = plans[0].parameters["profile"]
    results: list[RunResult] = []
    summary = {"profile": profile, "started": datetime.now().isoformat(timespec="seconds")}
    for index, plan in enumerate(plans, 1):
        say(f"[{index}/{len(plans)}] {plan.notebook.stem} ...")
        result = execute(
            plan.notebook,
            folder / plan.notebook.stem,
            plan.parameters,
            kernel_name=kernel_name,
            progress=progress,
        )
        results.append(result)
        say(f"[{index}/{len(plans)}] {plan.notebook.stem} {result.headline()}")
        if on_result is not None:
            on_result(result)
        write_json(
            folder / "summary.json",
            {
                **summary,
                "passed": all(r.ok for r in results),
                "runs": [{k: v for k, v in asdict(r).items() if k != "metrics"} for r in results],
            },
        )
    return results


def interactive() -> bool:
    """Whether progress bars make sense (a terminal, not a CI log)."""
    return sys.stderr.isatty()
