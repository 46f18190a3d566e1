"""Pruning: magnitude pruning with its sensitivity scan; structured pruning that shrinks a net.

Unstructured pruning zeroes the smallest weights (by |w|) of a copy of the model through
``torch.nn.utils.prune``; the net keeps its shape, so it is no faster. Structured pruning removes
whole conv output channels and fc neurons, the least important first (importance = the L1 or L2
norm of the unit's weights), and rebuilds a physically smaller ``nn.Sequential`` at every step:
the layer loses an output and the next conv or linear layer loses the matching input slice.

FLOP conventions (``fashion_cnn_flops``): "torch" counts 2 FLOPs per multiply-add of convolutions
and matrix products and nothing for bias, ReLU or pooling, exactly as ``costs.count_flops``
(``torch.utils.flop_counter``) does; "seed001" is seed 001's formula: 1 per multiply-add plus
2 per output of conv1, conv2 and fc1 (its bias add and ReLU), fc2 counted by its multiply-adds.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune
from tqdm.auto import tqdm

from course_lib import costs
from course_lib.checkpoints import cache_dir
from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.train import TrainConfig, evaluate, fit

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)
SCOPES = ("layer", "global")
ALL_LAYERS = "all layers"
SCAN_FORMAT = 1

# ---------------------------------------------------------------------------------------------
# Unstructured magnitude pruning
# ---------------------------------------------------------------------------------------------


def weight_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The conv and linear layers of ``model`` by qualified name, in forward order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, WEIGHT_LAYERS)}


def _check_layers(model: nn.Module, layers: Sequence[str] | None) -> list[str]:
    known = weight_layers(model)
    if layers is None:
        return list(known)
    if isinstance(layers, str) or not layers:
        raise CourseError(
            f"layers must be a non-empty list of layer names, e.g. {list(known)[:2]}."
        )
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise CourseError(f"No conv or linear layer(s) {unknown} in this model: use {list(known)}.")
    return list(layers)


def _check_rate(rate) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise CourseError(
            f"A prune rate is the fraction of weights removed, in [0, 1]; got {rate!r}."
        )
    return float(rate)


def _check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise CourseError(
            f"scope must be 'layer' (a threshold per layer) or 'global'; got {scope!r}."
        )
    return scope


def magnitude_masks(
    weights: Mapping[str, torch.Tensor], rate: float, scope: str = "layer"
) -> dict[str, torch.Tensor]:
    """Keep-masks (1 = kept) that remove the ``rate`` fraction of smallest |w|, rounded as torch
    does: per tensor (scope "layer") or over all tensors together (scope "global")."""
    rate, scope = _check_rate(rate), _check_scope(scope)
    method = torch_prune.L1Unstructured(amount=rate)
    if scope == "layer":
        return {n: method.compute_mask(w, torch.ones_like(w)) for n, w in weights.items()}
    flat = torch.cat([w.reshape(-1) for w in weights.values()])
    mask = method.compute_mask(flat, torch.ones_like(flat))
    sizes = [w.numel() for w in weights.values()]
    parts = torch.split(mask, sizes)
    return {n: m.view_as(w) for (n, w), m in zip(weights.items(), parts, strict=True)}


def magnitude_prune(
    model: nn.Module,
    rate: float | Mapping[str, float],
    *,
    layers: Sequence[str] | None = None,
    scope: str = "layer",
) -> nn.Module:
    """A copy of ``model`` with the smallest weights of ``layers`` (default: all) set to zero.

    ``rate`` is one fraction for every layer, or {layer: rate} (scope "layer" only). With scope
    "global" one threshold is shared by all the layers named. The original is left untouched.
    """
    _check_scope(scope)
    if isinstance(rate, Mapping):
        if scope != "layer":
            raise CourseError(
                "Per-layer rates need scope='layer'; a global threshold takes one rate."
            )
        rates = {name: _check_rate(r) for name, r in rate.items()}
        names = _check_layers(model, list(rates))
    else:
        names = _check_layers(model, layers)
        rates = dict.fromkeys(names, _check_rate(rate))
    pruned = copy.deepcopy(model)
    modules = weight_layers(pruned)
    weights = {name: modules[name].weight.detach() for name in names}
    if scope == "global":
        masks = magnitude_masks(weights, rates[names[0]], "global")
    else:
        masks = {n: magnitude_masks({n: w}, rates[n])[n] for n, w in weights.items()}
    for name, mask in masks.items():
        torch_prune.custom_from_mask(modules[name], "weight", mask)
        torch_prune.remove(modules[name], "weight")
    return pruned


def sparsity(model: nn.Module, layers: Sequence[str] | None = None) -> dict[str, float]:
    """The fraction of zero weights of each conv and linear layer."""
    modules = weight_layers(model)
    names = _check_layers(model, layers)
    return {n: int((modules[n].weight == 0).sum()) / modules[n].weight.numel() for n in names}


# ---------------------------------------------------------------------------------------------
# The sensitivity scan: accuracy vs prune rate, one curve per layer, cached
# ---------------------------------------------------------------------------------------------


@dataclass
class SensitivityScan:
    """Accuracy of a model with one layer (or all, the "all layers" curve) magnitude-pruned at each
    rate, without retraining. ``weights`` holds the reference weights for the histograms."""

    rates: list[float]
    accuracy: dict[str, list[float]]
    baseline: float
    split: str
    scope: str
    key: str
    weights: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def curves(self) -> list[str]:
        return list(self.accuracy)

    @property
    def layers(self) -> list[str]:
        return [c for c in self.accuracy if c != ALL_LAYERS]

    def table(self) -> pd.DataFrame:
        """Accuracy, one row per rate and one column per curve."""
        return pd.DataFrame(self.accuracy, index=pd.Index(self.rates, name="prune rate"))

    def _check_point(self, curve: str, rate: float) -> int:
        if curve not in self.accuracy:
            raise CourseError(f"The scan has no curve {curve!r}: choose one of {self.curves}.")
        matches = [i for i, r in enumerate(self.rates) if abs(r - rate) < 1e-9]
        if not matches:
            raise CourseError(f"The scan has no rate {rate}: it was run at {self.rates}.")
        return matches[0]

    def accuracy_at(self, curve: str, rate: float) -> float:
        return self.accuracy[curve][self._check_point(curve, rate)]

    def weight_split(self, curve: str, rate: float) -> tuple[np.ndarray, np.ndarray]:
        """The (kept, removed) weights of ``curve`` (one layer, or all of them) at ``rate``."""
        self._check_point(curve, rate)
        names = self.layers if curve == ALL_LAYERS else [curve]
        weights = {n: self.weights[n] for n in names}
        scope = self.scope if curve == ALL_LAYERS else "layer"
        masks = magnitude_masks(weights, rate, scope)
        kept = torch.cat([weights[n][masks[n].bool()] for n in names])
        removed = torch.cat([weights[n][~masks[n].bool()] for n in names])
        return kept.numpy(), removed.numpy()

    def to_dict(self) -> dict:
        return {
            "rates": self.rates,
            "accuracy": self.accuracy,
            "baseline": self.baseline,
            "split": self.split,
            "scope": self.scope,
        }


def _digest(model: nn.Module, data: DataBundle, split: str, settings: dict) -> str:
    """A hash of the weights, the evaluation images and the scan settings."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    images = data.split(split)
    h.update(data.name.encode())
    h.update(images.images.contiguous().numpy().tobytes())
    h.update(images.labels.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _check_rates(rates: Sequence[float]) -> list[float]:
    if isinstance(rates, str) or not isinstance(rates, Sequence) or not rates:
        raise CourseError(f"rates must be a non-empty list of fractions in [0, 1]; got {rates!r}.")
    return sorted({_check_rate(r) for r in rates})


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def sensitivity_scan(
    model: nn.Module,
    data: DataBundle,
    rates: Sequence[float],
    *,
    layers: Sequence[str] | None = None,
    split: str = "val",
    scope: str = "layer",
    joint: bool = True,
    batch_size: int = 1024,
    cache: str | Path | None = None,
    progress: bool = False,
) -> SensitivityScan:
    """Accuracy on ``split`` with each layer pruned alone at each rate (no retraining), and with
    all ``layers`` pruned together (``joint``; per-layer or global threshold by ``scope``).

    Cached on disk under ``cache`` ($COURSE_CACHE by default) by a hash of the weights, the
    images and the settings: a second call with the same inputs costs no evaluation.
    """
    rates, layers, scope = _check_rates(rates), _check_layers(model, layers), _check_scope(scope)
    if not len(data.split(split)):
        raise CourseError(f"The {split!r} split is empty: scan on another split.")
    modules = weight_layers(model)
    weights = {n: modules[n].weight.detach().cpu().clone() for n in layers}
    settings = {"rates": rates, "layers": layers, "scope": scope, "joint": joint, "v": SCAN_FORMAT}
    key = _digest(model, data, split, settings)
    path = cache_dir(cache) / "scans" / f"{key}.json"
    if path.is_file():
        try:
            return SensitivityScan(**json.loads(path.read_text()), key=key, weights=weights)
        except (ValueError, TypeError):  # a damaged or foreign file: scan again and replace it
            path.unlink()
    loader = data.loader(split, batch_size, device=_device(model))
    choices = [(name, [name]) for name in layers] + ([(ALL_LAYERS, layers)] if joint else [])
    accuracy = {name: [] for name, _ in choices}
    work = [(curve, names, rate) for curve, names in choices for rate in rates]
    for curve, names, rate in tqdm(work, desc="sensitivity scan", disable=not progress):
        pruned = magnitude_prune(model, rate, layers=names, scope=scope)
        accuracy[curve].append(evaluate(pruned, loader)[1])
    scan = SensitivityScan(rates, accuracy, evaluate(model, loader)[1], split, scope, key, weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{id(scan)}.tmp")
    tmp.write_text(json.dumps(scan.to_dict()))
    tmp.replace(path)
    return scan


# ---------------------------------------------------------------------------------------------
# Structured pruning: remove conv channels and fc neurons, rebuild a smaller model
# ---------------------------------------------------------------------------------------------

NORMS = {"l1": 1, "l2": 2}
PASS_THROUGH = (nn.ReLU, nn.Tanh, nn.MaxPool2d, nn.AvgPool2d, nn.Dropout, nn.Identity, nn.Flatten)


def unit_importance(layer: nn.Module, norm: str = "l2") -> torch.Tensor:
    """One score per output unit (conv channel or fc neuron): the norm of its incoming weights."""
    if norm not in NORMS:
        raise CourseError(f"norm must be one of {list(NORMS)}; got {norm!r}.")
    return torch.linalg.vector_norm(layer.weight.detach().flatten(1), ord=NORMS[norm], dim=1)


def _with_outputs(layer: nn.Module, keep: torch.Tensor) -> nn.Module:
    """A copy of a conv or linear layer with only the output units ``keep``."""
    if isinstance(layer, nn.Conv2d):
        new = nn.Conv2d(
            layer.in_channels, len(keep), layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, bias=layer.bias is not None, padding_mode=layer.padding_mode,
        )  # fmt: skip
    else:
        new = nn.Linear(layer.in_features, len(keep), bias=layer.bias is not None)
    new = new.to(layer.weight.device, layer.weight.dtype).train(layer.training)
    with torch.no_grad():
        new.weight.copy_(layer.weight[keep])
        if layer.bias is not None:
            new.bias.copy_(layer.bias[keep])
    return new


def _with_inputs(layer: nn.Module, keep: torch.Tensor) -> nn.Module:
    """A copy of a conv or linear layer that reads only the inputs ``keep``."""
    if isinstance(layer, nn.Conv2d):
        new = nn.Conv2d(
            len(keep), layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, bias=layer.bias is not None, padding_mode=layer.padding_mode,
        )  # fmt: skip
    else:
        new = nn.Linear(len(keep), layer.out_features, bias=layer.bias is not None)
    new = new.to(layer.weight.device, layer.weight.dtype).train(layer.training)
    with torch.no_grad():
        new.weight.copy_(layer.weight[:, keep])
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    return new


def _with_features(norm: nn.Module, keep: torch.Tensor) -> nn.Module:
    """A copy of a batch norm over only the features ``keep``."""
    new = type(norm)(len(keep), norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
    new = new.to(next(iter(norm.state_dict().values())).device).train(norm.training)
    state = {k: v[keep] if v.dim() == 1 else v for k, v in norm.state_dict().items()}
    new.load_state_dict(state)
    return new


def _check_sequential(model: nn.Module) -> list[str]:
    if not isinstance(model, nn.Sequential):
        raise CourseError(
            f"Structured pruning rebuilds a flat nn.Sequential; {type(model).__name__} is not one "
            "(the residual net's skip connections tie channels together). Use another model."
        )
    return [name for name, _ in model.named_children()]


def prunable_layers(model: nn.Module) -> list[str]:
    """The conv and linear children that structured pruning may shrink: all but the output layer."""
    names = _check_sequential(model)
    return [n for n in names if isinstance(getattr(model, n), WEIGHT_LAYERS)][:-1]


def _prunable(model: nn.Module, layer: str) -> nn.Module:
    allowed = prunable_layers(model)
    if layer not in allowed:
        raise CourseError(
            f"{layer!r} cannot be pruned structurally: choose among {allowed} "
            "(the output layer is never pruned: its units are the classes)."
        )
    return getattr(model, layer)


def slim(model: nn.Module, layer: str, keep: Sequence[int]) -> nn.Sequential:
    """A new, smaller model in which ``layer`` keeps only the output units ``keep`` and the next
    conv or linear layer reads only their outputs (batch norms in between are sliced too)."""
    names = _check_sequential(model)
    target = _prunable(model, layer)
    units = target.weight.shape[0]
    keep = torch.as_tensor(sorted({int(u) for u in keep}), dtype=torch.long)
    if len(keep) == 0 or keep.min() < 0 or keep.max() >= units:
        raise CourseError(f"keep must name between 1 and {units} units of {layer} in [0, {units}).")
    if isinstance(target, nn.Conv2d) and target.groups != 1:
        raise CourseError(f"{layer} is a grouped convolution; structured pruning needs groups=1.")
    slimmed = copy.deepcopy(model)
    device = target.weight.device
    setattr(slimmed, layer, _with_outputs(target, keep.to(device)))
    inputs, per_unit = keep, 1
    for name in names[names.index(layer) + 1 :]:
        module = getattr(model, name)
        if isinstance(module, nn.Linear) and isinstance(target, nn.Conv2d):
            per_unit = module.in_features // units  # conv channel -> flattened features
            if per_unit * units != module.in_features:
                raise CourseError(f"{name} does not read {layer}'s channels as flat blocks.")
            inputs = (keep[:, None] * per_unit + torch.arange(per_unit)).reshape(-1)
        if isinstance(module, WEIGHT_LAYERS):
            setattr(slimmed, name, _with_inputs(module, inputs.to(device)))
            return slimmed
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            setattr(slimmed, name, _with_features(module, inputs.to(device)))
        elif not isinstance(module, PASS_THROUGH):
            raise CourseError(
                f"Cannot slice through {name} ({type(module).__name__}) after {layer}: "
                f"structured pruning knows {[t.__name__ for t in PASS_THROUGH]} and batch norms."
            )
    raise AssertionError("unreachable: a prunable layer always has a next weight layer")


def remove_unit(model: nn.Module, layer: str, unit: int) -> nn.Sequential:
    """A new model without output unit ``unit`` of ``layer`` (and its input slice downstream)."""
    units = _prunable(model, layer).weight.shape[0]
    if units <= 1:
        raise CourseError(f"{layer} has one unit left: the last unit of a layer stays.")
    if not 0 <= unit < units:
        raise CourseError(f"{layer} has units 0 to {units - 1}; there is no unit {unit}.")
    return slim(model, layer, [u for u in range(units) if u != unit])


def layer_widths(model: nn.Module, layers: Sequence[str]) -> dict[str, int]:
    """The number of output units of each named layer."""
    return {name: getattr(model, name).weight.shape[0] for name in layers}


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


def _evaluate_splits(model: nn.Module, loaders: dict) -> dict[str, float]:
    return {f"{split}_accuracy": evaluate(model, loader)[1] for split, loader in loaders.items()}


ORDERS = ("sequential", "cheapest", "latency")


def _round_to_by_layer(round_to, layers: list[str]) -> dict[str, int]:
    """``round_to`` (an int, or a dict by layer) as one positive step per layer."""
    steps = round_to if isinstance(round_to, Mapping) else dict.fromkeys(layers, round_to)
    unknown = set(steps) - set(layers)
    bad = {k: v for k, v in steps.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1}
    if unknown or bad:
        raise CourseError(
            f"round_to must be an int >= 1 or a dict of them by pruned layer {layers}, e.g. "
            f"{{'fc1': 16}}; got {round_to!r}."
        )
    return dict.fromkeys(layers, 1) | dict(steps)


def _next_width(width: int, step: int) -> int:
    """The largest multiple of ``step`` below ``width`` (0 when there is none)."""
    return (width - 1) // step * step


def structured_prune(
    model: nn.Module,
    data: DataBundle,
    *,
    layers: Sequence[str] = ("conv1", "conv2", "fc1"),
    norm: str = "l2",
    order: str = "sequential",
    accuracy_floor: float = 0.85,
    split: str = "val",
    also_evaluate: Sequence[str] = ("test",),
    finetune: TrainConfig | None = None,
    max_removals: int | None = None,
    flop_ratio_target: float | None = None,
    round_to: int | Mapping[str, int] = 1,
    latency: costs.LatencyTable | None = None,
    latency_step: float = 0.03,
    batch_size: int = 1024,
    progress: bool = True,
) -> StructuredPruning:
    """Prune ``layers`` one unit per step: remove a unit with the smallest weight norm (or, with
    ``round_to``, the weakest units down to a multiple; with order "latency", as many as save a
    step of time), rebuild the smaller model and evaluate it on ``split``.

    ``order="sequential"`` (seed 001) prunes the layers one after the other; "cheapest" tries the
    next step (its weakest unit) of every open layer and takes the one that costs the least
    ``split`` accuracy per FLOP saved. A removal that brings the accuracy below
    ``accuracy_floor`` closes its layer (the trajectory keeps it as "rejected"); so does a layer
    at its last unit (or last multiple of ``round_to``), or whose next step would take it past
    ``max_removals`` units removed. Pruning ends once every layer is closed or the model has
    ``flop_ratio_target`` times fewer FLOPs than the original.

    ``round_to`` keeps widths multiples of a number (one for all layers, or a dict by layer, 1 for
    the layers it omits): a step then removes the weakest units down to the next multiple
    (100 -> 96 -> 80 for 16). Dense kernels work in vector-wide blocks, so a width just below a
    multiple can be slower than the multiple itself (fc1 with 63 neurons vs 64 on AVX-512).

    ``order="latency"`` is NetAdapt's (Yang et al., 2018): each step, every open layer proposes
    to remove its weakest units, as few as make the model's time (estimated by ``latency``, a
    ``costs.LatencyTable`` of measured layer times; a default one if None) fall by
    ``latency_step`` of the original's; the proposal that costs the least ``split`` accuracy per
    millisecond saved is taken, and a layer that cannot save that much closes. Given with another
    order, ``latency`` only adds the estimate to the trajectory ("latency_ms").

    With ``finetune`` (a TrainConfig: its epochs, lr, ...) a removal that falls below the floor
    ("below_floor") is first retrained; if that brings it back to the floor it is kept
    ("finetune") and pruning goes on, otherwise it is rejected. The input model is not changed.
    """
    layers = list(layers)
    allowed = prunable_layers(model)
    if not layers or any(name not in allowed for name in layers) or len(set(layers)) < len(layers):
        raise CourseError(
            f"layers must be distinct names from {allowed}; got {layers} (the output layer is "
            "never pruned: its units are the classes)."
        )
    unit_importance(getattr(model, layers[0]), norm)  # checks the norm before any work
    if order not in ORDERS:
        raise CourseError(f"order must be one of {list(ORDERS)}; got {order!r}.")
    if not 0 <= accuracy_floor <= 1:
        raise CourseError(f"accuracy_floor is an accuracy in [0, 1]; got {accuracy_floor}.")
    if max_removals is not None and max_removals < 0:
        raise CourseError(f"max_removals must be >= 0 or None; got {max_removals}.")
    if flop_ratio_target is not None and not flop_ratio_target >= 1:
        raise CourseError(f"flop_ratio_target must be >= 1 or None; got {flop_ratio_target}.")
    steps = _round_to_by_layer(round_to, layers)
    if (
        isinstance(latency_step, bool)
        or not isinstance(latency_step, int | float)
        or not (0 < latency_step < 1)
    ):
        raise CourseError(
            f"latency_step is the fraction of the original's time a latency step saves, in "
            f"(0, 1), e.g. 0.03; got {latency_step!r}."
        )
    if latency is not None and not isinstance(latency, costs.LatencyTable):
        raise CourseError(
            f"latency must be a costs.LatencyTable (or None); got {type(latency).__name__}."
        )
    if order == "latency" and latency is None:
        latency = costs.LatencyTable()
    if finetune is not None and finetune.dataset != data.name:
        raise CourseError(
            f"finetune.dataset is {finetune.dataset!r} but the data is {data.name!r}."
        )
    splits = [split, *[s for s in also_evaluate if s != split]]
    for name in splits:
        if not len(data.split(name)):
            raise CourseError(f"The {name!r} split is empty: evaluate on another split.")
    device = _device(model)
    loaders = {s: data.loader(s, batch_size, device=device) for s in splits}
    others = {s: loader for s, loader in loaders.items() if s != split}
    metric = f"{split}_accuracy"
    input_shape = data.input_shape
    rows = []

    def record(current, layer, phase, removed, scores) -> dict:
        rows.append({
            "step": len(rows),
            "layer": layer,
            "phase": phase,
            "removed_units": removed,
            **layer_widths(current, layers),
            "params": costs.count_params(current),
            "flops": costs.count_flops(current, input_shape),
            **({"latency_ms": latency.model_ms(current, input_shape)} if latency else {}),
            **scores,
        })  # fmt: skip
        return rows[-1]

    def spent(net) -> float:
        """The cost a step lowers: estimated milliseconds (order "latency"), else FLOPs."""
        if order == "latency":
            return latency.model_ms(net, input_shape)
        return costs.count_flops(net, input_shape)

    def next_width(layer, width) -> int:
        """``layer``'s width after its next step; 0 when it has none."""
        if order != "latency":
            return _next_width(width, steps[layer])
        goal = spent_now - latency_step * original_spent
        widths = range(_next_width(width, steps[layer]), 0, -steps[layer])
        if not widths or spent(slim(current, layer, range(widths[-1]))) > goal:
            return 0  # not even the narrowest width saves enough
        return next(w for w in widths if spent(slim(current, layer, range(w))) <= goal)

    def propose(layer, count) -> tuple:
        importance = unit_importance(getattr(current, layer), norm)
        weakest = importance.argsort(stable=True)[:count].tolist()
        keep = [unit for unit in range(len(importance)) if unit not in weakest]
        candidate = slim(current, layer, keep).eval()
        saved = spent_now - spent(candidate)
        scores = _evaluate_splits(candidate, {split: loaders[split]})
        return layer, sorted(weakest), candidate, scores, saved

    def cost(proposal) -> tuple[float, float]:
        *_, scores, saved = proposal
        return max(accuracy_now - scores[metric], 0.0) / max(saved, 1e-9), -saved

    current = copy.deepcopy(model).eval()
    scores = _evaluate_splits(current, loaders)
    cost_column = "latency_ms" if order == "latency" else "flops"
    start = record(current, "reference", "start", [], scores)
    flops, accuracy_now = start["flops"], scores[metric]
    original_spent = spent_now = start[cost_column]
    target = flops / flop_ratio_target if flop_ratio_target else 0
    original_widths, closed = layer_widths(model, layers), set()
    removal_limit = math.inf if max_removals is None else max_removals
    bar = tqdm(desc="structured pruning", disable=not progress, unit="step")
    while flops > target:
        widths = layer_widths(current, layers)
        next_widths = {n: next_width(n, widths[n]) for n in layers if n not in closed}
        open_layers = [
            name
            for name, width in next_widths.items()
            if width >= 1 and original_widths[name] - width <= removal_limit
        ]
        if not open_layers:
            break
        tried = open_layers[:1] if order == "sequential" else open_layers
        proposals = (propose(name, widths[name] - next_widths[name]) for name in tried)
        layer, units, candidate, scores, _ = min(proposals, key=cost)
        scores |= _evaluate_splits(candidate, others)  # only the chosen one is scored on all
        phase = "prune"
        bar.update()
        if scores[metric] < accuracy_floor and finetune is not None:
            record(candidate, layer, "below_floor", units, scores)
            fit(candidate, data, finetune, progress=False, eval_splits=())
            candidate = candidate.to(device).eval()
            scores, phase = _evaluate_splits(candidate, loaders), "finetune"
        if scores[metric] < accuracy_floor:
            record(candidate, layer, "rejected", units, scores)
            closed.add(layer)
            continue
        current, accuracy_now = candidate, scores[metric]
        accepted = record(current, layer, phase, units, scores)
        flops, spent_now = accepted["flops"], accepted[cost_column]
        bar.set_postfix(layer=layer, **{k: f"{v:.3f}" for k, v in scores.items()})
    bar.close()
    trajectory = pd.DataFrame(rows)
    settings = {
        "layers": layers, "norm": norm, "order": order, "accuracy_floor": accuracy_floor,
        "split": split, "max_removals": max_removals, "flop_ratio_target": flop_ratio_target,
        "round_to": steps, "finetune": finetune.summary() if finetune else None,
        "latency": latency.settings() if latency else None,
        "latency_step": latency_step if order == "latency" else None,
    }  # fmt: skip
    return StructuredPruning(
        trajectory, current, original_widths, layer_widths(current, layers), settings
    )


# ---------------------------------------------------------------------------------------------
# Costs: seed 001's FLOP formula and the measured speed-up
# ---------------------------------------------------------------------------------------------

FlopRule = Callable[[int, int, bool], int]
FLOP_CONVENTIONS: dict[str, FlopRule] = {
    # (multiply-adds, outputs, bias+ReLU counted) -> FLOPs of one layer
    "torch": lambda macs, outputs, activated: 2 * macs,
    "seed001": lambda macs, outputs, activated: macs + (2 * outputs if activated else 0),
}


def fashion_cnn_flops(
    c1: int,
    c2: int,
    f1: int,
    *,
    k1: int = 3,
    k2: int = 5,
    input_shape=(1, 28, 28),
    num_classes: int = 10,
    convention: str = "torch",
) -> int:
    """FLOPs per image of the Fashion CNN (c1, k1, c2, k2, f1) in closed form (seed 001).

    With o1 = H - k1 + 1 and o2 = o1 - k2 + 1 (square images, no padding) the multiply-adds are
    conv1 o1²·k1²·C·c1, conv2 o2²·k2²·c1·c2, fc1 o2²·c2·f1, fc2 f1·classes; the convention
    says how they and the bias + ReLU of conv1, conv2 and fc1 are counted (see the module doc).
    """
    if convention not in FLOP_CONVENTIONS:
        raise CourseError(
            f"convention must be one of {list(FLOP_CONVENTIONS)}; got {convention!r}."
        )
    channels, height, width = input_shape
    if height != width:
        raise CourseError(f"The formula assumes square images; got {height}x{width}.")
    o1 = height - k1 + 1
    o2 = o1 - k2 + 1
    if min(c1, c2, f1, k1, k2) < 1 or o2 < 1:
        raise CourseError(f"No Fashion CNN has c1={c1}, c2={c2}, f1={f1}, k1={k1}, k2={k2} here.")
    layers = [  # (multiply-adds, outputs, followed by bias + ReLU in seed 001's count)
        (o1 * o1 * k1 * k1 * channels * c1, c1 * o1 * o1, True),
        (o2 * o2 * k2 * k2 * c1 * c2, c2 * o2 * o2, True),
        (o2 * o2 * c2 * f1, f1, True),
        (f1 * num_classes, num_classes, False),
    ]
    rule = FLOP_CONVENTIONS[convention]
    return sum(rule(macs, outputs, activated) for macs, outputs, activated in layers)


FASHION_CNN_LAYOUT = [
    ("conv1", nn.Conv2d), ("relu1", nn.ReLU), ("conv2", nn.Conv2d), ("relu2", nn.ReLU),
    ("flatten", nn.Flatten), ("fc1", nn.Linear), ("relu3", nn.ReLU), ("fc2", nn.Linear),
]  # fmt: skip


def is_fashion_cnn(model: nn.Module) -> bool:
    """Whether ``model`` is laid out as the Fashion CNN (no pooling, unpadded stride-1 convs),
    the network seed 001's formula describes."""
    layout = [(name, type(m)) for name, m in model.named_children()]
    if layout != FASHION_CNN_LAYOUT:
        return False
    convs = (model.conv1, model.conv2)
    return all(c.stride == (1, 1) and c.padding == (0, 0) and c.dilation == (1, 1) for c in convs)


def fashion_cnn_shape(model: nn.Module) -> dict[str, int]:
    """(c1, k1, c2, k2, f1) and the class count read off a (pruned) Fashion CNN."""
    if not is_fashion_cnn(model):
        raise CourseError(
            "Not a Fashion CNN (conv1, relu1, conv2, relu2, flatten, fc1, relu3, fc2, unpadded "
            "stride-1 convs): seed 001's formula does not apply to it."
        )
    return {
        "c1": model.conv1.out_channels,
        "k1": model.conv1.kernel_size[0],
        "c2": model.conv2.out_channels,
        "k2": model.conv2.kernel_size[0],
        "f1": model.fc1.out_features,
        "num_classes": model.fc2.out_features,
    }


def cost_table(models: Mapping[str, nn.Module], input_shape) -> pd.DataFrame:
    """Parameters and FLOPs per image of each model: counted on the model (torch's counter) and,
    for Fashion CNNs, by seed 001's formula in both conventions."""
    rows = {}
    for name, model in models.items():
        row = {
            "params": costs.count_params(model),
            "flops": costs.count_flops(model, input_shape),
        }
        if is_fashion_cnn(model):
            shape = fashion_cnn_shape(model)
            row.update({k: shape[k] for k in ("c1", "c2", "f1")})
            for convention in FLOP_CONVENTIONS:
                row[f"formula_{convention}"] = fashion_cnn_flops(
                    **shape, input_shape=input_shape, convention=convention
                )
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def speedup(
    original: nn.Module,
    pruned: nn.Module,
    input_shape,
    *,
    batch_size: int = 1000,
    repeats: int = 5,
    warmup: int = 2,
    threads: int | None = 1,
    images: int | None = None,
    conv_backend: str = "fastest",
    rounds: int = 3,
) -> dict:
    """Measured inference time of both models beside their FLOP ratio.

    Each model runs through ``costs.measure_latency``: gradients off, ``warmup`` passes, a fixed
    number of ``threads``, the median of ``repeats`` passes over one batch of ``batch_size``
    images, on a steady heap, with CPU convolutions on ``conv_backend`` ("fastest": each model
    on the backend that is faster for it); the best of ``rounds``, the models taking turns. With
    ``images`` (e.g. the test set's size) the time for that many images is given too, as
    batches of ``batch_size``.
    """
    if images is not None and images < 1:
        raise CourseError(f"images must be >= 1; got {images}.")
    models = {"original": original, "pruned": pruned}
    timing = costs.best_latency(
        models, input_shape, rounds=rounds, batch_size=batch_size, repeats=repeats,
        warmup=warmup, threads=threads, conv_backend=conv_backend,
    )  # fmt: skip
    flops = {name: costs.count_flops(net, input_shape) for name, net in models.items()}
    measured = timing["original"]["median_s"] / timing["pruned"]["median_s"]
    flop_ratio = flops["original"] / flops["pruned"]
    result = {
        "batch_size": batch_size,
        "threads": timing["original"]["threads"],
        "repeats": repeats,
        "rounds": rounds,
        "steady_heap": timing["original"]["steady_heap"],
        "original_s": timing["original"]["median_s"],
        "pruned_s": timing["pruned"]["median_s"],
        "original_conv_backend": timing["original"]["conv_backend"],
        "pruned_conv_backend": timing["pruned"]["conv_backend"],
        "speedup": measured,
        "flops_original": flops["original"],
        "flops_pruned": flops["pruned"],
        "flop_ratio": flop_ratio,
        "speedup_over_flop_ratio": measured / flop_ratio,
    }
    if images is not None:
        result["images"] = images
        for name in models:
            result[f"{name}_images_s"] = timing[name]["per_image_s"] * images
    return result


def time_by_layer(
    original: nn.Module, pruned: nn.Module, input_shape, timing: dict
) -> pd.DataFrame:
    """Where the speed-up of ``timing`` (a ``speedup`` result) is won and lost: per layer, the
    FLOPs and milliseconds of both models at the same batch, threads and conv backends, the FLOP
    ratio, the measured speed-up and the GFLOP/s each reaches."""
    if [n for n, _ in original.named_children()] != [n for n, _ in pruned.named_children()]:
        raise CourseError("The two models must have the same layers, by name, in the same order.")
    tables = {}
    for name, net in {"original": original, "pruned": pruned}.items():
        backend = timing[f"{name}_conv_backend"]  # on a GPU, its device type
        tables[name] = costs.layer_times(
            net, input_shape, timing["batch_size"], timing["repeats"], threads=timing["threads"],
            conv_backend=backend if backend in costs.CONV_BACKENDS else None,
        )  # fmt: skip
    table = pd.DataFrame(index=tables["original"].index)
    for column in ("flops", "ms"):
        for name, layers in tables.items():
            table[f"{column}_{name}"] = layers[column]
    table.loc["total"] = table.sum()
    table["flop_ratio"] = table["flops_original"] / table["flops_pruned"]
    table["speedup"] = table["ms_original"] / table["ms_pruned"]
    for name in tables:
        table[f"gflop_per_s_{name}"] = table[f"flops_{name}"] / table[f"ms_{name}"] / 1e6
    return table
