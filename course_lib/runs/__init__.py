"""Notebooks run headless: ``course run`` (parameters, runner), ``course sweep`` (sweep_file,
sweep), MLflow tracking, ``course report``, ``course dashboard``, and the ``course`` command (cli).
Runs may import all of course_lib; nothing else in course_lib imports runs."""

from course_lib.runs.cli import main
from course_lib.runs.parameters import (
    Parameter,
    check_value,
    discover_notebooks,
    inspect_parameters,
    read_parameter_file,
    select_notebooks,
)
from course_lib.runs.report import build_report
from course_lib.runs.runner import PlannedRun, RunResult, execute, plan_runs, run_notebooks
from course_lib.runs.sweep import results_table, run_notebook_sweep
from course_lib.runs.sweep_file import Sweep, load_sweep
from course_lib.runs.tracking import Tracker, flatten_metrics

__all__ = [
    "Parameter", "PlannedRun", "RunResult", "Sweep", "Tracker", "build_report", "check_value",
    "discover_notebooks", "execute", "flatten_metrics", "inspect_parameters", "load_sweep", "main",
    "plan_runs", "read_parameter_file", "results_table", "run_notebook_sweep", "run_notebooks",
    "select_notebooks",
]  # fmt: skip
