"""``course sweep``: the runs of one notebook over a grid of parameters (see
:mod:`course_lib.runs.sweep_file` for the file), on Dask distributed.

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

import asyncio
import concurrent.futures
import contextlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from course_lib import network
from course_lib.errors import CourseError
from course_lib.runs.runner import RunResult, execute
from course_lib.runs.sweep_file import Sweep
from course_lib.runs.tracking import flatten_metrics

RESULTS = "results.csv"


def _recorded(folder: Path) -> RunResult | None:
    """The result ``folder`` records; None when there is none or it is damaged (a run cut off,
    to be run again)."""
    try:
        return RunResult.load(folder) if (folder / "status.json").is_file() else None
    except CourseError:
        return None


def _finished(folder: Path) -> bool:
    result = _recorded(folder)
    return result is not None and result.ok


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
    result.write_status()
    return result


def _check_answers(address: str, seconds: float) -> None:
    """Connect to the scheduler once and wait at most ``seconds`` for its handshake, which
    distributed's own connect awaits without a bound (a server that accepts and never answers
    would hang the sweep)."""
    from distributed.comm import connect

    async def handshake():
        comm = await asyncio.wait_for(connect(address, timeout=seconds), seconds)
        await comm.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # safe inside a running event loop
        pool.submit(asyncio.run, handshake()).result()


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
            seconds = network.timeout()
            try:
                _check_answers(scheduler, seconds)
                client = Client(scheduler, timeout=seconds)
            except (OSError, TimeoutError, ValueError) as exc:
                raise CourseError(
                    f"Cannot reach the Dask scheduler at {scheduler} within {seconds:g} s "
                    f"({type(exc).__name__}; ${network.VARIABLE} sets the bound): start it "
                    "(`dask scheduler`), check the address, or leave out --scheduler for a local "
                    "cluster."
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


def _outcome(sweep: Sweep, folder: Path, future, parameters: dict, started: str) -> RunResult:
    """The result of one finished Dask task, or the record of a run that never finished."""
    if future.status == "finished":
        result = future.result()
        future.release()  # a result is not kept on a worker that may die later
        return result
    return _killed(
        sweep.notebook, folder / sweep.key(parameters), parameters, started, future.exception()
    )


def _run_pending(
    sweep: Sweep,
    folder: Path,
    pending: list[dict],
    *,
    workers: int | None,
    threads_per_run: int | None,
    scheduler: str | None,
    kernel_name: str | None,
    on_result: Callable[[RunResult], None] | None,
    say: Callable[[str], None],
) -> None:
    """Run the ``pending`` parameter sets of ``sweep`` on Dask, each into its folder."""
    from distributed import as_completed

    cores = os.cpu_count() or 1
    workers = min(workers or cores, len(pending))  # a worker more than runs would idle
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
        started = datetime.now().isoformat(timespec="seconds")
        for done, future in enumerate(as_completed(futures), 1):
            parameters = futures[future]
            result = _outcome(sweep, folder, future, parameters, started)
            shown = " ".join(f"{k}={v}" for k, v in parameters.items())
            say(f"[{done}/{len(pending)}] {sweep.key(parameters)} {shown}: {result.headline()}")
            if on_result is not None:
                on_result(result)


def run_notebook_sweep(
    sweep: Sweep,
    runs_dir: str | Path,
    *,
    workers: int | None = None,
    threads_per_run: int | None = None,
    scheduler: str | None = None,
    kernel_name: str | None = None,
    on_result: Callable[[RunResult], None] | None = None,
    say: Callable[[str], None] = print,
):
    """Run every parameter set of ``sweep`` that has not finished yet; returns the table of all
    of them (a DataFrame, also written to ``results.csv``), best first when there is a metric to
    rank by."""
    folder = sweep.folder(runs_dir)
    pending = [p for p in sweep.parameter_sets if not _finished(folder / sweep.key(p))]
    say(
        f"sweep {sweep.name}: {len(sweep.parameter_sets)} runs of {sweep.notebook.stem}, "
        f"{len(sweep.parameter_sets) - len(pending)} finished before, {len(pending)} to run"
    )
    if pending:
        _run_pending(
            sweep,
            folder,
            pending,
            workers=workers,
            threads_per_run=threads_per_run,
            scheduler=scheduler,
            kernel_name=kernel_name,
            on_result=on_result,
            say=say,
        )
    table = results_table(sweep, folder)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / RESULTS, index=False)
    return table


# ----------------------------------------------------------------------------- the results


def rank_column(sweep: Sweep, table) -> str | None:
    """The sweep's ``rank_by`` metric, else test_accuracy, else the first *accuracy column."""
    if sweep.rank_by:
        return sweep.rank_by if sweep.rank_by in table else None
    candidates = [c for c in table.columns if c.endswith("accuracy")]
    return "test_accuracy" if "test_accuracy" in candidates else next(iter(candidates), None)


def results_table(sweep: Sweep, folder: Path):
    """One row per parameter set: key, status, seconds, the parameters, then every scalar metric
    (a metric named like a parameter is prefixed ``metric.``); best first by the rank metric."""
    import pandas as pd

    rows = []
    for parameters in sweep.parameter_sets:
        run = folder / sweep.key(parameters)
        row = {"run": run.name, "status": "missing", "seconds": None, **parameters}
        result = _recorded(run)
        if result is None and (run / "status.json").is_file():
            row.update(status="damaged")
        elif result is not None:
            row.update(status=result.status, seconds=result.seconds)
            scalars, _ = flatten_metrics(result.metrics or {})
            row.update({(f"metric.{k}" if k in row else k): v for k, v in scalars.items()})
        rows.append(row)
    table = pd.DataFrame(rows)
    column = rank_column(sweep, table)
    if column is not None:
        table = table.sort_values(column, ascending=sweep.mode == "min", na_position="last")
    return table.reset_index(drop=True)
