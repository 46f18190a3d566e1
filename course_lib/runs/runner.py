"""Headless notebook runs through papermill: planned (every parameter checked) before any runs,
then executed one by one into a run folder.

``course run`` (see :mod:`course_lib.runs.cli`) plans every run first (notebooks, parameter names
and types checked against each notebook's ``parameters`` cell), then executes the notebooks one by
one into ``runs/<timestamp>-<profile>/NN_name/``. A failing notebook is recorded with its cell and
error in ``status.json`` and the run's ``summary.json``; the others still run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from course_lib import paths, profiles
from course_lib.errors import CourseError
from course_lib.headless import KERNEL_ARGUMENTS, kernel_config
from course_lib.runs.parameters import (
    RESERVED_PARAMETERS,
    Parameter,
    Warn,
    check_value,
    check_with_spec,
    current_name,
    discover_notebooks,
    find_parameter,
    future_warning,
    inspect_parameters,
    matches,
    parse_cli_value,
    select_notebooks,
)

# the kernel's own log (start-up warnings, an interrupt at shutdown) would bury the progress lines
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# ------------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class PlannedRun:
    """One notebook with the checked parameters it will be given (besides output_dir)."""

    notebook: Path
    parameters: dict


def _split_sections(file_parameters: dict, every_notebook: list[Path]) -> dict[str, dict]:
    """Pop the per-notebook sections (a mapping under a notebook's name) out of
    ``file_parameters``, keyed by notebook stem; what remains is shared by all notebooks."""
    sections: dict[str, dict] = {}
    for key in list(file_parameters):
        hits = [nb for nb in every_notebook if matches(nb, str(key))]
        if isinstance(file_parameters[key], dict) and len(hits) == 1:
            sections.setdefault(hits[0].stem, {}).update(file_parameters.pop(key))
    return sections


def _split_cli(
    cli_parameters: Iterable[tuple[str, str]], every_notebook: list[Path]
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``-p NAME VALUE`` for every notebook, and ``-p NOTEBOOK.NAME VALUE`` by notebook stem."""
    shared: dict[str, str] = {}
    sections: dict[str, dict[str, str]] = {}
    for name, text in cli_parameters:
        target, _, short = name.rpartition(".")
        if target:
            (notebook,) = select_notebooks(every_notebook, [target])
            sections.setdefault(notebook.stem, {})[short] = text
        else:
            shared[name] = text
    return shared, sections


def _refuse_reserved(names: Iterable[str]) -> None:
    for name in names:
        if name in RESERVED_PARAMETERS:
            raise CourseError(
                f"{name} is set by course itself: use --profile or --runs-dir instead of -p."
            )


def _refuse_unknown(names: Iterable[str], tables: dict[Path, dict[str, Parameter]]) -> None:
    """A name shared by all notebooks must belong to at least one of them."""
    for name in names:
        if not any(current_name(nb, table, name) for nb, table in tables.items()):
            known = sorted({n for t in tables.values() for n in t} - set(RESERVED_PARAMETERS))
            raise CourseError(
                f"Unknown parameter {name!r} for {', '.join(nb.stem for nb in tables)}: "
                f"the parameters are {', '.join(known)}."
            )


def _checked_values(
    notebook: Path, table: dict[str, Parameter], layers: list[tuple[dict, bool, bool]], warn: Warn
) -> dict:
    """The values of ``layers`` (values, is the notebook's own section, as -p text) that belong
    to ``notebook``, checked, later layers winning; a section's names must all belong to it."""
    values = {}
    for layer, is_section, from_cli in layers:
        found = {name: find_parameter(notebook, table, name, warn) for name in layer}
        unknown = sorted(name for name, p in found.items() if p is None) if is_section else []
        if unknown:
            raise CourseError(f"{notebook.stem} has no parameter(s) {unknown}.")
        for name, parameter in found.items():
            if parameter is not None:
                value = parse_cli_value(parameter, layer[name]) if from_cli else layer[name]
                values[name] = check_value(notebook, parameter, value)
    return values


def plan_runs(
    notebooks: list[Path],
    profile: str | None = None,
    cli_parameters: Iterable[tuple[str, str]] = (),
    file_parameters: Mapping | None = None,
    warn: Warn = future_warning,
) -> list[PlannedRun]:
    """Checked parameters for each notebook, later layers winning: the file's shared values, its
    section for the notebook, ``-p NAME VALUE``, ``-p NOTEBOOK.NAME VALUE``. A shared name must
    belong to at least one of the notebooks and goes to those that declare it; a section's names
    must belong to its notebook; an old name of a renamed parameter is passed on, with a ``warn``.
    A course notebook's values are checked against its spec, as its first cell will check them.
    Nothing runs before all of it is checked."""
    file_parameters = dict(file_parameters or {})
    profile = profiles.resolve_profile_name(profile or file_parameters.pop("profile", None))
    every = discover_notebooks(notebooks[0].parent)
    file_sections = _split_sections(file_parameters, every)
    cli_shared, cli_sections = _split_cli(cli_parameters, every)
    sections = [*file_sections.values(), *cli_sections.values()]
    _refuse_reserved([*file_parameters, *cli_shared, *(n for section in sections for n in section)])
    tables = {nb: inspect_parameters(nb) for nb in notebooks}
    _refuse_unknown([*file_parameters, *cli_shared], tables)
    plans = []
    for nb in notebooks:
        layers = [
            (file_parameters, False, False),
            (file_sections.get(nb.stem, {}), True, False),
            (cli_shared, False, True),
            (cli_sections.get(nb.stem, {}), True, True),
        ]
        values = {"profile": profile, **_checked_values(nb, tables[nb], layers, warn)}
        check_with_spec(nb, tables[nb], values)
        plans.append(PlannedRun(nb, values))
    return plans


# ----------------------------------------------------------------------------------- execution


def read_record(path: Path) -> dict:
    """A JSON record a run wrote (status.json, metrics.json); a CourseError naming the file when
    it is cut off or damaged."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CourseError(
            f"{path} is damaged ({type(err).__name__}: {err}): the run was cut off; run it again."
        ) from None
    if not isinstance(record, dict):
        raise CourseError(f"{path} is damaged (not a JSON object): run it again.")
    return record


def read_metrics(folder: Path) -> dict | None:
    """``folder/metrics.json``, or None when the run wrote none."""
    path = Path(folder) / "metrics.json"
    return read_record(path) if path.is_file() else None


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
        """The result recorded in ``folder/status.json`` (and its metrics.json); a CourseError
        naming the file when it is damaged."""
        path = Path(folder) / "status.json"
        record = read_record(path)
        try:
            return cls(**record, metrics=read_metrics(folder))
        except TypeError:
            raise CourseError(f"{path} is damaged (not a run's status): run it again.") from None

    def record(self) -> dict:
        """What status.json holds: all but the metrics (those are in metrics.json)."""
        return {k: v for k, v in asdict(self).items() if k != "metrics"}

    def write_status(self) -> Path:
        """Write ``output_dir/status.json`` atomically."""
        return paths.write_json(Path(self.output_dir) / "status.json", self.record(), default=str)

    def headline(self) -> str:
        state = "ok" if self.ok else f"FAILED {error_text(self.error)}"
        return f"{state} ({self.seconds:.1f} s)"


def error_text(error: dict) -> str:
    """A failure in one line: the cell's execution count in the executed notebook, the error."""
    where = f"In [{error['cell']}] " if error.get("cell") is not None else ""
    return f"{where}{error['ename']}: {error['evalue']}"


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
    """Papermill's line pattern warns about any parameter whose comment holds an '='; the
    parameters cell is read with ``ast`` instead (see parameters.py), so those warnings mislead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unable to parse line")


logging.getLogger("papermill").addFilter(_ReadByAst())


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


def _papermill(
    notebook: Path, output_dir: Path, parameters: dict, *, kernel_name, threads, progress
) -> dict | None:
    """Execute ``notebook`` into ``output_dir``; the error record of a failure, else None."""
    import papermill

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
                config=kernel_config(Path(sockets)),
            )
    except Exception as exc:  # every failure of the notebook or its kernel is the run's result
        return _error_record(exc)
    return None


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
    notebook, output_dir = Path(notebook).resolve(), Path(output_dir).resolve()
    if output_dir.exists():
        raise CourseError(f"{output_dir} exists: a run never writes into an earlier run's folder.")
    output_dir.mkdir(parents=True)
    parameters = {**parameters, "output_dir": str(output_dir)}
    started, clock = datetime.now().isoformat(timespec="seconds"), time.perf_counter()
    error = _papermill(
        notebook,
        output_dir,
        parameters,
        kernel_name=kernel_name,
        threads=threads,
        progress=progress,
    )
    metrics = read_metrics(output_dir)
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
    result.write_status()
    return result


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
        summary.update(passed=all(r.ok for r in results), runs=[r.record() for r in results])
        paths.write_json(folder / "summary.json", summary, default=str)
    return results


def interactive() -> bool:
    """Whether progress bars make sense (a terminal, not a CI log)."""
    return sys.stderr.isatty()
