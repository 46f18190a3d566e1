"""Structured pruning: a loop that removes the weakest units of the pruned layers step by step
(which layer and how many: the search order, ``search``), rebuilds a smaller model at every step
(``slimming``) and stops at an accuracy floor or a FLOP target."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import partial

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib import checks, costs
from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.prune.search import Order, Proposal, check_table, make_order
from course_lib.prune.slimming import P_NORMS, layer_widths, prunable_layers, slim, unit_importance
from course_lib.surgery import device_of
from course_lib.train import TrainConfig, evaluate, finetune_config, fit


@dataclass
class StructuredPruning:
    """The trajectory of structured pruning, the chosen (last accepted) model and the settings
    that made it."""

    trajectory: pd.DataFrame
    model: nn.Module
    original_widths: dict[str, int]
    widths: dict[str, int]
    settings: dict

    def to_dict(self) -> dict:
        return {
            "settings": self.settings,
            "original_widths": self.original_widths,
            "widths": self.widths,
            "trajectory": self.trajectory.to_dict("list"),
        }


@dataclass
class PruneSettings:
    """What structured pruning removes, in which order, when it stops, where it evaluates.

    layers: pruned (never the output layer); norm: a unit's importance, "l1" | "l2" of its
    weights; order: a name of ``search.ORDERS`` or an ``Order``; round_to: widths kept multiples
    of this (an int, or a dict by layer, 1 for the layers it omits); latency: a
    ``costs.LatencyTable`` that adds its estimate to the trajectory (and that order "latency"
    steps by), latency_step: the share of the original's time a "latency" step saves.
    accuracy_floor: a removal below it on ``split`` closes its layer; max_removals: units per
    layer at most (an int, or a dict by layer, no limit for the layers it omits);
    flop_ratio_target: stop once FLOPs fall this many times; finetune: a TrainConfig that retrains
    a removal below the floor first. also_evaluate: more splits scored.
    importance: (layer, norm) -> a score per output unit, ``unit_importance`` when None; surgery:
    (model, layer, unit) -> a new model without that unit, ``slim`` when None (a student's own
    functions; surgery removes a step's units one at a time, the highest index first).
    """

    layers: Sequence[str] = ("conv1", "conv2", "fc1")
    norm: str = "l2"
    order: str | Order = "sequential"
    round_to: int | Mapping[str, int] = 1
    latency: costs.LatencyTable | None = None
    latency_step: float = 0.03
    accuracy_floor: float = 0.85
    max_removals: int | Mapping[str, int] | None = None
    flop_ratio_target: float | None = None
    finetune: TrainConfig | None = None
    split: str = "val"
    also_evaluate: Sequence[str] = ("test",)
    batch_size: int | None = None  # evaluation batches; None: the device's (data.EVAL_BATCH)
    importance: Callable | None = field(default=None, repr=False)
    surgery: Callable | None = field(default=None, repr=False)
    search: Order = field(init=False, repr=False)  # ``order`` as a strategy

    def __post_init__(self):
        checks.choice("norm", self.norm, P_NORMS)
        checks.number("accuracy_floor", self.accuracy_floor, 0, 1)
        limits = self.max_removals if isinstance(self.max_removals, Mapping) else {}
        for name, limit in limits.items():
            checks.integer(f"max_removals[{name!r}]", limit, 0)
        if self.max_removals is not None and not limits:
            checks.integer("max_removals", self.max_removals, 0)
        if self.flop_ratio_target is not None:
            checks.number("flop_ratio_target", self.flop_ratio_target, 1)
        checks.number("latency_step", self.latency_step, 0, 1, open_low=True, open_high=True)
        if self.batch_size is not None:
            checks.integer("batch_size", self.batch_size, 1)
        self.search = make_order(self.order, check_table(self.latency), self.latency_step)

    def check(self, model: nn.Module, data: DataBundle) -> tuple[list[str], dict[str, int]]:
        """The pruned layers and each one's step (``round_to``), once ``model`` and ``data`` fit
        these settings."""
        layers, allowed = list(self.layers), prunable_layers(model)
        distinct = len(set(layers)) == len(layers)
        if not layers or not distinct or any(name not in allowed for name in layers):
            raise CourseError(
                f"layers must be distinct names from {allowed}; got {layers} (the output layer "
                "is never pruned: its units are the classes)."
            )
        if self.finetune is not None and self.finetune.dataset != data.name:
            raise CourseError(
                f"finetune.dataset is {self.finetune.dataset!r} but the data is {data.name!r}."
            )
        for name in self.splits:
            if not len(data.split(name)):
                raise CourseError(f"The {name!r} split is empty: evaluate on another split.")
        limits = self.max_removals if isinstance(self.max_removals, Mapping) else {}
        if set(limits) - set(layers):
            raise CourseError(
                f"max_removals names {sorted(set(limits) - set(layers))}, which are not pruned: "
                f"give counts by pruned layer {layers}, e.g. {{'{layers[0]}': 4}}."
            )
        return layers, _round_to_by_layer(self.round_to, layers)

    def removable(self, layer: str) -> float:
        """The most units ``layer`` may lose (infinite without a limit)."""
        limit = self.max_removals
        if isinstance(limit, Mapping):
            limit = limit.get(layer)
        return math.inf if limit is None else limit

    @property
    def splits(self) -> list[str]:
        """``split`` first, then the others evaluated."""
        return [self.split, *[s for s in self.also_evaluate if s != self.split]]


def _round_to_by_layer(round_to, layers: list[str]) -> dict[str, int]:
    """``round_to`` (an int, or a dict by layer) as one positive step per layer."""
    steps = round_to if isinstance(round_to, Mapping) else dict.fromkeys(layers, round_to)
    unknown = set(steps) - set(layers)
    bad = [v for v in steps.values() if not (isinstance(v, int) and checks.is_number(v) and v >= 1)]
    if unknown or bad:
        raise CourseError(
            f"round_to must be an int >= 1 or a dict of them by pruned layer {layers}, e.g. "
            f"{{'fc1': 16}}; got {round_to!r}."
        )
    return dict.fromkeys(layers, 1) | dict(steps)


def finetune_plan(config: TrainConfig, epochs: int, lr: float | None = None) -> TrainConfig | None:
    """The settings of ``epochs`` of fine-tuning (``train.finetune_config``); None for 0 epochs."""
    return finetune_config(config, epochs, lr) if epochs else None


def finetune_model(
    model: nn.Module, data: DataBundle, config: TrainConfig | None, *, device="cpu", progress=True
) -> nn.Module:
    """``model`` fine-tuned in place by ``config`` (None: not trained), handed back on ``device``
    in eval mode."""
    if config is not None:
        fit(model, data, config, progress=progress, eval_splits=())
    return model.to(device).eval()


class _Run:
    """One run of structured pruning: the current model, its accuracy and cost, the trajectory."""

    def __init__(self, model: nn.Module, data: DataBundle, settings: PruneSettings):
        self.layers, self.steps = settings.check(model, data)
        self.settings, self.data, self.order = settings, data, settings.search
        self.table = self.order.table or settings.latency
        self.device = device_of(model)
        self.loaders = {s: data.eval_loader(s, self.device, settings.batch_size)
                        for s in settings.splits}  # fmt: skip
        self.metric, self.rows, self.closed = f"{settings.split}_accuracy", [], set()
        self.original_widths = layer_widths(model, self.layers)
        self.model = copy.deepcopy(model).eval()
        self.scores = self.evaluate(self.model, self.loaders)
        start = self.record(self.model, "reference", "start", [], self.scores)
        self.accuracy, self.flops = self.scores[self.metric], start["flops"]
        self.original = self.spent = start[self.order.measure]
        target = settings.flop_ratio_target
        self.target = self.flops / target if target else 0

    @staticmethod
    def evaluate(model: nn.Module, loaders: dict) -> dict[str, float]:
        return {
            f"{split}_accuracy": evaluate(model, loader)[1] for split, loader in loaders.items()
        }

    def record(self, model: nn.Module, layer: str, phase: str, removed: list, scores) -> dict:
        """A row of the trajectory: ``model``'s widths, costs and ``scores``."""
        input_shape = self.data.input_shape
        self.rows.append({
            "step": len(self.rows), "layer": layer, "phase": phase, "removed_units": removed,
            **layer_widths(model, self.layers),
            "params": costs.count_params(model),
            "flops": costs.count_flops(model, input_shape),
            **({"latency_ms": self.table.model_ms(model, input_shape)} if self.table else {}),
            **scores,
        })  # fmt: skip
        return self.rows[-1]

    def cost_at(self, layer: str, width: int) -> float:
        """The cost of the current model with ``layer`` at ``width``."""
        return self.order.spent(slim(self.model, layer, range(width)), self.data.input_shape)

    def open_steps(self) -> dict[str, int]:
        """Each open layer's width after its next step."""
        widths = layer_widths(self.model, self.layers)
        after = {
            name: self.order.next_width(
                widths[name], self.steps[name], partial(self.cost_at, name), self.spent,
                self.original,
            )
            for name in self.layers
            if name not in self.closed
        }  # fmt: skip
        removable = self.settings.removable
        return {
            n: w for n, w in after.items() if w >= 1 and self.original_widths[n] - w <= removable(n)
        }

    def propose(self, layer: str, width: int) -> Proposal:
        """``layer`` at ``width``: its weakest units removed, scored on the pruning split."""
        score = self.settings.importance or unit_importance
        importance = torch.as_tensor(score(getattr(self.model, layer), self.settings.norm))
        weakest = importance.argsort(stable=True)[: len(importance) - width].tolist()
        keep = [unit for unit in range(len(importance)) if unit not in weakest]
        candidate = self.slimmed(layer, weakest, keep).eval()
        saved = self.spent - self.order.spent(candidate, self.data.input_shape)
        accuracy = evaluate(candidate, self.loaders[self.settings.split])[1]
        return Proposal(layer, sorted(weakest), candidate, accuracy, saved)

    def slimmed(self, layer: str, weakest: list[int], keep: list[int]) -> nn.Module:
        """The current model without the ``weakest`` units of ``layer``."""
        if self.settings.surgery is None:
            return slim(self.model, layer, keep)
        model = self.model
        for unit in sorted(weakest, reverse=True):
            model = self.settings.surgery(model, layer, unit)
        return model

    def take(self, step: Proposal) -> bool:
        """Score ``step`` on every split, retrain it below the floor (with ``finetune``), and
        keep it, or reject it and close its layer."""
        settings, model, phase = self.settings, step.model, "prune"
        others = {s: loader for s, loader in self.loaders.items() if s != settings.split}
        scores = {self.metric: step.accuracy} | self.evaluate(model, others)
        if scores[self.metric] < settings.accuracy_floor and settings.finetune is not None:
            self.record(model, step.layer, "below_floor", step.units, scores)
            model = finetune_model(
                model, self.data, settings.finetune, device=self.device, progress=False
            )
            scores, phase = self.evaluate(model, self.loaders), "finetune"
        if scores[self.metric] < settings.accuracy_floor:
            self.record(model, step.layer, "rejected", step.units, scores)
            self.closed.add(step.layer)
            return False
        self.model, self.accuracy, self.scores = model, scores[self.metric], scores
        accepted = self.record(model, step.layer, phase, step.units, scores)
        self.flops, self.spent = accepted["flops"], accepted[self.order.measure]
        return True

    def result(self) -> StructuredPruning:
        s = self.settings
        settings = {
            "layers": self.layers, "norm": s.norm, "order": self.order.name,
            "accuracy_floor": s.accuracy_floor, "split": s.split, "max_removals": s.max_removals,
            "flop_ratio_target": s.flop_ratio_target, "round_to": self.steps,
            "finetune": s.finetune.summary() if s.finetune else None,
            "latency": self.table.settings() if self.table else None,
            "latency_step": self.order.latency_step,
        }  # fmt: skip
        widths = layer_widths(self.model, self.layers)
        return StructuredPruning(
            pd.DataFrame(self.rows), self.model, self.original_widths, widths, settings
        )


def _settings(settings: PruneSettings | None, changes: dict) -> PruneSettings:
    known = [f.name for f in fields(PruneSettings) if f.init]
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise CourseError(f"structured_prune has no setting(s) {unknown}: use {known}.")
    return replace(settings, **changes) if settings else PruneSettings(**changes)


def structured_prune(
    model: nn.Module,
    data: DataBundle,
    settings: PruneSettings | None = None,
    *,
    progress: bool = True,
    **changes,
) -> StructuredPruning:
    """Prune a copy of ``model`` step by step: remove the weakest units (by weight norm) of a
    layer, rebuild the smaller model and evaluate it. ``settings`` (a ``PruneSettings``), with any
    of its fields given by name here (``accuracy_floor=0.9``, ``order="cheapest"``, ...).

    The order (``search``) picks each step: "sequential" (seed 001) prunes the layers one after
    the other; "cheapest" takes the step that costs the least accuracy per FLOP saved; "latency"
    (NetAdapt) the one that costs the least per millisecond saved of the time ``latency``
    estimates. A step removes one unit, or with ``round_to`` the weakest units down to the next
    multiple (dense kernels work in vector-wide blocks: fc1 with 63 neurons can be slower than
    with 64), or with order "latency" as few as save ``latency_step`` of the original's time.

    A removal that brings the ``split`` accuracy below ``accuracy_floor`` closes its layer (the
    trajectory keeps it as "rejected"), unless ``finetune`` retrains it back to the floor
    ("below_floor", then "finetune"); so does a layer at its last unit (or last multiple), or
    whose next step would remove more than ``max_removals`` units. Pruning ends once every
    layer is closed or the model has ``flop_ratio_target`` times fewer FLOPs than the original.
    """
    run = _Run(model, data, _settings(settings, changes))
    bar = tqdm(desc="structured pruning", disable=not progress, unit="step")
    while run.flops > run.target:
        steps = run.open_steps()
        if not steps:
            break
        proposals = (run.propose(name, steps[name]) for name in run.order.tried(list(steps)))
        step = run.order.choose(proposals, run.accuracy)
        bar.update()
        if run.take(step):
            bar.set_postfix(layer=step.layer, **{k: f"{v:.3f}" for k, v in run.scores.items()})
    bar.close()
    return run.result()
