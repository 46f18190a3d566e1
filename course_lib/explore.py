"""Hyper-parameter exploration: a grid of training runs in-process, results as a pandas table."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from dataclasses import fields, replace

import pandas as pd
from tqdm.auto import tqdm

from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.models import MODELS
from course_lib.train import History, TrainConfig, fit, initial_model

CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}
DESIGNS = ("factorial", "one_at_a_time")
# The training settings every table row shows (seed 001's table), beside the model's options.
SHOWN = ("batch_size", "lr", "momentum", "init")


def options_of(config: TrainConfig) -> dict:
    """Every option of ``config``'s model with the value ``config`` builds it with."""
    parameters = inspect.signature(MODELS[config.model]).parameters
    defaults = {
        n: p.default for n, p in parameters.items() if n not in ("input_shape", "num_classes")
    }
    return {**defaults, **config.model_kwargs}


def _point(base: TrainConfig, point: dict) -> TrainConfig:
    kwargs = {**base.model_kwargs, **{k: v for k, v in point.items() if k not in CONFIG_FIELDS}}
    train = {k: v for k, v in point.items() if k in CONFIG_FIELDS}
    return replace(base, model_kwargs=kwargs, **train)


def _centre_value(base: TrainConfig, setting: str):
    return getattr(base, setting) if setting in CONFIG_FIELDS else options_of(base)[setting]


def grid_configs(
    base: TrainConfig, grid: dict[str, list], design: str = "factorial"
) -> list[TrainConfig]:
    """The runs of ``grid`` around ``base``; keys are TrainConfig fields or model options (c1,
    k1, ... of the Fashion CNN). "factorial": every combination; "one_at_a_time": ``base`` (the
    centre) first, then each value of each setting that differs from the centre's, the other
    settings at the centre's: 1 + the values off the centre, not their product."""
    if not grid or any(not isinstance(v, list | tuple) or not v for v in grid.values()):
        raise CourseError(f"A grid maps each setting to a non-empty list of values, got {grid!r}.")
    if design not in DESIGNS:
        raise CourseError(f"design must be one of {', '.join(DESIGNS)}, got {design!r}.")
    unknown = set(grid) - CONFIG_FIELDS - set(options_of(base))
    if unknown:
        raise CourseError(
            f"Unknown grid settings {sorted(unknown)}: use training settings "
            f"{sorted(CONFIG_FIELDS)} or options of {base.model} {sorted(options_of(base))}."
        )
    if design == "factorial":
        points = [dict(zip(grid, v, strict=True)) for v in itertools.product(*grid.values())]
    else:
        points = [{}] + [
            {setting: value}
            for setting, values in grid.items()
            for value in values
            if value != _centre_value(base, setting)
        ]
    return [_point(base, point) for point in points]


def settings_of(config: TrainConfig, grid: dict) -> dict:
    """A run's settings as seed 001's table shows them: the model's options, batch size,
    learning rate, momentum, initialisation, the epochs it was given, and every grid setting."""
    shown = {k: getattr(config, k) for k in (*SHOWN, *grid) if k in CONFIG_FIELDS}
    return {**options_of(config), **shown, "max_epochs": config.epochs}


def run_grid(
    base: TrainConfig,
    grid: dict[str, list],
    data: DataBundle,
    progress: bool = True,
    epoch: Callable | None = None,
    design: str = "factorial",
) -> tuple[pd.DataFrame, list[History]]:
    """Train every run of the grid (``grid_configs``); one table row per run (its settings and
    final figures). ``epoch``: a student's ``sgd_epoch`` for ``fit`` to train with."""
    configs = grid_configs(base, grid, design)
    rows, histories = [], []
    for config in tqdm(configs, desc="grid", disable=not progress):
        history = fit(initial_model(config, data), data, config, progress=False, epoch=epoch)
        settings = settings_of(config, grid)  # the run's lr, not its last epoch's (history.final)
        final = {k: v for k, v in history.final.items() if k not in settings}
        rows.append({**settings, **final, "divergence": history.divergence})
        histories.append(history)
    table = pd.DataFrame(rows)
    table.attrs["settings"] = list(grid)
    table.attrs["centre"] = 0 if design == "one_at_a_time" else None
    table.attrs["shown"] = list(settings_of(base, grid))
    return table, histories


def top_configurations(table: pd.DataFrame, k: int = 3, by: str = "val_accuracy") -> pd.DataFrame:
    """The ``k`` best runs by ``by`` (diverged runs last), best first."""
    if by not in table:
        raise CourseError(f"The table has no column {by!r}; columns: {list(table.columns)}.")
    return table.sort_values(["diverged", by], ascending=[True, False]).head(k)


def top_table(table: pd.DataFrame, k: int = 3) -> pd.DataFrame:
    """The ``k`` best runs as columns, best first, and as rows every setting, then the train
    accuracy, test accuracy and test loss: seed 001's table of its top configurations."""
    metrics = [m for m in ("train_accuracy", "test_accuracy", "test_loss") if m in table]
    return top_configurations(table, k)[table.attrs["shown"] + metrics].T


def one_at_a_time(
    table: pd.DataFrame, histories: list[History], setting: str, around: int | None = None
) -> dict:
    """Runs that differ from run ``around`` in ``setting`` only, by its value: the curves that
    compare learning rates, momenta or batch sizes. ``around`` defaults to the centre of a
    one-at-a-time grid, else the best run."""
    varied = table.attrs["settings"]
    if setting not in varied:
        raise CourseError(f"{setting!r} was not varied in this grid; varied: {varied}.")
    if around is None:
        around = table.attrs.get("centre")
        around = top_configurations(table, 1).index[0] if around is None else around
    others = [c for c in varied if c != setting]
    same = (table[others] == table.loc[around, others]).all(axis=1)
    return {f"{setting}={table.loc[i, setting]}": histories[i] for i in table.index[same]}


def labelled(table: pd.DataFrame, histories: list[History]) -> dict[str, History]:
    """Each run's history under a label of its grid settings ("lr=0.1, momentum=0.9")."""
    varied = table.attrs["settings"]
    labels = [", ".join(f"{k}={row[k]}" for k in varied) for _, row in table.iterrows()]
    return dict(zip(labels, histories, strict=True))
