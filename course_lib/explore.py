"""Hyper-parameter exploration: a grid of training runs in-process, results as a pandas table."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from dataclasses import asdict, fields, replace

import pandas as pd
from tqdm.auto import tqdm

from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.models import MODELS
from course_lib.train import History, TrainConfig, fit, initial_model

CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def grid_configs(base: TrainConfig, grid: dict[str, list]) -> list[TrainConfig]:
    """Every combination of ``grid`` applied to ``base``; keys are TrainConfig fields or model
    options (c1, k1, ... of the Fashion CNN)."""
    if not grid or any(not isinstance(v, list | tuple) or not v for v in grid.values()):
        raise CourseError(f"A grid maps each setting to a non-empty list of values, got {grid!r}.")
    model_options = set(inspect.signature(MODELS[base.model]).parameters) - {
        "input_shape",
        "num_classes",
    }
    unknown = set(grid) - CONFIG_FIELDS - model_options
    if unknown:
        raise CourseError(
            f"Unknown grid settings {sorted(unknown)}: use training settings "
            f"{sorted(CONFIG_FIELDS)} or options of {base.model} {sorted(model_options)}."
        )
    configs = []
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values, strict=True))
        kwargs = {**base.model_kwargs, **{k: v for k, v in point.items() if k not in CONFIG_FIELDS}}
        train = {k: v for k, v in point.items() if k in CONFIG_FIELDS}
        configs.append(replace(base, model_kwargs=kwargs, **train))
    return configs


def run_grid(
    base: TrainConfig,
    grid: dict[str, list],
    data: DataBundle,
    progress: bool = True,
    epoch: Callable | None = None,
) -> tuple[pd.DataFrame, list[History]]:
    """Train every grid point; one table row per run (its settings and final figures). ``epoch``:
    a student's ``sgd_epoch`` for ``fit`` to train with."""
    configs = grid_configs(base, grid)
    rows, histories = [], []
    for config in tqdm(configs, desc="grid", disable=not progress):
        history = fit(initial_model(config, data), data, config, progress=False, epoch=epoch)
        settings = {k: v for k, v in asdict(config).items() if k in grid}
        settings.update({k: v for k, v in config.model_kwargs.items() if k in grid})
        rows.append({**settings, **history.final, "divergence": history.divergence})
        histories.append(history)
    table = pd.DataFrame(rows)
    table.attrs["settings"] = list(grid)
    return table, histories


def top_configurations(table: pd.DataFrame, k: int = 3, by: str = "val_accuracy") -> pd.DataFrame:
    """The ``k`` best runs by ``by`` (diverged runs last), best first."""
    if by not in table:
        raise CourseError(f"The table has no column {by!r}; columns: {list(table.columns)}.")
    return table.sort_values(["diverged", by], ascending=[True, False]).head(k)


def one_at_a_time(
    table: pd.DataFrame, histories: list[History], setting: str, around: int | None = None
) -> dict:
    """Runs that differ from run ``around`` (default: the best) in ``setting`` only, by its value:
    the curves that compare learning rates, momenta or batch sizes."""
    varied = table.attrs["settings"]
    if setting not in varied:
        raise CourseError(f"{setting!r} was not varied in this grid; varied: {varied}.")
    around = top_configurations(table, 1).index[0] if around is None else around
    others = [c for c in varied if c != setting]
    same = (table[others] == table.loc[around, others]).all(axis=1)
    return {f"{setting}={table.loc[i, setting]}": histories[i] for i in table.index[same]}
