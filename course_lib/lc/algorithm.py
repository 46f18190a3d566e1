"""The learning-compression (LC) algorithm as an augmented Lagrangian.

Minimise loss(w) subject to w = Δ(θ) (Carreira-Perpiñán, "Model compression as constrained
optimization", 2017; reference code UCMerced-ML/LC-model-compression):

1. direct compression: θ = Π(w_ref), λ = 0;
2. for each μ of an increasing schedule:
   L step: SGD epochs on loss(w) + μ/2·‖w − Δ(θ) − λ/μ‖² (a fresh Nesterov optimiser per step,
   lr0·decay^s, more epochs at step 0);
   C step: θ = Π(w − λ/μ), each task's own projection;
   multipliers: λ ← λ − μ·(w − Δ(θ)) (left at 0 by the quadratic-penalty variant);
3. the compressed net (weights Δ(θ)) is evaluated after direct compression and every step.

An L step that diverges (NaN or exploding loss, non-finite weights) stops the run and is reported;
the last compressed net stays the result.
"""

from __future__ import annotations

import copy
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import costs
from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.lc.compressions import Task, as_matrix, describe_tasks
from course_lib.train import TrainConfig, evaluate, fit, pick_device


@dataclass
class LCConfig:
    """The μ schedule and the L step of an LC run."""

    mu0: float = 9e-5
    mu_growth: float = 1.1  # a in μ_s = μ0·a^s
    steps: int = 20
    # any increasing list of μ; replaces mu0, mu_growth and steps
    mu_schedule: Sequence[float] | None = None
    epochs: int = 3  # per L step
    first_epochs: int | None = None  # L step 0; None: twice ``epochs``
    lr: float = 0.1
    lr_decay: float = 0.98  # lr of L step s: lr·lr_decay^s
    momentum: float = 0.9
    batch_size: int = 256
    multipliers: bool = True  # False: the quadratic-penalty method (no Lagrange multipliers)
    seed: int = 0
    device: str | None = None  # None: cuda, then mps, then cpu

    def __post_init__(self):
        checks = [
            (self.mu0 > 0 and math.isfinite(self.mu0), "mu0 must be a positive number"),
            (self.mu_growth >= 1 and math.isfinite(self.mu_growth), "mu_growth must be >= 1"),
            (isinstance(self.steps, int) and self.steps >= 0, "steps must be an integer >= 0"),
            (isinstance(self.epochs, int) and self.epochs >= 1, "epochs must be an integer >= 1"),
            (self.first_epochs is None or self.first_epochs >= 1, "first_epochs must be >= 1"),
            (self.lr > 0 and math.isfinite(self.lr), "lr must be a positive number"),
            (0 < self.lr_decay <= 1, "lr_decay must be in (0, 1]"),
            (0 < self.momentum < 1, "momentum must be in (0, 1): the L step uses Nesterov SGD"),
            (isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size must be >= 1"),
        ]
        if self.mu_schedule is not None:
            mus = list(self.mu_schedule)
            ok = bool(mus) and all(m > 0 and math.isfinite(m) for m in mus)
            checks.append((ok, "mu_schedule must be a non-empty list of positive numbers"))
        for ok, message in checks:
            if not ok:
                raise CourseError(f"Bad LC config: {message} (got {self})")

    def schedule(self) -> list[float]:
        """The μ of every LC step."""
        if self.mu_schedule is not None:
            return [float(m) for m in self.mu_schedule]
        return mu_schedule(self.mu0, self.mu_growth, self.steps)

    def lr_at(self, step: int) -> float:
        return self.lr * self.lr_decay**step

    def epochs_at(self, step: int) -> int:
        if step == 0:
            return self.first_epochs or 2 * self.epochs
        return self.epochs


def mu_schedule(mu0: float, growth: float, steps: int) -> list[float]:
    """μ_s = μ0·a^s for s = 0 … steps−1."""
    return [mu0 * growth**s for s in range(steps)]


class _TaskState:
    """One task's weights w, offset λ/μ source λ and current Δ(θ), in the task's view."""

    def __init__(self, task: Task, model: nn.Module):
        self.task = task
        self.names = [f"{layer}.weight" for layer in task.layers]
        self.params = [model.get_submodule(layer).weight for layer in task.layers]
        self.multipliers = [torch.zeros_like(p) for p in self.params]
        self.delta = [p.detach().clone() for p in self.params]
        self.target = self.delta

    def _view(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        if self.task.compression.needs_matrix:
            return as_matrix(tensors[0])
        return torch.cat([t.reshape(-1) for t in tensors])

    def _unview(self, x: torch.Tensor) -> list[torch.Tensor]:
        sizes = [p.numel() for p in self.params]
        return [
            part.reshape(p.shape)
            for part, p in zip(x.reshape(-1).split(sizes), self.params, strict=True)
        ]

    @torch.no_grad()
    def c_step(self, mu: float, mu_for_cost: float) -> None:
        """θ = Π(w − λ/μ); compressions that trade a cost against μ get ``mu_for_cost``."""
        offset = [
            p.detach() - (lam / mu if mu > 0 else 0)
            for p, lam in zip(self.params, self.multipliers, strict=True)
        ]
        compression = self.task.compression
        delta = compression.project(self._view(offset), mu_for_cost if compression.uses_mu else mu)
        if not torch.isfinite(delta).all():
            raise CourseError(f"The C step of {self.task.describe()} produced non-finite weights.")
        self.delta = self._unview(delta)

    @torch.no_grad()
    def update_multipliers(self, mu: float) -> None:
        for lam, p, d in zip(self.multipliers, self.params, self.delta, strict=True):
            lam.sub_(mu * (p.detach() - d))

    def set_target(self, mu: float) -> None:
        self.target = [d + lam / mu for d, lam in zip(self.delta, self.multipliers, strict=True)]

    def penalty(self) -> torch.Tensor:
        """‖w − Δ(θ) − λ/μ‖² (differentiable in w)."""
        return sum(((p - t) ** 2).sum() for p, t in zip(self.params, self.target, strict=True))

    @torch.no_grad()
    def distance(self) -> float:
        """‖w − Δ(θ)‖²: how far the L-step weights are from being compressed."""
        return float(
            sum(((p - d) ** 2).sum() for p, d in zip(self.params, self.delta, strict=True))
        )

    def storage_bits(self) -> int:
        return self.task.compression.storage_bits()


@contextmanager
def _compressed_weights(states: list[_TaskState]):
    """Inside the block the model's weights are Δ(θ)."""
    saved = [[p.detach().clone() for p in s.params] for s in states]
    with torch.no_grad():
        for s in states:
            for p, d in zip(s.params, s.delta, strict=True):
                p.copy_(d)
    try:
        yield
    finally:
        with torch.no_grad():
            for s, copies in zip(states, saved, strict=True):
                for p, c in zip(s.params, copies, strict=True):
                    p.copy_(c)


@dataclass
class LCResult:
    """What an LC run produced: the history, the compressed weights and their storage."""

    history: pd.DataFrame  # one row per step; step 0 is direct compression
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
                    model.set_submodule(task.layers[0], split)
        return model.eval()


def low_rank_layers(layer: nn.Module, u: torch.Tensor, v: torch.Tensor) -> nn.Module | None:
    """``layer`` with weight u @ v as two layers (v, then u with the bias), or None where that
    would not hold fewer parameters (or the layer is a grouped convolution)."""
    out_features, rank = u.shape
    in_size = v.shape[1]
    if rank == 0 or rank * (out_features + in_size) >= out_features * in_size:
        return None
    has_bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        first, second = (
            nn.Linear(in_size, rank, bias=False),
            nn.Linear(rank, out_features, has_bias),
        )
        first.weight.data, second.weight.data = v.clone(), u.clone()
    elif isinstance(layer, nn.Conv2d) and layer.groups == 1:
        first = nn.Conv2d(
            layer.in_channels, rank, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, bias=False, padding_mode=layer.padding_mode,
        )  # fmt: skip
        second = nn.Conv2d(rank, out_features, 1, bias=has_bias)
        first.weight.data = v.reshape(rank, *layer.weight.shape[1:]).clone()
        second.weight.data = u[:, :, None, None].clone()
    else:
        return None
    if has_bias:
        second.bias.data = layer.bias.detach().clone()
    return nn.Sequential(OrderedDict(low=first, up=second))


def _check_tasks(model: nn.Module, tasks: Sequence[Task]) -> None:
    if not tasks:
        raise CourseError("No compression tasks: build them with lc.task_map(model, {...}).")
    seen: set[str] = set()
    for task in tasks:
        for layer in task.layers:
            try:
                weight = model.get_submodule(layer).weight
            except AttributeError:
                raise CourseError(
                    f"Task {task.describe()!r}: the model has no layer {layer!r}."
                ) from None
            if layer in seen:
                raise CourseError(f"Layer {layer!r} appears in two tasks; each layer takes one.")
            seen.add(layer)
            if task.compression.shapes is not None and weight.shape not in task.compression.shapes:
                raise CourseError(
                    f"Task {task.describe()!r} was built for another model (layer {layer!r} has "
                    f"shape {tuple(weight.shape)}): build the task map for this model."
                )


def run_lc(
    model: nn.Module,
    tasks: Sequence[Task],
    data: DataBundle,
    config: LCConfig | None = None,
    *,
    progress: bool = True,
) -> LCResult:
    """Compress a copy of ``model`` (the reference stays as it is) by the LC algorithm.

    ``config.steps = 0`` gives direct compression only. Compressions whose C step trades a cost
    against μ (rank selection) use the schedule's first μ for direct compression.
    """
    config = config or LCConfig()
    _check_tasks(model, tasks)
    tasks = [copy.deepcopy(task) for task in tasks]  # compressions keep state between C steps
    device = pick_device(config.device)
    model = copy.deepcopy(model).to(device)
    states = [_TaskState(task, model) for task in tasks]
    mus = config.schedule()
    first_mu = mus[0] if mus else config.mu0
    loaders = {s: data.loader(s, 1024, device=device) for s in ("train", "test")}

    def record(step: int, mu: float, lr: float, epochs: int, seconds: float) -> dict:
        with _compressed_weights(states):
            train_loss, train_acc = evaluate(model, loaders["train"])
            test_loss, test_acc = evaluate(model, loaders["test"])
        storage = _storage(model, states)
        return {
            "step": step,
            "mu": mu,
            "lr": lr,
            "epochs": epochs,
            "train_error": 1 - train_acc,
            "test_error": 1 - test_acc,
            "train_loss": train_loss,
            "test_loss": test_loss,
            "ratio": storage["ratio"],
            "distance": sum(s.distance() for s in states),
            "seconds": seconds,
        }

    for state in states:
        state.c_step(0.0, first_mu)
    rows = [record(0, 0.0, 0.0, 0, 0.0)]
    divergence = None
    bar = tqdm(list(enumerate(mus)), desc="LC", unit="step", disable=not progress)
    for step, mu in bar:
        lr, epochs = config.lr_at(step), config.epochs_at(step)
        start = time.perf_counter()
        for state in states:
            state.set_target(mu)
        snapshot = copy.deepcopy(model.state_dict())
        history = _l_step(model, states, data, config, step, mu, lr, epochs, device)
        weights_finite = all(torch.isfinite(p).all() for p in model.parameters())
        if history.diverged or not weights_finite:
            cause = history.divergence or "the weights became non-finite"
            divergence = (
                f"L step {step} (μ = {mu:.3g}, lr = {lr:.3g}) diverged: {cause}. The run stopped "
                f"there and keeps the compressed net of step {step}; lower lr or mu_growth."
            )
            model.load_state_dict(snapshot)
            break
        for state in states:
            state.c_step(mu, mu)
            if config.multipliers:
                state.update_multipliers(mu)
        rows.append(record(step + 1, mu, lr, epochs, time.perf_counter() - start))
        bar.set_postfix(
            test_error=f"{rows[-1]['test_error']:.4f}", ratio=f"{rows[-1]['ratio']:.1f}"
        )
    deltas = {
        name: d.detach().cpu() for s in states for name, d in zip(s.names, s.delta, strict=True)
    }
    return LCResult(
        history=pd.DataFrame(rows),
        tasks=tasks,
        model=model.cpu(),
        deltas=deltas,
        storage=_storage(model, states),
        config=config,
        diverged=divergence is not None,
        divergence=divergence,
    )


def _storage(model: nn.Module, states: list[_TaskState]) -> dict:
    return costs.storage_summary(model, {tuple(s.names): s.storage_bits() for s in states})


def _l_step(model, states, data, config: LCConfig, step, mu, lr, epochs, device):
    """SGD on loss + μ/2·Σ‖w − Δ(θ) − λ/μ‖² with a fresh Nesterov optimiser (train.fit)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=config.momentum, nesterov=True)
    # TrainConfig names a model only to label progress; fit trains the model it is given.
    train_config = TrainConfig(
        dataset=data.name,
        epochs=epochs,
        batch_size=config.batch_size,
        lr=lr,
        momentum=config.momentum,
        nesterov=True,
        seed=config.seed + step,
        device=str(device),
    )
    return fit(
        model,
        data,
        train_config,
        extra_loss=lambda _: mu / 2 * sum(s.penalty() for s in states),
        optimizer=optimizer,
        progress=False,
        eval_splits=(),
    )


def direct_compression(
    model: nn.Module, tasks: Sequence[Task], data: DataBundle, **config
) -> LCResult:
    """Direct compression only (θ = Π(w_ref), no retraining): the baseline LC improves on."""
    return run_lc(model, tasks, data, LCConfig(steps=0, **config), progress=False)


def config_dict(config: LCConfig) -> dict:
    """The config as plain values (for metrics.json)."""
    values = asdict(config)
    values["mu_schedule"] = config.schedule()
    return values
