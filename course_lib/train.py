"""Training with SGD: one config object, one ``fit``, evaluation, divergence detection."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import StepLR
from tqdm.auto import tqdm

from course_lib import checks
from course_lib.data import DATASETS, NORMALIZATIONS, DataBundle
from course_lib.errors import CourseError
from course_lib.models import INITS, MODELS, build_model, initialize
from course_lib.surgery import device_of


@dataclass
class TrainConfig:
    """Everything that defines a training run (and, hashed, the reference-model cache key)."""

    model: str = "lenet300"
    model_kwargs: dict = field(default_factory=dict)
    dataset: str = "fashion-mnist"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    step_size: int = 0  # StepLR period in epochs; 0 keeps the learning rate constant
    gamma: float = 0.1
    init: str = "default"
    seed: int = 0
    val_size: int | None = None  # None: the dataset's default (5000)
    subset: int | None = None  # train on this many images only (quick runs)
    augment: bool | None = None  # None: on for cifar10 only
    normalize: str = "standardize"  # how the data is normalised (data.NORMALIZATIONS)
    device: str | None = None  # None: cuda, then mps, then cpu
    val_every: int = 0  # evaluate the validation split every this many SGD steps; 0: never

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        checks = [
            (self.model in MODELS, f"model must be one of {', '.join(MODELS)}"),
            (self.dataset in DATASETS, f"dataset must be one of {', '.join(DATASETS)}"),
            (self.init in INITS, f"init must be one of {', '.join(INITS)}"),
            (isinstance(self.epochs, int) and self.epochs >= 1, "epochs must be an integer >= 1"),
            (isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size must be >= 1"),
            (self.lr > 0 and math.isfinite(self.lr), "lr must be a positive number"),
            (0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (not self.nesterov or self.momentum > 0, "nesterov needs momentum > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (isinstance(self.step_size, int) and self.step_size >= 0, "step_size must be >= 0"),
            (0 < self.gamma <= 1, "gamma must be in (0, 1]"),
            (self.normalize in NORMALIZATIONS, f"normalize must be one of {NORMALIZATIONS}"),
            (isinstance(self.val_every, int) and self.val_every >= 0, "val_every must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise CourseError(f"Bad training config: {message} (got {self.summary()}).")

    def summary(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self).items() if k != "device")

    def key(self) -> str:
        """A short hash of everything that changes the trained weights (not the device, nor
        how often the validation split is evaluated). ``normalize`` enters only when it is not
        the default, so the references cached before it existed keep their key."""
        settings = {k: v for k, v in asdict(self).items() if k not in UNWEIGHED}
        if self.normalize == "standardize":
            del settings["normalize"]
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise CourseError(f"Unknown training settings {sorted(unknown)}: use {sorted(names)}.")
        return cls(**values)


UNWEIGHED = ("device", "val_every")  # settings that leave the trained weights as they are


def pick_device(preferred: str | None = None) -> torch.device:
    """The requested device, else cuda, then mps, then cpu."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


VAL_STEP_COLUMNS = ["step", "val_loss", "val_accuracy"]


@dataclass
class History:
    """What a run produced: per SGD step, per epoch, and whether it diverged; ``val_steps``: the
    validation loss and accuracy after every ``val_every``-th step (none when it was 0)."""

    steps: pd.DataFrame
    epochs: pd.DataFrame
    diverged: bool = False
    divergence: str | None = None
    val_steps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VAL_STEP_COLUMNS))

    def to_dict(self) -> dict:
        return {
            "steps": self.steps.to_dict("list"),
            "epochs": self.epochs.to_dict("list"),
            "val_steps": self.val_steps.to_dict("list"),
            "divergence": self.divergence,
        }

    @classmethod
    def from_dict(cls, values: dict) -> History:
        divergence = values["divergence"]
        steps, epochs = pd.DataFrame(values["steps"]), pd.DataFrame(values["epochs"])
        val_steps = pd.DataFrame(values.get("val_steps") or [], columns=VAL_STEP_COLUMNS)
        return cls(steps, epochs, divergence is not None, divergence, val_steps)

    @property
    def final(self) -> dict:
        last = self.epochs.to_dict("records")[-1] if len(self.epochs) else {}
        return {
            **last,
            "epochs": len(self.epochs),
            "diverged": self.diverged,
            "seconds_per_epoch": float(self.epochs["seconds"].mean()) if len(self.epochs) else None,
        }


def make_optimizer(params, config: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
        weight_decay=config.weight_decay,
    )


@torch.no_grad()
def evaluate(model: nn.Module, loader) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (in [0, 1]) of ``model`` over a loader."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for x, y in loader:
        out = model(x)
        total_loss += F.cross_entropy(out, y, reduction="sum").item()
        correct += (out.argmax(1) == y).sum().item()
        count += len(y)
    model.train(was_training)
    return total_loss / max(count, 1), correct / max(count, 1)


def accuracy(
    model: nn.Module, data: DataBundle, split: str = "test", batch_size: int | None = None
) -> float:
    return evaluate(model, data.eval_loader(split, device_of(model), batch_size))[1]


@torch.no_grad()
def predictions(model: nn.Module, data: DataBundle, split: str = "test") -> torch.Tensor:
    model.eval()
    loader = data.eval_loader(split, device_of(model))
    return torch.cat([model(x).argmax(1).cpu() for x, _ in loader])


def count_confusion(labels: torch.Tensor, predicted: torch.Tensor, num_classes: int) -> np.ndarray:
    """Counts [true class, predicted class] of two 1-D integer tensors of the same length."""
    flat = labels * num_classes + predicted
    return torch.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes).numpy()


def confusion_matrix(
    model: nn.Module, data: DataBundle, split: str = "test", count=count_confusion
) -> np.ndarray:
    """Counts [true class, predicted class] over a split; ``count`` (labels, predictions,
    number of classes) is ``count_confusion`` or a student's own."""
    return count(data.split(split).labels, predictions(model, data, split), data.num_classes)


def initial_model(config: TrainConfig, data: DataBundle) -> nn.Module:
    """The untrained model of ``config``, built and initialised from ``config.seed``: the same
    config always starts from the same weights."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, data.input_shape, data.num_classes, **config.model_kwargs)
    return initialize(model, config.init)


class Diverged(Exception):
    """A training step's loss became NaN or exploded: training stops there."""


def sgd_epoch(model: nn.Module, batches, optimizer, scheduler) -> list[float]:
    """One epoch of SGD: for each batch (x, y) the gradients are zeroed, the cross-entropy of
    model(x) against y is back-propagated and the optimizer takes a step; after the last batch
    the learning-rate schedule takes its one step of the epoch. The loss of every step."""
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    scheduler.step()
    return losses


def _plugged_epoch(run_epoch, model, loader, optimizer, scheduler, max_loss, epoch, steps):
    """``run_epoch`` (``sgd_epoch`` or a student's own) for one epoch, as ``_epoch`` reports
    it: a forward hook records each step's loss and accuracy and stops a diverging step
    before its backward pass."""
    labels, first = [], len(steps)

    def batches():
        for x, y in loader:
            labels.append(y)
            yield x, y

    @torch.no_grad()
    def record(module, args, out):
        y = labels[-1]
        value = F.cross_entropy(out, y).item()
        if not math.isfinite(value) or value > max_loss:
            raise Diverged(f"loss became {value:.4g} at epoch {epoch}, step {len(steps) + 1}")
        steps.append((len(steps) + 1, epoch, value, (out.argmax(1) == y).float().mean().item()))

    handle = model.register_forward_hook(record)
    try:
        run_epoch(model, batches(), optimizer, scheduler)
    except Diverged as stop:
        return {}, str(stop)
    finally:
        handle.remove()
    sizes = [len(y) for y in labels]
    done = steps[first:]
    count = max(sum(sizes[: len(done)]), 1)
    loss_sum = sum(step[2] * n for step, n in zip(done, sizes, strict=False))
    correct_sum = sum(step[3] * n for step, n in zip(done, sizes, strict=False))
    return {"train_loss": loss_sum / count, "train_accuracy": correct_sum / count}, None


def _epoch(model, loader, optimizer, max_loss, probe, epoch: int, steps: list):
    """One epoch of SGD, each step's (step, epoch, loss, accuracy) appended to ``steps`` and
    ``probe`` called after it; the epoch's train loss and accuracy, or the divergence that
    stopped it."""
    model.train()
    loss_sum, correct_sum, count = 0.0, 0.0, 0
    for x, y in loader:
        out = model(x)
        loss = F.cross_entropy(out, y)
        value = loss.item()
        if not math.isfinite(value) or value > max_loss:
            return {}, f"loss became {value:.4g} at epoch {epoch}, step {len(steps) + 1}"
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        acc = (out.argmax(1) == y).float().mean().item()
        steps.append((len(steps) + 1, epoch, value, acc))
        probe(len(steps))
        loss_sum += value * len(y)
        correct_sum += acc * len(y)
        count += len(y)
    return {"train_loss": loss_sum / count, "train_accuracy": correct_sum / count}, None


def _loaders(data: DataBundle, config: TrainConfig, device, eval_splits):
    """The shuffled (and, for CIFAR-10 by default, augmented) train loader; one per eval split."""
    augment = data.name == "cifar10" if config.augment is None else config.augment
    train = data.loader("train", config.batch_size, True, augment, device, config.seed)
    return train, {s: data.eval_loader(s, device) for s in eval_splits if len(data.split(s))}


def _epoch_runner(epoch, model, loader, optimizer, steps_lr, max_loss, probe):
    """(epoch number, steps) -> ``_epoch``'s result, by the library's loop or by ``epoch``."""
    if epoch is None:
        return partial(_epoch, model, loader, optimizer, max_loss, probe)
    if probe.every:
        raise CourseError(
            "fit: a plug-in epoch cannot evaluate between its steps; set val_every=0 for it."
        )
    schedule = steps_lr or StepLR(optimizer, 1, 1.0)  # the constant schedule of step_size 0
    return partial(_plugged_epoch, epoch, model, loader, optimizer, schedule, max_loss)


class _Probe:
    """Called after every SGD step: every ``every``-th step evaluates the validation split and
    keeps (step, loss, accuracy), and the seconds it took (not counted as training time)."""

    def __init__(self, model: nn.Module, loader, every: int):
        if every and loader is None:
            raise CourseError(
                "val_every needs a validation split: set val_size > 0 or val_every=0."
            )
        self.model, self.loader, self.every = model, loader, every
        self.rows, self.seconds = [], 0.0

    def __call__(self, step: int) -> None:
        if self.every and step % self.every == 0:
            start = time.perf_counter()
            self.rows.append((step, *evaluate(self.model, self.loader)))
            self.seconds += time.perf_counter() - start


def fit(
    model: nn.Module,
    data: DataBundle,
    config: TrainConfig,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    progress: bool = True,
    eval_splits: tuple[str, ...] = ("val", "test"),
    max_loss: float = 1e3,
    epoch: Callable | None = None,
) -> History:
    """Train ``model`` in place with SGD; stop and report divergence on a NaN or exploding loss.

    ``optimizer`` replaces the one the config makes (LC's L step hooks its penalty's gradient
    into its own). ``epoch``, with
    ``sgd_epoch``'s arguments, runs each epoch in place of the library's loop (a student's own);
    it gets the StepLR schedule (a constant one when step_size is 0) and steps it itself.
    """
    if (data.name, data.normalize) != (config.dataset, config.normalize):
        raise CourseError(
            f"config.dataset/normalize are {config.dataset!r}/{config.normalize!r} but the data "
            f"is {data.name!r}/{data.normalize!r}: load the data with the config's settings."
        )
    device = pick_device(config.device)
    # Channels-last convolutions train ~1.5x faster on the CPU (oneDNN); the model is handed back
    # in the default layout.
    channels_last = device.type == "cpu"
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    torch.manual_seed(config.seed)
    optimizer = optimizer or make_optimizer(model.parameters(), config)
    steps_lr = StepLR(optimizer, config.step_size, config.gamma) if config.step_size else None
    train_loader, eval_loaders = _loaders(data, config, device, eval_splits)
    probe = _Probe(model, eval_loaders.get("val"), config.val_every)
    steps, epochs, divergence = [], [], None
    bar = tqdm(range(1, config.epochs + 1), desc=config.model, disable=not progress, unit="epoch")
    run_epoch = _epoch_runner(epoch, model, train_loader, optimizer, steps_lr, max_loss, probe)
    for number in bar:
        start, lr, probed = time.perf_counter(), optimizer.param_groups[0]["lr"], probe.seconds
        trained, divergence = run_epoch(number, steps)
        if divergence:
            break
        row = {"epoch": number, "lr": lr, **trained}
        row["seconds"] = time.perf_counter() - start - (probe.seconds - probed)
        for split, loader in eval_loaders.items():
            row[f"{split}_loss"], row[f"{split}_accuracy"] = evaluate(model, loader)
        epochs.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val=f"{row.get('val_accuracy', 0):.3f}")
        if steps_lr and epoch is None:
            steps_lr.step()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return History(
        pd.DataFrame(steps, columns=["step", "epoch", "loss", "accuracy"]),
        pd.DataFrame(epochs),
        diverged=divergence is not None,
        divergence=divergence,
        val_steps=pd.DataFrame(probe.rows, columns=VAL_STEP_COLUMNS),
    )


def finetune_config(config: TrainConfig, epochs: int, lr: float | None = None) -> TrainConfig:
    """The reference's training settings for ``epochs`` of fine-tuning (constant ``lr``)."""
    checks.integer("fine-tuning epochs (0 means no fine-tuning)", epochs, low=1)
    return replace(config, epochs=epochs, lr=lr or config.lr, step_size=0)
