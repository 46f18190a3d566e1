"""Parameter sweeps of one notebook on Dask distributed.

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

Each run goes to ``runs/sweeps/<name>/<key>/`` where ``key`` hashes its parameters, so running
the same file again skips the runs that finished and retries the others (a failed attempt's
folder is kept as ``<key>.failed-N``). Runs execute in parallel on a local cluster of worker
processes (one run per worker, OMP/MKL threads = cores / workers), or on an existing cluster given
by its scheduler address. The table of every run's parameters and metrics is ``results.csv``.

On a shared cluster the runs folder must sit on a filesystem every worker sees (each worker
writes its runs' folders), and each worker should run one task at a time (``--nthreads 1``)
with ``--threads-per-run`` set to the cores it owns. On SLURM, with dask-jobqueue (not a
dependency of the kit), keep this running (a tmux session or a notebook) while the sweep runs::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=4, processes=1, memory="16GB", walltime="04:00:00",
                           worker_extra_args=["--nthreads", "1"])
    cluster.scale(jobs=8)             # 8 runs at a time
    print(cluster.scheduler_address)

and then ``course sweep grid.yaml --scheduler ADDRESS --threads-per-run 4``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from course_lib import profiles
from course_lib.errors import CourseError
from course_lib.runner import (
    RESERVED_PARAMETERS,
    RunResult,
    check_value,
    discover_notebooks,
    execute,
    inspect_parameters,
    select_notebooks,
    write_json,
)
from course_lib.tracking import flatten_metrics

SWEEP_KEYS = {"notebook", "profile", "name", "parameters", "grid", "runs", "rank_by", "mode", "top"}
RESULTS = "results.csv"


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


def _combinations(grid: dict) -> list[dict]:
    if not isinstance(grid, dict) or not grid:
        raise CourseError("`grid` must map parameter names to lists of values.")
    axes = {name: values if isinstance(values, list) else [values] for name, values in grid.items()}
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def load_sweep(path: str | Path, notebooks_dir: str | Path, profile: str | None = None) -> Sweep:
    """Read and check a sweep file: the notebook exists, every parameter name is in its
    parameters cell with a value of the right type, and there is at least one run."""
    path = Path(path)
    spec = profiles.read_yaml(path, "sweep file")
    if not isinstance(spec, dict) or "notebook" not in spec:
        raise CourseError(f"{path} must be a mapping with a `notebook` (see `course sweep -h`).")
    unknown = sorted(set(spec) - SWEEP_KEYS)
    if unknown:
        raise CourseError(f"{path}: unknown key(s) {unknown}; the keys are {sorted(SWEEP_KEYS)}.")
    if ("grid" in spec) == ("runs" in spec):
        raise CourseError(f"{path} needs exactly one of `grid` (all combinations) or `runs`.")
    (notebook,) = select_notebooks(discover_notebooks(notebooks_dir), [str(spec["notebook"])])
    if "grid" in spec:
        sets = _combinations(spec["grid"])
    else:
        sets = spec["runs"]
        if not isinstance(sets, list) or not all(isinstance(s, dict) for s in sets):
            raise CourseError(f"{path}: `runs` must be a list of parameter mappings.")
    if not sets:
        raise CourseError(f"{path}: the sweep is empty (a grid axis or `runs` has no values).")
    shared = spec.get("parameters") or {}
    if not isinstance(shared, dict):
        raise CourseError(f"{path}: `parameters` must be a mapping.")
    table = inspect_parameters(notebook)
    checked = []
    for values in ({**shared, **s} for s in sets):
        for name in values:
            if name in RESERVED_PARAMETERS:
                raise CourseError(f"{path}: {name} is set by course itself; use `profile:` keys.")
            if name not in table:
                names = ", ".join(sorted(set(table) - set(RESERVED_PARAMETERS)))
                raise CourseError(f"{path}: {notebook.stem} has no parameter {name!r}: {names}.")
        checked.append({n: check_value(notebook, table[n], v) for n, v in sorted(values.items())})
    if len({json.dumps(s, sort_keys=True) for s in checked}) != len(checked):
        raise CourseError(f"{path}: some parameter sets appear twice; each run must differ.")
    mode, top, name = (
        spec.get("mode", "max"),
        spec.get("top", 5),
        str(spec.get("name") or path.stem),
    )
    if mode not in ("max", "min"):
        raise CourseError(f"{path}: `mode` is max or min, not {mode!r}.")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise CourseError(f"{path}: `top` is how many best runs to show, not {top!r}.")
    if not re.fullmatch(r"[\w.-]+", name) or name.startswith("."):
        raise CourseError(f"{path}: `name` {name!r} must be letters, digits, '_', '-' or '.'.")
    return Sweep(
        name=name,
        notebook=notebook,
        profile=profiles.resolve_profile_name(profile or spec.get("profile")),
        parameter_sets=checked,
        rank_by=spec.get("rank_by"),
        mode=mode,
        top=top,
    )


def _finished(folder: Path) -> bool:
    return (folder / "status.json").is_file() and RunResult.load(folder).ok


def _set_aside(folder: Path) -> None:
    """Keep a failed or interrupted attempt under a new name instead of overwriting it."""
    attempt = 1
    while folder.with_name(f"{folder.name}.failed-{attempt}").exists():
        attempt += 1
    folder.rename(folder.with_name(f"{folder.name}.failed-{attempt}"))


def run_one(notebook: Path, folder: Path, parameters: dict, **options) -> RunResult:
    """The Dask task of one sweep run. A run that already recorded its result (Dask recomputes
    tasks whose results sat on a worker that died) returns that record instead of running
    again; an attempt cut off half-way is set aside first."""
    if (folder / "status.json").is_file():
        return RunResult.load(folder)
    if folder.exists():
        _set_aside(folder)
    return execute(notebook, folder, parameters, **options)


def _killed(
    notebook: Path, folder: Path, parameters: dict, started: str, exc: BaseException
) -> RunResult:
    """The record of a run whose worker died (or that Dask could not run)."""
    from distributed import KilledWorker

    evalue = (
        "its Dask worker died (out of memory or killed); run the sweep again to retry it"
        if isinstance(exc, KilledWorker)
        else str(exc)[:500]
    )
    folder.mkdir(parents=True, exist_ok=True)
    result = RunResult(
        notebook=notebook.stem,
        status="failed",
        seconds=0.0,
        output_dir=str(folder),
        parameters={**parameters, "output_dir": str(folder)},
        started=started,
        error={"cell": None, "ename": type(exc).__name__, "evalue": evalue},
    )
    record = asdict(result)
    record.pop("metrics")
    write_json(folder / "status.json", record)
    return result


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int):
    """A client of the cluster at ``scheduler``, else of a new local cluster of ``workers``
    single-threaded worker processes. A run whose worker dies is failed, not retried."""
    import dask
    from distributed import Client, LocalCluster

    settings = {
        "distributed.scheduler.allowed-failures": 0,
        # hand a worker only the run it executes, so a dying worker takes no queued run along
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        if scheduler:
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise CourseError(
                    f"Cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}): "
                    "start it (`dask scheduler`) or leave out --scheduler for a local cluster."
                ) from None
            with client:
                yield client
            return
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def run_sweep(
    sweep: Sweep,
    runs_dir: str | Path,
    *,
    workers: int | None = None,
    threads_per_run: int | None = None,
    scheduler: str | None = None,
    kernel_name: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    say: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run every parameter set of ``sweep`` that has not finished yet; returns the table of all
    of them (also written to ``results.csv``), best first when there is a metric to rank by."""
    from distributed import as_completed

    folder = Path(runs_dir) / "sweeps" / sweep.name
    pending = [p for p in sweep.parameter_sets if not _finished(folder / sweep.key(p))]
    say(
        f"sweep {sweep.name}: {len(sweep.parameter_sets)} runs of {sweep.notebook.stem}, "
        f"{len(sweep.parameter_sets) - len(pending)} finished before, {len(pending)} to run"
    )
    if pending:
        cores = os.cpu_count() or 1
        workers = workers or max(1, min(len(pending), cores))
        if threads_per_run is None and not scheduler:
            threads_per_run = max(1, cores // workers)
        with dask_client(scheduler, workers) as client:
            where = scheduler or f"a local cluster of {workers} workers"
            say(f"running on {where}; threads per run: {threads_per_run or 'as the worker sets'}")
            folder.mkdir(parents=True, exist_ok=True)
            for parameters in pending:
                if (folder / sweep.key(parameters)).exists():
                    _set_aside(folder / sweep.key(parameters))
            futures = {
                client.submit(
                    run_one,
                    sweep.notebook,
                    (folder / sweep.key(p)).resolve(),
                    {**p, "profile": sweep.profile},
                    kernel_name=kernel_name,
                    threads=threads_per_run,
                    key=f"{sweep.name}-{sweep.key(p)}",
                    pure=False,
                ): p
                for p in pending
            }
            started = pd.Timestamp.now().isoformat(timespec="seconds")
            for done, future in enumerate(as_completed(futures), 1):
                parameters = futures[future]
                if future.status == "finished":
                    result = future.result()
                    future.release()  # a result is not kept on a worker that may die later
                else:
                    exc = future.exception()
                    result = _killed(
                        sweep.notebook, folder / sweep.key(parameters), parameters, started, exc
                    )
                shown = " ".join(f"{k}={v}" for k, v in parameters.items())
                say(f"[{done}/{len(pending)}] {sweep.key(parameters)} {shown}: {result.headline()}")
                if on_result is not None:
                    on_result(result)
    table = results_table(sweep, folder)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / RESULTS, index=False)
    return table


def rank_column(sweep: Sweep, table: pd.DataFrame) -> str | None:
    """The sweep's ``rank_by`` metric, else test_accuracy, else the first *accuracy column."""
    if sweep.rank_by:
        return sweep.rank_by if sweep.rank_by in table else None
    candidates = [c for c in table.columns if c.endswith("accuracy")]
    return "test_accuracy" if "test_accuracy" in candidates else next(iter(candidates), None)


def results_table(sweep: Sweep, folder: Path) -> pd.DataFrame:
    """One row per parameter set: key, status, seconds, the parameters, then every scalar metric
    (a metric named like a parameter is prefixed ``metric.``); best first by the rank metric."""
    rows = []
    for parameters in sweep.parameter_sets:
        run = folder / sweep.key(parameters)
        row = {"run": run.name, "status": "missing", "seconds": None, **parameters}
        if (run / "status.json").is_file():
            result = RunResult.load(run)
            row.update(status=result.status, seconds=result.seconds)
            scalars, _ = flatten_metrics(result.metrics or {})
            row.update({(f"metric.{k}" if k in row else k): v for k, v in scalars.items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    column = rank_column(sweep, table)
    if column is not None:
        table = table.sort_values(column, ascending=sweep.mode == "min", na_position="last")
    return table.reset_index(drop=True)
