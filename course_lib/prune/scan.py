"""The sensitivity scan: accuracy vs prune rate, one curve per layer (and all layers together),
no retraining, cached on disk."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from course_lib.checkpoints import cache_dir
from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.paths import write_json
from course_lib.prune.magnitude import (
    check_layers,
    check_rate,
    check_scope,
    magnitude_mask,
    magnitude_masks,
    magnitude_prune,
    weight_layers,
)
from course_lib.surgery import device_of
from course_lib.train import evaluate

ALL_LAYERS = "all layers"
SCAN_FORMAT = 1


@dataclass
class SensitivityScan:
    """Accuracy of a model with one layer (or all, the "all layers" curve) magnitude-pruned at each
    rate, without retraining. ``weights`` holds the reference weights for the histograms, pruned
    by ``mask`` (see ``magnitude_masks``)."""

    rates: list[float]
    accuracy: dict[str, list[float]]
    baseline: float
    split: str
    scope: str
    key: str
    weights: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    mask: Callable = field(default=magnitude_mask, repr=False)

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
        masks = magnitude_masks(weights, rate, scope, self.mask)
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


def _source(function: Callable) -> str | None:
    """The source of a plug-in (what its cache key holds), None when Python cannot find it."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return None


def _check_rates(rates: Sequence[float]) -> list[float]:
    if isinstance(rates, str) or not isinstance(rates, Sequence) or not rates:
        raise CourseError(f"rates must be a non-empty list of fractions in [0, 1]; got {rates!r}.")
    return sorted({check_rate(r) for r in rates})


def _cached(path: Path, **fields) -> SensitivityScan | None:
    """The scan stored at ``path``, or None (a damaged or foreign file is removed)."""
    if not path.is_file():
        return None
    try:
        return SensitivityScan(**json.loads(path.read_text()), **fields)
    except (ValueError, TypeError):
        path.unlink()
        return None


def sensitivity_scan(
    model: nn.Module,
    data: DataBundle,
    rates: Sequence[float],
    *,
    layers: Sequence[str] | None = None,
    split: str = "val",
    scope: str = "layer",
    joint: bool = True,
    batch_size: int | None = None,
    cache: str | Path | None = None,
    progress: bool = False,
    mask: Callable | None = None,
) -> SensitivityScan:
    """Accuracy on ``split`` with each layer pruned alone at each rate (no retraining), and with
    all ``layers`` pruned together (``joint``; per-layer or global threshold by ``scope``).
    ``mask`` (w, rate) -> keep-mask replaces ``magnitude_mask`` (a student's own).

    Cached on disk under ``cache`` ($COURSE_CACHE by default) by a hash of the weights, the
    images and the settings (and the source of ``mask``; a ``mask`` whose source Python cannot
    find is not cached): a second call with the same inputs costs no evaluation.
    """
    rates, layers, scope = _check_rates(rates), check_layers(model, layers), check_scope(scope)
    if not len(data.split(split)):
        raise CourseError(f"The {split!r} split is empty: scan on another split.")
    modules = weight_layers(model)
    weights = {n: modules[n].weight.detach().cpu().clone() for n in layers}
    settings = {"rates": rates, "layers": layers, "scope": scope, "joint": joint, "v": SCAN_FORMAT}
    if mask is not None:
        settings["mask"] = _source(mask)
    key, mask = _digest(model, data, split, settings), mask or magnitude_mask
    path = cache_dir(cache) / "scans" / f"{key}.json"
    scan = _cached(path, key=key, weights=weights, mask=mask)
    if scan is not None:
        return scan
    loader = data.eval_loader(split, device_of(model), batch_size)
    choices = [(name, [name]) for name in layers] + ([(ALL_LAYERS, layers)] if joint else [])
    accuracy = {name: [] for name, _ in choices}
    work = [(curve, names, rate) for curve, names in choices for rate in rates]
    for curve, names, rate in tqdm(work, desc="sensitivity scan", disable=not progress):
        pruned = magnitude_prune(model, rate, layers=names, scope=scope, mask=mask)
        accuracy[curve].append(evaluate(pruned, loader)[1])
    baseline = evaluate(model, loader)[1]
    scan = SensitivityScan(rates, accuracy, baseline, split, scope, key, weights, mask)
    if settings.get("mask", "") is not None:
        write_json(path, scan.to_dict())
    return scan
