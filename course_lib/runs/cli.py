"""The ``course`` command: run, report, sweep, dashboard.

    course run [NOTEBOOK ...] [--profile smoke] [-p NAME VALUE ...] [--params-file FILE]
    course report RUN_FOLDER
    course reproduce SEED [--quick] [--data-dir D] [--output-dir O] [--download]
    course sweep GRID.yaml [--workers N] [--scheduler tcp://host:8786]
    course dashboard ...
    course assign [--out assignments/student]
    course grade SUBMISSIONS_DIR [--timeout SECONDS]

A mistake in the input (an unknown notebook or parameter, a value the notebook does not allow,
an empty grid, a runs folder that is a file, a scheduler or MLflow server that does not answer)
ends with one line on stderr (the first line of the refusal) and exit status 2 before anything
runs;
``run`` and ``sweep`` exit with 1 when a notebook failed, 0 when all passed.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from course_lib import paths
from course_lib.errors import CourseError
from course_lib.runs.assign_cli import add_assignment_commands
from course_lib.runs.options import (
    add_notebook_options,
    add_parameter_option,
    default_notebooks_dir,
    say,
    warn,
)
from course_lib.runs.parameters import (
    RESERVED_PARAMETERS,
    discover_notebooks,
    inspect_parameters,
    read_parameter_file,
    select_notebooks,
)
from course_lib.runs.report import build_report
from course_lib.runs.reproduce import reproduce
from course_lib.runs.runner import interactive, plan_runs, run_notebooks
from course_lib.runs.seeds import seed_names
from course_lib.runs.sweep import RESULTS, rank_column, run_notebook_sweep
from course_lib.runs.sweep_file import load_sweep

USAGE_ERROR = 2


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _tracker(args):
    if args.no_track:
        return None
    from course_lib.runs.tracking import Tracker  # MLflow's imports are slow

    return Tracker(args.runs_dir)


def _log_to(tracker, result, *, kind: str, run_name: str) -> None:
    """Log one result; a tracking failure is reported and never costs the run."""
    if tracker is None:
        return
    try:
        tracker.log(result, kind=kind, run_name=run_name)
    except Exception as exc:  # the run's own files stay the record
        warn(f"MLflow did not record {run_name}: {type(exc).__name__}: {exc}")


def _tracking_hint(tracker) -> None:
    if tracker is not None:
        say(f"MLflow: {tracker.uri}  (browse: mlflow ui --backend-store-uri {tracker.uri})")


def _list_parameters(notebooks) -> int:
    for notebook in notebooks:
        print(notebook.stem)
        for parameter in inspect_parameters(notebook).values():
            if parameter.name not in RESERVED_PARAMETERS:
                print(f"  {parameter.describe()}")
    return 0


def command_run(args) -> int:
    notebooks = select_notebooks(discover_notebooks(args.notebooks_dir), args.notebooks)
    if args.list:
        return _list_parameters(notebooks)
    file_parameters = read_parameter_file(args.params_file) if args.params_file else None
    plans = plan_runs(notebooks, args.profile, args.parameter or [], file_parameters, warn=warn)
    for name in dict.fromkeys(n for n, _ in args.parameter or [] if "." not in n):
        reached = [plan.notebook.stem for plan in plans if name in plan.parameters]
        if len(reached) < len(plans):
            say(f"note: {name} is a parameter of {', '.join(reached)} only")
    paths.writable_folder(args.runs_dir, "--runs-dir")
    tracker = _tracker(args)
    folder = paths.fresh_folder(args.runs_dir, plans[0].parameters["profile"], "--runs-dir")
    say(f"run folder: {folder}")
    results = run_notebooks(
        plans,
        folder,
        kernel_name=args.kernel,
        on_result=lambda r: _log_to(tracker, r, kind="run", run_name=f"{folder.name}/{r.notebook}"),
        say=say,
        progress=interactive(),
    )
    failed = [r for r in results if not r.ok]
    say(f"passed {len(results) - len(failed)}/{len(results)} notebooks")
    for result in failed:
        say(f"  {result.notebook}: {result.headline()}")
    _tracking_hint(tracker)
    html_path, _ = build_report(folder)
    print(f"report: {html_path}")
    return 1 if failed else 0


def command_report(args) -> int:
    html_path, md_path = build_report(args.folder)
    print(f"report: {html_path}")
    print(f"markdown: {md_path}")
    return 0


def command_reproduce(args) -> int:
    folder, results = reproduce(
        seed_names(args.seed),
        quick=args.quick,
        data_dir=args.data_dir,
        output_dir=args.output_dir,
        notebooks_dir=args.notebooks_dir,
        download=args.download,
        kernel_name=args.kernel,
        say=say,
    )
    failed = [r for r in results if not r.ok]
    say(f"passed {len(results) - len(failed)}/{len(results)} notebooks")
    print(f"seed vs kit: {folder / 'seed_vs_kit.md'}")
    print(f"report: {folder / 'report.html'}")
    return 1 if failed else 0


def command_sweep(args) -> int:
    sweep = load_sweep(args.grid, args.notebooks_dir, args.profile, warn=warn)
    if args.rank_by:
        sweep = replace(sweep, rank_by=args.rank_by)
    paths.writable_folder(args.runs_dir, "--runs-dir")
    tracker = _tracker(args)
    table = run_notebook_sweep(
        sweep,
        args.runs_dir,
        workers=args.workers,
        threads_per_run=args.threads_per_run,
        scheduler=args.scheduler,
        kernel_name=args.kernel,
        on_result=lambda r: _log_to(
            tracker, r, kind="sweep", run_name=f"{sweep.name}/{Path(r.output_dir).name}"
        ),
        say=say,
    )
    failed = int((table["status"] != "ok").sum())
    say(f"passed {len(table) - failed}/{len(table)} runs")
    column = rank_column(sweep, table)
    if column is not None:
        names = dict.fromkeys(name for p in sweep.parameter_sets for name in p)
        varied = [n for n in names if len({repr(p.get(n)) for p in sweep.parameter_sets}) > 1]
        shown = ["run", *varied, column]
        print(f"top {sweep.top} by {column} ({sweep.mode}):")
        print(table[table["status"] == "ok"][shown].head(sweep.top).to_string(index=False))
    elif sweep.rank_by:
        warn(f"no metric {sweep.rank_by!r} in the results; the table is unsorted")
    _tracking_hint(tracker)
    print(f"results: {sweep.folder(args.runs_dir) / RESULTS}")
    return 1 if failed else 0


def _common(parser: argparse.ArgumentParser) -> None:
    add_notebook_options(parser)
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=Path(os.environ.get("COURSE_RUNS", "runs")),
        help="where run folders and the MLflow store go (default: $COURSE_RUNS or ./runs)",
    )
    parser.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's own)")
    parser.add_argument("--no-track", action="store_true", help="do not log to MLflow")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other input error."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def _add_reproduce(commands) -> None:
    """``course reproduce SEED``."""
    seeds = commands.add_parser(
        "reproduce",
        help="run a seed report's experiments; the table of its numbers beside the kit's",
    )
    seeds.add_argument("seed", help="000 ... 004, or all")
    seeds.add_argument("--quick", action="store_true", help="the same experiments on subsets")
    seeds.add_argument(
        "--data-dir", type=Path, help="where the datasets are (default: $COURSE_DATA)"
    )
    seeds.add_argument(
        "--output-dir",
        type=Path,
        default=Path(os.environ.get("COURSE_RUNS", "runs")),
        help="where the run folder goes (default: $COURSE_RUNS or ./runs)",
    )
    seeds.add_argument(
        "--download", action="store_true", help="let the notebooks download missing datasets"
    )
    seeds.add_argument(
        "--notebooks-dir", type=Path, default=default_notebooks_dir(), help="default: ./notebooks"
    )
    seeds.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's own)")
    seeds.set_defaults(handler=command_reproduce)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="course", description="Run, sweep and report the Compression Lab notebooks."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run notebooks headless into a new run folder")
    run.add_argument("notebooks", nargs="*", help="01, training or 01_training (default: all)")
    add_parameter_option(
        run, "a parameter for every notebook that has it; NOTEBOOK.NAME for one (repeatable)"
    )
    run.add_argument(
        "--params-file", type=Path, help="YAML of parameters; a notebook's name holds its own"
    )
    run.add_argument("--list", action="store_true", help="list the notebooks' parameters and stop")
    _common(run)
    run.set_defaults(handler=command_run)

    report = commands.add_parser("report", help="HTML and Markdown report of a run folder")
    report.add_argument("folder", type=Path, help="a folder made by course run or course sweep")
    report.set_defaults(handler=command_report)

    _add_reproduce(commands)

    sweep = commands.add_parser(
        "sweep",
        help="run one notebook over a parameter grid on Dask",
        description="See course_lib/runs/sweep_file.py for the GRID.yaml format. On a SLURM "
        "cluster start workers with dask-jobqueue (SLURMCluster) and pass its scheduler address.",
    )
    sweep.add_argument("grid", type=Path, help="the sweep file (YAML)")
    sweep.add_argument("--workers", type=_positive, help="local worker processes (default: cores)")
    sweep.add_argument(
        "--threads-per-run",
        type=_positive,
        help="OMP/torch threads per run (default: cores/workers)",
    )
    sweep.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786)")
    sweep.add_argument("--rank-by", help="metric the top table is sorted by")
    _common(sweep)
    sweep.set_defaults(handler=command_sweep)

    add_assignment_commands(commands)
    commands.add_parser(
        "dashboard",
        help="serve a notebook's slider panels as a Voilà page on 127.0.0.1 (course dashboard -h)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``course`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["dashboard"]:
            from course_lib.runs.dashboard import main as dashboard_main

            return dashboard_main(argv[1:]) or 0
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as stop:  # -h, or a usage error already printed
            return stop.code
        return args.handler(args)
    except CourseError as exc:
        print(f"course: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("course: interrupted", file=sys.stderr)
        return 130
