"""Studies of many LC runs for notebook 02: budgets per method, mixes by layer group, μ schedules.

Each run is a task map built from a method and a budget; a study returns one table row per run
(``LCResult.summary``) and the results themselves, whose histories the plots use.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence

import pandas as pd
from torch import nn

from course_lib.costs import count_params
from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.lc.algorithm import run_lc
from course_lib.lc.compressions import Prune, Quantize, Solvers
from course_lib.lc.config import LCConfig
from course_lib.lc.low_rank import LowRank, RankSelection
from course_lib.lc.result import LCResult
from course_lib.lc.tasks import LAYER_KINDS, compressible_layers, joint, task_map


def _max_rank(layer: nn.Module) -> int:
    return min(layer.weight.shape[0], layer.weight[0].numel())


def _fixed_rank(model: nn.Module, rank: int) -> dict:
    """Every layer at ``rank``, or at its full rank where that is smaller."""
    return {n: LowRank(min(int(rank), _max_rank(m))) for n, m in compressible_layers(model).items()}


# method -> (what its budget is, task-map spec for a model and a budget)
METHODS: dict[str, tuple[str, Callable[[nn.Module, float], dict]]] = {
    "pruning": (
        "fraction of weights kept",
        lambda model, b: {joint("all"): Prune(keep_fraction=b)},
    ),
    "quantization": ("codebook size k", lambda model, b: {"all": Quantize(k=int(b))}),
    "low-rank": ("rank-selection α", lambda model, b: {"all": RankSelection(alpha=b)}),
    "fixed rank": ("rank per layer", _fixed_rank),
}


def method_spec(method: str, model: nn.Module, budget: float) -> dict:
    """The task-map spec of ``method`` at ``budget`` for ``model`` (see METHODS)."""
    if method not in METHODS:
        raise CourseError(f"Unknown method {method!r}: choose one of {', '.join(METHODS)}.")
    return METHODS[method][1](model, budget)


def layer_groups(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """Two groups of layers to mix compressions over: conv vs linear layers (seed 002), or, for
    a model without convolutions, the first layer vs the rest."""
    layers = compressible_layers(model)
    groups = {
        kind: tuple(n for n, m in layers.items() if isinstance(m, types))
        for kind, types in LAYER_KINDS.items()
    }
    if all(groups.values()):
        return groups
    names = tuple(layers)
    if len(names) < 2:
        raise CourseError("Mixing needs a model with at least two conv or linear layers.")
    return {names[0]: names[:1], "rest": names[1:]}


def _prune_group(budget, layers: tuple[str, ...]) -> dict:
    """Each layer keeps a fraction of its weights: one for all, or one per layer."""
    fractions = list(budget) if isinstance(budget, Sequence) else [budget] * len(layers)
    if len(fractions) != len(layers):
        raise CourseError(
            f"The pruning budget {budget} gives {len(fractions)} fractions for the layers "
            f"{', '.join(layers)}: give one fraction, or one per layer."
        )
    return {n: Prune(keep_fraction=f) for n, f in zip(layers, fractions, strict=True)}


# method -> the spec of a layer group compressed by it at a budget (mixing methods by group)
LAYER_COMPRESSIONS: dict[str, Callable[[object, tuple[str, ...]], dict]] = {
    "pruning": _prune_group,
    "quantization": lambda b, layers: dict.fromkeys(layers, Quantize(k=int(b))),
    "low-rank": lambda b, layers: dict.fromkeys(layers, RankSelection(alpha=b)),
}


def mixing_specs(model: nn.Module, budgets: Mapping[str, object]) -> dict[str, dict]:
    """The six pairings of pruning, quantization and low-rank over the two layer groups, and all
    three at once in both orders (the first group pruned, the second group's layers alternately
    low-rank and quantized, or quantized and low-rank). ``budgets``: {"pruning": fraction kept
    per layer, or one per layer of the group, "quantization": k, "low-rank": rank-selection α}.
    """
    if set(budgets) != set(LAYER_COMPRESSIONS):
        raise CourseError(
            f"mix budgets need exactly {sorted(LAYER_COMPRESSIONS)}, got {sorted(budgets)}."
        )
    (first, a_layers), (second, b_layers) = layer_groups(model).items()

    def group(method: str, layers: tuple[str, ...]) -> dict:
        return LAYER_COMPRESSIONS[method](budgets[method], layers)

    specs = {
        f"{first}: {a}, {second}: {b}": {**group(a, a_layers), **group(b, b_layers)}
        for a, b in itertools.permutations(LAYER_COMPRESSIONS, 2)
    }
    for order in (("low-rank", "quantization"), ("quantization", "low-rank")):
        together = group("pruning", a_layers)
        for i, layer in enumerate(b_layers):
            together.update(group(order[i % 2], (layer,)))
        specs[f"{first}: pruning, {second}: {' / '.join(order)}"] = together
    return specs


def _point_label(budgets: Mapping[str, object]) -> str:
    pruning = budgets["pruning"]
    kept = "/".join(f"{f:g}" for f in pruning) if isinstance(pruning, Sequence) else f"{pruning:g}"
    return f"kept {kept}, k {budgets['quantization']}, α {budgets['low-rank']:g}"


def mix_study(
    reference: nn.Module,
    data: DataBundle,
    budgets: Mapping[str, object] | Sequence[Mapping[str, object]],
    config: LCConfig,
    *,
    progress: bool = True,
    solvers: Solvers | None = None,
) -> tuple[pd.DataFrame, dict[str, LCResult]]:
    """Every mix of ``mixing_specs`` at each budget point (one mapping, or a list: then each mix
    is a curve over the points). Column ``method`` names the mix, ``budget`` the point."""
    points = [budgets] if isinstance(budgets, Mapping) else list(budgets)
    runs, labels = {}, {}
    for point in points:
        for mix, spec in mixing_specs(reference, point).items():
            name = mix if len(points) == 1 else f"{mix} ({_point_label(point)})"
            runs[name] = spec
            labels[name] = {"method": mix, "budget": _point_label(point)}
    return run_specs(
        reference, data, runs, config, labels=labels, progress=progress, solvers=solvers
    )


def _kept_params(result: LCResult) -> int:
    """Non-zero parameters of the compressed model, low-rank layers split."""
    model = result.compressed_model()
    return count_params(model) - sum(int((p == 0).sum()) for p in model.parameters())


def run_specs(
    reference: nn.Module,
    data: DataBundle,
    runs: Mapping[str, dict],
    config: LCConfig,
    *,
    labels: Mapping[str, dict] | None = None,
    progress: bool = True,
    solvers: Solvers | None = None,
) -> tuple[pd.DataFrame, dict[str, LCResult]]:
    """LC from ``reference`` for every ``{name: task-map spec}``; a table row per run.

    ``labels`` adds columns to a run's row (method, budget, ...). Task maps are all built before
    the first run, so a wrong one fails at once. ``solvers``: see ``task_map``.
    """
    tasks = {name: task_map(reference, spec, solvers) for name, spec in runs.items()}
    rows, results = [], {}
    for name, run_tasks in tasks.items():
        result = run_lc(reference, run_tasks, data, config, progress=progress)
        results[name] = result
        extra = dict((labels or {}).get(name, {}))
        rows.append(result.summary(run=name, **extra, params=_kept_params(result)))
    return pd.DataFrame(rows), results


def budget_study(
    reference: nn.Module,
    data: DataBundle,
    budgets: Mapping[str, Sequence[float]],
    config: LCConfig,
    *,
    progress: bool = True,
    solvers: Solvers | None = None,
) -> tuple[pd.DataFrame, dict[str, LCResult]]:
    """Every method at each of its budgets: ``{"pruning": [0.1, 0.05], "quantization": [2, 4]}``;
    ``solvers``: see ``task_map``."""
    runs, labels = {}, {}
    for method, values in budgets.items():
        for budget in values:
            name = f"{method} {budget:g}"
            runs[name] = method_spec(method, reference, budget)
            labels[name] = {"method": method, "budget": budget}
    return run_specs(
        reference, data, runs, config, labels=labels, progress=progress, solvers=solvers
    )


def schedule_study(
    reference: nn.Module,
    data: DataBundle,
    spec: dict,
    config: LCConfig,
    mu0s: Sequence[float],
    growths: Sequence[float],
    *,
    progress: bool = True,
    solvers: Solvers | None = None,
) -> tuple[pd.DataFrame, dict[str, LCResult]]:
    """One compression under every μ0 (at the config's growth a) and every a (at its μ0); the
    column ``varied`` says which of the two a row belongs to. ``solvers``: see ``task_map``."""
    tasks = task_map(reference, spec, solvers)
    groups = {
        "mu0": [(m, config.mu_growth) for m in mu0s],
        "mu_growth": [(config.mu0, a) for a in growths],
    }
    rows, results = [], {}
    for varied, pairs in groups.items():
        for mu0, growth in pairs:
            name = f"μ0 = {mu0:g}, a = {growth:g}"
            if name not in results:
                run_config = dataclasses.replace(
                    config, mu0=mu0, mu_growth=growth, mu_schedule=None
                )
                results[name] = run_lc(reference, tasks, data, run_config, progress=progress)
            rows.append(results[name].summary(run=name, varied=varied, mu0=mu0, mu_growth=growth))
    return pd.DataFrame(rows), results


def pareto_front(table: pd.DataFrame, x: str = "ratio", y: str = "test_error") -> pd.Series:
    """True for the runs no other run beats on both counts (higher ``x``, lower ``y``)."""
    xs, ys = table[x].to_numpy(), table[y].to_numpy()
    better_or_equal = (xs[None, :] >= xs[:, None]) & (ys[None, :] <= ys[:, None])
    strictly = (xs[None, :] > xs[:, None]) | (ys[None, :] < ys[:, None])
    dominated = (better_or_equal & strictly).any(axis=1)
    return pd.Series(~dominated, index=table.index, name="pareto")


def histories(results: Mapping[str, LCResult]) -> dict[str, pd.DataFrame]:
    """Each run's per-step history, by run name."""
    return {name: result.history for name, result in results.items()}
