"""α schedules and training a branched model through one, stage by stage."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from course_lib import checks
from course_lib.branches.modules import branched_mixes, original_parameters, set_alpha
from course_lib.errors import CourseError
from course_lib.surgery import BATCH_NORMS
from course_lib.train import TrainConfig, evaluate, fit, make_optimizer, pick_device


def alpha_schedule(step: float = 0.1, start: float = 1.0) -> list[float]:
    """α from ``start`` down to 0 in steps of ``step`` (seed 004: 1.0, 0.9, …, 0; its fine steps:
    ``alpha_schedule(0.00025, start=0.0125)``); 0 closes the schedule when the steps miss it."""
    for name, value in (("step", step), ("start", start)):
        checks.number(f"alpha {name}", value, 0, 1)
    if step <= 0:
        raise CourseError(f"The α step must be > 0, got {step}.")
    count = math.floor(start / step + 1e-9)
    if count > 10_000:
        raise CourseError(f"An α step of {step} makes {count} stages: use a larger step.")
    alphas = [round(start - i * step, 12) for i in range(count + 1)]
    return alphas if alphas[-1] == 0 else alphas + [0.0]


def check_schedule(alphas: Iterable[float]) -> list[float]:
    """A schedule as a list of floats: in [0, 1], never rising, ending at α = 0."""
    alphas = list(alphas)
    if not alphas or not all(checks.is_number(a) and 0 <= a <= 1 for a in alphas):
        raise CourseError(
            f"An α schedule is a non-empty list of numbers in [0, 1], got {alphas!r}."
        )
    if any(b > a for a, b in zip(alphas, alphas[1:], strict=False)):
        raise CourseError(f"α must never rise along the schedule, got {alphas}.")
    if alphas[-1] != 0:
        raise CourseError(
            f"The schedule must end at α = 0 (where the branches alone feed L2 and the model "
            f"folds), got {alphas[-1]}: append 0."
        )
    return [float(a) for a in alphas]


@dataclass
class AlphaRun:
    """A run through an α schedule.

    epochs: one row per training epoch (segment, alpha, lr, resumed, train/val accuracy and
    loss, …);
    segments: one row per segment (a stage, or a resumption at its α with another lr) with the
    validation accuracy it started from and its best one, the test accuracy of the weights it
    kept, and whether the run kept them;
    model: the branched model with the best weights at the last α reached.
    """

    pretrained: str
    epochs: pd.DataFrame
    segments: pd.DataFrame
    model: nn.Module
    divergence: str | None = None

    @property
    def final_alpha(self) -> float:
        return float(self.segments["alpha"].iloc[-1])

    @property
    def stages(self) -> pd.DataFrame:
        """The accuracy reached at each α (its best kept segment, and whether a resumption)."""
        kept = self.segments[self.segments["kept"]]
        best = kept.loc[kept.groupby("alpha", sort=False)["val_accuracy"].idxmax()]
        columns = ["alpha", "lr", "resumed", "val_accuracy", "test_accuracy"]
        return best[columns].reset_index(drop=True)


def best_run(runs: Mapping[str, AlphaRun]) -> str | None:
    """The label of the run with the best validation accuracy at α = 0 (None: none got there)."""
    finished = {k: run.stages["val_accuracy"].iloc[-1] for k, run in runs.items()}
    finished = {k: v for k, v in finished.items() if runs[k].final_alpha == 0.0}
    return max(finished, key=finished.get) if finished else None


PRETRAINED_MODES = ("trainable", "frozen")
EPOCH_COLUMNS = ["segment", "alpha", "lr", "resumed", "epoch", "segment_epoch"] + [
    f"{split}_{what}" for split in ("train", "val") for what in ("accuracy", "loss")
]


@contextmanager
def _frozen(model: nn.Module, frozen: bool):
    """Inside the block, when ``frozen``, the pretrained weights of a branched model stay as they
    are and their batch norms stay in eval mode (``fit`` sets train mode, a pre-hook undoes it):
    they normalise with the pretrained running statistics and never update them, in training as
    in evaluation, so the branches learn to feed the statistics validation will use."""
    params = original_parameters(model) if frozen else []
    branch_modules = {id(m) for mix in branched_mixes(model) for m in mix.branch.modules()}
    norms = [
        m
        for m in model.modules()
        if frozen and isinstance(m, BATCH_NORMS) and id(m) not in branch_modules
    ]
    saved = [(p, p.requires_grad) for p in params], [(m, m.training) for m in norms]
    for p in params:
        p.requires_grad_(False)
    hooks = [m.register_forward_pre_hook(_evaluating) for m in norms]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
        for p, flag in saved[0]:
            p.requires_grad_(flag)
        for m, training in saved[1]:
            m.train(training)


def _evaluating(module: nn.Module, args) -> None:
    module.train(False)


def _snapshot(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _ScheduleTrainer:
    """Trains the segments of one run and keeps their records."""

    def __init__(self, model, data, config: TrainConfig, max_epochs: int, patience: int):
        self.model, self.data, self.config = model, data, config
        self.max_epochs, self.patience = max_epochs, patience
        device = config.device
        self.val = data.eval_loader("val", device)
        self.test = data.eval_loader("test", device)
        self.epochs: list[dict] = []
        self.segments: list[dict] = []
        self.divergence: str | None = None

    def segment(self, alpha: float, lr: float, resumed: bool) -> float:
        """Train at ``alpha`` with a fresh SGD at ``lr`` until the validation accuracy stops
        improving; keep the best weights (the entry ones count) and return their accuracy."""
        set_alpha(self.model, alpha)
        number = len(self.segments) + 1
        entry = evaluate(self.model, self.val)[1]
        best, best_state = entry, _snapshot(self.model)
        optimizer = make_optimizer(
            [p for p in self.model.parameters() if p.requires_grad], replace(self.config, lr=lr)
        )
        trained, stale = 0, 0
        while alpha < 1 and trained < self.max_epochs and stale < self.patience:
            row = self._epoch(optimizer, alpha, lr, number, trained, resumed)
            if row is None:
                break
            trained += 1
            if row["val_accuracy"] > best:
                best, best_state, stale = row["val_accuracy"], _snapshot(self.model), 0
            else:
                stale += 1
        self.model.load_state_dict(best_state)
        self.segments.append(
            {
                "segment": number,
                "alpha": alpha,
                "lr": lr,
                "resumed": resumed,
                "epochs": trained,
                "entry_val_accuracy": entry,
                "val_accuracy": best,
                "test_accuracy": evaluate(self.model, self.test)[1],
                "diverged": self.divergence is not None,
                "kept": True,
            }
        )
        return best

    def _epoch(self, optimizer, alpha: float, lr: float, number: int, trained: int, resumed: bool):
        """One epoch of segment ``number``: its record, or None when training diverged."""
        config = replace(self.config, lr=lr, seed=self.config.seed + 1000 * number + trained)
        history = fit(
            self.model, self.data, config, optimizer=optimizer, progress=False, eval_splits=("val",)
        )
        if history.diverged:
            self.divergence = f"α = {alpha}, lr = {lr}: {history.divergence}"
            return None
        row = history.epochs.iloc[-1]
        record = {
            "segment": number,
            "alpha": alpha,
            "lr": lr,
            "resumed": resumed,
            "epoch": len(self.epochs) + 1,
            "segment_epoch": trained + 1,
            **{c: row[c] for c in EPOCH_COLUMNS[6:]},
        }
        self.epochs.append(record)
        return record

    def resume(self, alpha: float, rates: Sequence[float], best: float, target: float | None):
        """While ``best`` is below ``target`` (None: always), train on at ``alpha`` with each
        rate in turn; a resumption is kept only when it improves (a diverging one is reverted).
        The best validation accuracy reached."""
        for rate in rates:
            if target is not None and best >= target:
                break
            state = _snapshot(self.model)
            reached = self.segment(alpha, rate, resumed=True)
            if reached <= best:
                self.model.load_state_dict(state)
                self.segments[-1]["kept"] = False
            best = max(best, reached)
            self.divergence = None  # a diverging resumption is reverted, not the run's end
        return best


def _check_training(model, alphas, pretrained, lr, resume_lrs, target_accuracy, epochs, patience):
    """The schedule as a list; CourseErrors for every setting that cannot run."""
    alphas = check_schedule(alphas)
    checks.choice("pretrained", pretrained, PRETRAINED_MODES)
    if not branched_mixes(model):
        raise CourseError("This model has no branches: call attach_branches first.")
    checks.integer("max_epochs", epochs, 1)
    checks.integer("patience", patience, 1)
    if not all(checks.is_number(r) and r > 0 for r in [lr, *resume_lrs]):
        raise CourseError(f"Learning rates must be positive numbers, got {lr} and {resume_lrs}.")
    if target_accuracy is not None and not 0 <= target_accuracy <= 1:
        raise CourseError(f"target_accuracy is a fraction in [0, 1], got {target_accuracy}.")
    return alphas


def train_alpha_schedule(
    model: nn.Module,
    data,
    alphas: Sequence[float],
    *,
    pretrained: str = "trainable",
    lr: float = 0.001,
    resume_lrs: Sequence[float] = (),
    target_accuracy: float | None = None,
    max_epochs: int = 5,
    patience: int = 1,
    batch_size: int = 128,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> AlphaRun:
    """Train a branched ``model`` in place while α steps through ``alphas``.

    Each stage trains with a fresh SGD at ``lr`` until the validation accuracy has not improved
    for ``patience`` epochs (at most ``max_epochs``) and keeps its best weights. A stage at α = 1
    has nothing to learn and is only evaluated. A stage that is stuck, its validation accuracy
    below ``target_accuracy``, resumes from its best weights at the same α with each of
    ``resume_lrs`` in turn until it reaches the target, and a resumption is kept only when it
    improves (seed 004 resumed at α = 0.0125 and at 0); the next α starts from the best weights.
    With no target, only α = 0 resumes, with every rate. Each resumption is a segment of its own
    (``resumed``: True in ``segments`` and ``epochs``). ``pretrained``:
    "trainable" (the seed's better choice) or "frozen" (only the branches learn). A diverging
    stage ends the run, with the best weights before it and the reason in ``divergence``.
    """
    alphas = _check_training(
        model, alphas, pretrained, lr, resume_lrs, target_accuracy, max_epochs, patience
    )
    config = TrainConfig(
        dataset=data.name, normalize=data.normalize, epochs=1, batch_size=batch_size, lr=lr,
        momentum=momentum, weight_decay=weight_decay, seed=seed, device=str(pick_device(device)),
    )  # fmt: skip
    model.to(config.device)
    trainer = _ScheduleTrainer(model, data, config, max_epochs, patience)
    with _frozen(model, pretrained == "frozen"):
        stages = tqdm(alphas, desc=f"α stages, {pretrained}", disable=not progress)
        for alpha in stages:
            best = trainer.segment(alpha, lr, resumed=False)
            if trainer.divergence:
                break
            if alpha == 0 or (alpha < 1 and target_accuracy is not None):
                best = trainer.resume(alpha, resume_lrs, best, target_accuracy)
            stages.set_postfix(alpha=alpha, val=f"{best:.3f}")
    return AlphaRun(
        pretrained,
        pd.DataFrame(trainer.epochs, columns=EPOCH_COLUMNS),
        pd.DataFrame(trainer.segments),
        model,
        trainer.divergence,
    )
