"""The learning-compression (LC) algorithm as an augmented Lagrangian.

Minimise loss(w) subject to w = Δ(θ) (Carreira-Perpiñán, "Model compression as constrained
optimization", 2017; reference code UCMerced-ML/LC-model-compression):

1. direct compression: θ = Π(w_ref), λ = 0;
2. for each μ of an increasing schedule:
   L step: SGD epochs on loss(w) + μ/2·‖w − Δ(θ) − λ/μ‖² (a fresh Nesterov optimiser per step,
   lr0·decay^s, more epochs at step 0; the penalty's gradient μ(w − Δ(θ) − λ/μ) is added in
   closed form);
   C step: θ = Π(w − λ/μ), each task's own projection;
   multipliers: λ ← λ − μ·(w − Δ(θ)) (left at 0 by the quadratic-penalty variant);
3. the compressed net (weights Δ(θ)) is evaluated on the test set after direct compression and
   every step, on the training set after direct compression and the last step (every step with
   ``train_error_every_step``).

An L step that diverges (NaN or exploding loss, non-finite weights) stops the run and is reported;
the last compressed net stays the result.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import costs
from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.lc.config import LCConfig
from course_lib.lc.result import LCResult
from course_lib.lc.state import TaskState, compressed_weights
from course_lib.lc.tasks import Task
from course_lib.train import TrainConfig, evaluate, fit, pick_device


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


class _Run:
    """One LC run in progress: a copy of the model on the device and its tasks' states."""

    def __init__(self, model: nn.Module, tasks: list[Task], data: DataBundle, config: LCConfig):
        self.data, self.config = data, config
        self.device = pick_device(config.device)
        self.model = copy.deepcopy(model).to(self.device)
        self.states = [TaskState(task, self.model) for task in tasks]
        self.loaders = {s: data.eval_loader(s, self.device) for s in ("train", "test")}

    def storage(self) -> dict:
        bits = {tuple(s.names): s.storage_bits() for s in self.states}
        return costs.storage_summary(self.model, bits)

    def deltas(self) -> dict[str, torch.Tensor]:
        """Δ(θ) by parameter name, on the CPU."""
        return {
            name: d.detach().cpu()
            for s in self.states
            for name, d in zip(s.names, s.delta, strict=True)
        }

    def record(
        self, step: int, mu: float, lr: float, epochs: int, phases: dict, train: bool
    ) -> dict:
        """The history row of the compressed net Δ(θ) after ``step`` (its training-set error
        only if ``train``); ``phases`` holds the seconds of the step's L and C steps, the
        evaluation's are added."""
        start = time.perf_counter()
        errors = self.errors(("train", "test") if train else ("test",))
        phases = {**phases, "eval_seconds": time.perf_counter() - start}
        return {
            "step": step,
            "mu": mu,
            "lr": lr,
            "epochs": epochs,
            **errors,
            "ratio": self.storage()["ratio"],
            "distance": sum(s.distance() for s in self.states),
            "seconds": sum(phases.values()),
            **phases,
        }

    def add_train_error(self, row: dict) -> None:
        """Measures the training-set error of the compressed net into ``row``, the last one
        recorded (Δ(θ) has not changed since)."""
        start = time.perf_counter()
        row.update(self.errors(("train",)))
        seconds = time.perf_counter() - start
        row["eval_seconds"] += seconds
        row["seconds"] += seconds

    def errors(self, splits: Sequence[str]) -> dict[str, float]:
        """``{split}_error`` and ``{split}_loss`` of the compressed net Δ(θ)."""
        channels_last = self.device.type == "cpu"  # faster CPU convolutions, as in train.fit
        values = {}
        with compressed_weights(self.states):
            self.model.to(
                memory_format=torch.channels_last if channels_last else torch.preserve_format
            )
            for split in splits:
                loss, accuracy = evaluate(self.model, self.loaders[split])
                values[f"{split}_error"], values[f"{split}_loss"] = 1 - accuracy, loss
            self.model.to(memory_format=torch.contiguous_format)
        return values

    def l_step(self, step: int, mu: float) -> str | None:
        """The L step at ``mu``; on divergence the weights go back and the cause is returned."""
        config = self.config
        lr, epochs = config.lr_at(step), config.epochs_at(step)
        for state in self.states:
            state.set_target(mu)
        snapshot = copy.deepcopy(self.model.state_dict())
        history = self._fit(step, mu, lr, epochs)
        weights_finite = all(torch.isfinite(p).all() for p in self.model.parameters())
        if not history.diverged and weights_finite:
            return None
        self.model.load_state_dict(snapshot)
        cause = history.divergence or "the weights became non-finite"
        return (
            f"L step {step} (μ = {mu:.3g}, lr = {lr:.3g}) diverged: {cause}. The run stopped "
            f"there and keeps the compressed net of step {step}; lower lr or mu_growth."
        )

    def _fit(self, step: int, mu: float, lr: float, epochs: int):
        """SGD on loss + μ/2·Σ‖w − Δ(θ) − λ/μ‖² with a fresh Nesterov optimiser (train.fit); the
        penalty's gradient is added in closed form before each optimiser step."""
        config = self.config
        optimizer = torch.optim.SGD(
            self.model.parameters(), lr=lr, momentum=config.momentum, nesterov=True
        )

        def add_penalty(*_):
            for state in self.states:
                state.add_penalty_gradient(mu)

        optimizer.register_step_pre_hook(add_penalty)
        # TrainConfig names a model only to label progress; fit trains the model it is given.
        train_config = TrainConfig(
            dataset=self.data.name,
            normalize=self.data.normalize,
            epochs=epochs,
            batch_size=config.batch_size,
            lr=lr,
            momentum=config.momentum,
            nesterov=True,
            seed=config.seed + step,
            device=str(self.device),
        )
        return fit(
            self.model,
            self.data,
            train_config,
            optimizer=optimizer,
            progress=False,
            eval_splits=(),
        )

    def c_step(self, mu: float) -> None:
        """θ = Π(w − λ/μ) for every task, then the multipliers (unless the config has none)."""
        for state in self.states:
            state.c_step(mu, mu)
            if self.config.multipliers:
                state.update_multipliers(mu)


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
    run = _Run(model, tasks, data, config)
    mus = config.schedule()
    for state in run.states:
        state.c_step(0.0, mus[0] if mus else config.mu0)
    every_step = config.train_error_every_step
    rows = [run.record(0, 0.0, 0.0, 0, {"l_seconds": 0.0, "c_seconds": 0.0}, train=True)]
    divergence = None
    bar = tqdm(list(enumerate(mus)), desc="LC", unit="step", disable=not progress)
    for step, mu in bar:
        start = time.perf_counter()
        divergence = run.l_step(step, mu)
        if divergence:
            break
        middle = time.perf_counter()
        run.c_step(mu)
        phases = {"l_seconds": middle - start, "c_seconds": time.perf_counter() - middle}
        lr, epochs = config.lr_at(step), config.epochs_at(step)
        rows.append(run.record(step + 1, mu, lr, epochs, phases, train=every_step))
        bar.set_postfix(
            test_error=f"{rows[-1]['test_error']:.4f}", ratio=f"{rows[-1]['ratio']:.1f}"
        )
    if "train_error" not in rows[-1]:
        run.add_train_error(rows[-1])
    return LCResult(
        history=pd.DataFrame(rows),
        tasks=tasks,
        model=run.model.cpu(),
        deltas=run.deltas(),
        storage=run.storage(),
        config=config,
        diverged=divergence is not None,
        divergence=divergence,
    )


def direct_compression(
    model: nn.Module, tasks: Sequence[Task], data: DataBundle, **config
) -> LCResult:
    """Direct compression only (θ = Π(w_ref), no retraining): the baseline LC improves on."""
    return run_lc(model, tasks, data, LCConfig(steps=0, **config), progress=False)
