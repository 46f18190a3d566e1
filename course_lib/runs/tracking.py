"""Every run of ``course run`` and ``course sweep`` in MLflow: parameters, metrics, the executed
notebook and figures as artifacts, and whether it finished or failed.

The store is ``runs/mlflow.db`` (SQLite, no server) with artifacts in ``runs/mlartifacts``;
MLFLOW_TRACKING_URI points it elsewhere (a shared server, asked once before any run; each request
waits at most $COURSE_NETWORK_TIMEOUT seconds, with one retry). Browse it with
``mlflow ui --backend-store-uri sqlite:///runs/mlflow.db``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from course_lib import checks, network
from course_lib.errors import CourseError
from course_lib.runs.parameters import inspect_parameters
from course_lib.runs.runner import RunResult, error_text

DATABASE = "mlflow.db"
ARTIFACTS = "mlartifacts"
BATCH = 1000  # MLflow's limit of metrics per log_batch call
ARTIFACT_SUFFIXES = (".ipynb", ".png", ".json")


def tracking_uri(runs_dir: str | Path) -> str:
    """MLFLOW_TRACKING_URI when set, else the SQLite file in ``runs_dir``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or (
        f"sqlite:///{(Path(runs_dir) / DATABASE).resolve()}"
    )


def _key(name: str) -> str:
    """A metric or parameter name in the characters MLflow accepts."""
    return re.sub(r"[^\w\-. /:]", "_", name)


def _number(value) -> bool:
    return isinstance(value, bool) or checks.is_number(value)


def flatten_metrics(
    metrics: Mapping, prefix: str = ""
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Finite numbers of a metrics.json as ``(scalars, series)``: nested mappings become dotted
    names, lists of numbers become series (one value per step); text and NaN are left out,
    booleans count as 0 and 1."""
    scalars: dict[str, float] = {}
    series: dict[str, list[float]] = {}

    for name, value in metrics.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            inner_scalars, inner_series = flatten_metrics(value, f"{key}.")
            scalars.update(inner_scalars)
            series.update(inner_series)
        elif _number(value):
            scalars[key] = float(value)
        elif isinstance(value, list) and value and all(_number(v) for v in value):
            series[key] = [float(v) for v in value]
    return scalars, series


def _defaults(executed: Path) -> dict:
    """The parameters cell's own values (None, "the profile's", left out) of an executed
    notebook, so a run records its dataset, model and seed even when they were not given."""
    if not executed.is_file():
        return {}
    try:
        table = inspect_parameters(executed)
    except CourseError:
        return {}
    return {name: p.default for name, p in table.items() if p.default is not None}


def _millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


class Tracker:
    """Logs finished runs to one MLflow store; the experiment is named after the notebook."""

    def __init__(self, runs_dir: str | Path):
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise CourseError(
                "MLflow is not installed: `pip install mlflow`, or pass --no-track."
            ) from None
        for noisy in ("mlflow.store.db.utils", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        runs_dir = Path(runs_dir)
        runs_dir.mkdir(parents=True, exist_ok=True)
        self.uri = tracking_uri(runs_dir)
        self.artifact_root = (
            None if "MLFLOW_TRACKING_URI" in os.environ else (runs_dir / ARTIFACTS).resolve()
        )
        self.client = MlflowClient(tracking_uri=self.uri)
        self._experiments: dict[str, str] = {}
        if self.uri.startswith(("http://", "https://")):
            self._check_server()

    def _check_server(self) -> None:
        """Bound every request to the MLflow server (unless MLflow's own variables set it) and
        ask it once, so a server that does not answer is found before any run, not after each."""
        seconds = network.timeout()
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, round(seconds))))
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        try:
            self.client.search_experiments(max_results=1)
        except Exception as err:  # MlflowException wraps timeouts, refusals and HTTP errors
            raise CourseError(
                f"The MLflow server at {self.uri} did not answer ({type(err).__name__}; "
                f"${network.VARIABLE} bounds the wait): start it, unset MLFLOW_TRACKING_URI to "
                "track into the runs folder, or pass --no-track."
            ) from None

    def experiment_id(self, name: str) -> str:
        if name not in self._experiments:
            found = self.client.get_experiment_by_name(name)
            self._experiments[name] = (
                found.experiment_id
                if found
                else self.client.create_experiment(
                    name,
                    artifact_location=self.artifact_root and (self.artifact_root / name).as_uri(),
                )
            )
        return self._experiments[name]

    def log(self, result: RunResult, *, kind: str, run_name: str) -> str:
        """Record ``result`` (parameters, metrics, artifacts, status); returns the MLflow run id."""
        from mlflow.entities import Metric, Param, RunTag

        tags = {"course.kind": kind, "course.folder": result.output_dir}
        if result.error:
            tags["course.error"] = error_text(result.error)
        run = self.client.create_run(
            self.experiment_id(result.notebook),
            start_time=_millis(result.started),
            tags=tags,
            run_name=run_name,
        )
        run_id = run.info.run_id
        stamp = _millis(result.started)
        scalars, series = flatten_metrics(result.metrics or {})
        metrics = [Metric(_key(k), v, stamp, 0) for k, v in scalars.items()]
        metrics += [
            Metric(_key(k), v, stamp, step)
            for k, values in series.items()
            for step, v in enumerate(values)
        ]
        values = {
            **_defaults(Path(result.output_dir) / f"{result.notebook}.ipynb"),
            **result.parameters,
        }
        params = [Param(_key(k), str(v)[:6000]) for k, v in sorted(values.items())]
        self.client.log_batch(
            run_id, params=params, tags=[RunTag("course.notebook", result.notebook)]
        )
        for start in range(0, len(metrics), BATCH):
            self.client.log_batch(run_id, metrics=metrics[start : start + BATCH])
        for path in sorted(Path(result.output_dir).iterdir()):
            if path.suffix in ARTIFACT_SUFFIXES:
                self.client.log_artifact(run_id, str(path))
        self.client.set_terminated(
            run_id,
            status="FINISHED" if result.ok else "FAILED",
            end_time=stamp + int(result.seconds * 1000),
        )
        return run_id
