"""What an LC run hands back: its history, the compressed weights and their storage, the
compressed net as a real model (low-rank layers split in two) and as a model file."""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from course_lib import artifacts, costs, surgery
from course_lib.lc.config import LCConfig
from course_lib.lc.tasks import Task, describe_tasks


@dataclass
class LCResult:
    """What an LC run produced: the history, the compressed weights and their storage."""

    # one row per step; step 0 is direct compression; train_error and train_loss are NaN (not
    # measured) between the first and last rows unless the config's train_error_every_step
    history: pd.DataFrame
    tasks: list[Task]
    model: nn.Module  # the L-step weights w (uncompressed)
    deltas: dict[str, torch.Tensor]  # parameter name -> Δ(θ)
    storage: dict  # dense_bits, compressed_bits, ratio (costs.storage_summary)
    config: LCConfig
    diverged: bool = False
    divergence: str | None = None

    @property
    def ratio(self) -> float:
        return self.storage["ratio"]

    @property
    def direct(self) -> dict:
        """Direct compression (no LC): the compressed reference, row 0 of the history."""
        return self.history.to_dict("records")[0]

    @property
    def final(self) -> dict:
        return self.history.to_dict("records")[-1]

    @property
    def advice(self) -> str | None:
        """A warning when the run did not bring w and Δ(θ) together (μ too small), else None."""
        first, last = self.history["distance"].iloc[0], self.history["distance"].iloc[-1]
        if len(self.history) < 3 or last <= first:
            return None
        return (
            f"‖w − Δ(θ)‖² grew from {first:.3g} after direct compression to {last:.3g}: the "
            f"penalty is too weak for this net and data, so the L steps ignore it and the "
            f"multipliers pile up the mismatch. Raise mu0 (now {self.config.mu0:g}) or mu_growth."
        )

    def summary(self, **labels) -> dict:
        """One row for tables and metrics.json: the task map, ratio, DC and LC errors."""
        return {
            **labels,
            "tasks": describe_tasks(self.tasks),
            "ratio": self.ratio,
            "compressed_bits": self.storage["compressed_bits"],
            "train_error": self.final["train_error"],
            "test_error": self.final["test_error"],
            "direct_train_error": self.direct["train_error"],
            "direct_test_error": self.direct["test_error"],
            "direct_ratio": self.direct["ratio"],
            "steps": int(self.final["step"]),
            "seconds": float(self.history["seconds"].sum()),
            "diverged": self.diverged,
            "divergence": self.divergence,
            "advice": self.advice,
        }

    def task_table(self) -> pd.DataFrame:
        """Per task: what the last C step found and the storage it needs, against float32."""
        rows = []
        for task in self.tasks:
            weights = sum(self.deltas[f"{layer}.weight"].numel() for layer in task.layers)
            bits = task.compression.storage_bits()
            rows.append(
                {
                    "task": task.describe(),
                    "learned": task.compression.learned(),
                    "weights": weights,
                    "dense_bits": costs.dense_bits(weights),
                    "compressed_bits": bits,
                    "ratio": costs.dense_bits(weights) / bits if bits else float("inf"),
                }
            )
        return pd.DataFrame(rows)

    def compressed_model(self, split_low_rank: bool = True) -> nn.Module:
        """The compressed net as a real model (on the CPU): the weights Δ(θ) in place, and with
        ``split_low_rank`` each low-rank layer as two smaller layers where that saves parameters."""
        model = copy.deepcopy(self.model).cpu()
        with torch.no_grad():
            for name, delta in self.deltas.items():
                model.get_parameter(name).copy_(delta)
        if split_low_rank:
            for task in self.tasks:
                factors = getattr(task.compression, "factors", None)
                if factors is None:
                    continue
                layer = model.get_submodule(task.layers[0])
                split = low_rank_layers(layer, *(f.detach().cpu() for f in factors))
                if split is not None:
                    surgery.replace(model, task.layers[0], split)
        return model.eval()

    def theta(self, model: nn.Module | None = None) -> dict[tuple[str, ...], object]:
        """Each task's θ in the artifacts' neutral form, keyed by the names of its weights in
        ``model`` (default: ``compressed_model()``). A task whose layer ``model`` holds split in
        two is left out: those two layers' weights are its factors, stored as they are."""
        params = dict((model or self.compressed_model()).named_parameters())
        thetas = {}
        for task in self.tasks:
            names = tuple(f"{layer}.weight" for layer in task.layers)
            if all(name in params for name in names):
                delta = torch.cat([self.deltas[name].detach().cpu().reshape(-1) for name in names])
                thetas[names] = task.compression.theta(delta)
        return thetas

    def save(self, path, *, split_low_rank: bool = True, **options) -> dict:
        """``compressed_model(split_low_rank)`` as a model file with each task's θ in the form
        the ledger counts (``artifacts.save``; ``options``: input_shape, dense, overwrite).
        Returns the file's ``artifacts.inspect``."""
        model = self.compressed_model(split_low_rank)
        meta = {"tasks": describe_tasks(self.tasks), **self.storage}
        return artifacts.save(path, model, self.theta(model), meta=meta, **options)


def low_rank_layers(layer: nn.Module, u: torch.Tensor, v: torch.Tensor) -> nn.Module | None:
    """``layer`` with weight u @ v as two layers (v, then u with the bias), or None where that
    would not hold fewer parameters (or the layer is not a linear or ungrouped 2-D conv)."""
    out_features, rank = u.shape
    in_size = v.shape[1]
    if rank == 0 or rank * (out_features + in_size) >= out_features * in_size:
        return None
    if not isinstance(layer, surgery.WEIGHT_LAYERS) or getattr(layer, "groups", 1) != 1:
        return None
    bias = None if layer.bias is None else layer.bias.detach()
    first = surgery.rebuild(layer, v.reshape(rank, *layer.weight.shape[1:]), None)
    if isinstance(layer, nn.Conv2d):
        second = surgery.pointwise(u, bias)
    else:
        second = surgery.rebuild(layer, u, bias)
    return nn.Sequential(OrderedDict(low=first, up=second))
