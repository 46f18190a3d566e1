"""The studies of notebook 04: reconstruction curves, HOSVD against HOOI, the k study (seed 003
Figs. 6–8), and one layer at chosen ranks (the rank panel)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import checks, costs, train
from course_lib.errors import CourseError
from course_lib.train import TrainConfig
from course_lib.tucker.algebra import (
    METHODS,
    decomposer,
    one_thread,
    ranks_by_keep_fraction,
    relative_error,
    weight_error,
)
from course_lib.tucker.layers import (
    Solvers,
    build_layer,
    check_conv,
    decompose_model,
    layer_error,
    output_error,
)

# How the study times its models (``costs.compare``) unless its ``timing`` says otherwise.
TIMING = dict(rounds=3, batch_size=256, repeats=5, warmup=1, threads=1, channels_last=False)


def check_ks(ks, of: int) -> list[int]:
    """``ks`` as a list of whole numbers from 1 to ``of`` (k of ``of``)."""
    ks = list(ks)
    if not ks or any(not isinstance(k, int) or not 1 <= k <= of for k in ks):
        raise CourseError(f"ks must be whole numbers from 1 to {of} (k of {of}); got {ks}.")
    return ks


def _spaced(full: int, points: int | None) -> list[int]:
    if points is None:
        return list(range(1, full + 1))
    checks.integer("points (None: every rank)", points, 2)
    return sorted({round(1 + i * (full - 1) / (points - 1)) for i in range(points)})


@one_thread
def reconstruction_curves(
    conv: nn.Conv2d,
    method: str = "hooi",
    inputs: torch.Tensor | None = None,
    points: int | None = None,
    solvers: Solvers | None = None,
    held: int | None = None,
) -> pd.DataFrame:
    """Seed 003 Fig. 6: error as one rank varies while the other is held.

    The other rank is held at ``held`` (seed 003: 64), at most that mode's channels, or, when
    None, at its full value: then both methods give the truncated SVD of the varied mode's
    unfolding, so the curves are that unfolding's discarded energy. `points`: about this many
    ranks per curve, evenly spaced from 1 to full (None: every rank). Rows: varied ("R1" or
    "R2"), rank, R1, R2, weight_error, and output_error when `inputs` (what the layer receives,
    see `layer_input`) are given. `solvers`: a student's factors and layer (``Solvers``).
    """
    check_conv(conv)
    if held is not None:
        checks.integer("held rank (None: full)", held, 1)
    decompose = decomposer(method, (solvers or Solvers()).factors)
    out_channels, in_channels = conv.weight.shape[:2]
    held_r1, held_r2 = (min(held or n, n) for n in (in_channels, out_channels))
    grid = [("R1", r, (r, held_r2)) for r in _spaced(in_channels, points)]
    grid += [("R2", r, (held_r1, r)) for r in _spaced(out_channels, points)]
    with torch.no_grad():
        reference = None if inputs is None else conv(inputs)
        rows = []
        for varied, rank, ranks in grid:
            factors = decompose(conv.weight, ranks)
            row = {"varied": varied, "rank": rank, "R1": ranks[0], "R2": ranks[1]}
            row["weight_error"] = weight_error(conv.weight, factors)
            if inputs is not None:
                replacement = build_layer(conv, factors, solvers)
                row["output_error"] = relative_error(reference, replacement(inputs))
            rows.append(row)
    return pd.DataFrame(rows)


@one_thread
def compare_methods(weight: torch.Tensor, ks, of: int = 8) -> pd.DataFrame:
    """Relative weight error of every method at ranks k/`of` of the channels, one row per k."""
    rows = []
    for k in check_ks(ks, of):
        ranks = ranks_by_keep_fraction(weight, k / of)
        row = {"k": k, "R1": ranks[0], "R2": ranks[1]}
        row.update(
            {name: weight_error(weight, run(weight, ranks)) for name, run in METHODS.items()}
        )
        rows.append(row)
    return pd.DataFrame(rows)


def layer_at_ranks(
    model: nn.Module,
    data,
    layer: str,
    ranks: tuple[int, int],
    features: torch.Tensor,
    *,
    method: str = "hooi",
    split: str = "test",
) -> dict:
    """Only `layer` of `model` decomposed at `ranks`: its weight error, its output error on
    `features` (what the layer receives, see `layer_input`), and the model's accuracy on `split`
    of `data` and its FLOPs per image."""
    decomposed, table = decompose_model(model, [layer], ranks=ranks, method=method)
    return {
        "weight_error": float(table.weight_error.iloc[0]),
        "output_error": layer_error(model, decomposed, layer, features),
        "accuracy": train.accuracy(decomposed, data, split),
        "flops": costs.count_flops(decomposed, data.input_shape),
    }


@dataclass
class RankStudy:
    """Seed 003 Figs. 7–8: one row per k (and one for the original) in `table`; per layer in
    `layers`; the decomposed models by k in `models`."""

    table: pd.DataFrame
    layers: pd.DataFrame
    models: dict


def rank_study(
    model: nn.Module,
    data,
    ks=range(1, 9),
    *,
    of: int = 8,
    layers=None,
    method: str = "hooi",
    split: str = "test",
    finetune: TrainConfig | None = None,
    finetune_data=None,
    finetune_ks=None,
    timing: Mapping | None = None,
    progress: bool = False,
    solvers: Solvers | None = None,
) -> RankStudy:
    """Decompose the chosen convs at ranks k/`of` of their channels for each k in `ks`; measure
    accuracy on `split`, FLOPs, parameters and forward time (`costs.compare` with `TIMING`
    updated by `timing`) against the original. With a `finetune` config, the models of
    `finetune_ks` (None: all) are then trained by `train.fit` on `finetune_data` (None: `data`)
    and measured again. `solvers`: a student's factors and layer (``Solvers``)."""
    ks = check_ks(ks, of)
    tuned = set(ks if finetune_ks is None else check_ks(finetune_ks, of)) if finetune else set()
    if finetune and not tuned <= set(ks):
        raise CourseError(f"finetune_ks {sorted(tuned)} must be among ks {ks}.")
    inputs = next(iter(data.loader(split, 256)))[0]
    model = copy.deepcopy(model).cpu().eval()  # the caller's model keeps its device and mode
    models, layer_table = _decompose_each(model, ks, of, layers, method, inputs, progress, solvers)
    accuracy = {k: train.accuracy(m, data, split) for k, m in models.items()}
    accuracy["original"] = train.accuracy(model, data, split)
    named = {"original": model, **{f"k={k}": m for k, m in models.items()}}
    compared = costs.compare(named, data.input_shape, **{**TIMING, **(timing or {})})
    tuned_accuracy = {}
    for k in sorted(tuned):
        models[k] = _finetune(models[k], finetune_data or data, finetune, k, progress)
        tuned_accuracy[k] = train.accuracy(models[k], data, split)
    table = _study_table(ks, accuracy, compared, layer_table, tuned_accuracy)
    return RankStudy(table, layer_table, models)


def _decompose_each(model, ks, of, layers, method, inputs, progress, solvers):
    """The decomposed model per k, and their per-layer table with each layer's output error."""
    models, layer_rows = {}, []
    for k in tqdm(ks, desc="Tucker-2 per k", disable=not progress):
        decomposed, table = decompose_model(
            model, layers, keep_fraction=k / of, method=method, solvers=solvers
        )
        table.insert(0, "k", k)
        table["output_error"] = [
            output_error(model, decomposed, name, inputs) for name in table.layer
        ]
        models[k] = decomposed
        layer_rows.append(table)
    return models, pd.concat(layer_rows, ignore_index=True)


def _finetune(model: nn.Module, data, config: TrainConfig, k: int, progress: bool) -> nn.Module:
    history = train.fit(model, data, config, progress=progress)
    if history.diverged:
        raise CourseError(
            f"Fine-tuning at k={k} diverged ({history.divergence}); lower the fine-tuning lr."
        )
    return model.cpu().eval()


def _study_table(ks, accuracy, compared, layer_table, tuned_accuracy) -> pd.DataFrame:
    """One row per model: costs, accuracy, mean errors, fine-tuned accuracy, and the ratios and
    changes against the original (the first row)."""
    rows = [
        {
            "model": name,
            "k": k,
            "params": int(compared.at[name, "params"]),
            "flops": int(compared.at[name, "flops"]),
            "seconds_per_image": compared.at[name, "ms_per_image"] / 1e3,
            "accuracy": accuracy["original" if k is None else k],
        }
        for name, k in [("original", None), *((f"k={k}", k) for k in ks)]
    ]
    table = pd.DataFrame(rows).astype({"k": "Int64"})
    errors = layer_table.groupby("k")[["weight_error", "output_error"]].mean()
    table = table.join(errors, on="k")
    table["accuracy_tuned"] = table.k.map(tuned_accuracy)
    original = table.iloc[0]
    table["flop_ratio"] = original.flops / table.flops
    table["speedup"] = original.seconds_per_image / table.seconds_per_image
    table["accuracy_change"] = table.accuracy - original.accuracy
    table["accuracy_tuned_change"] = table.accuracy_tuned - original.accuracy
    return table
