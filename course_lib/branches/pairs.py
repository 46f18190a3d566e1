"""Layer pairs a branch can bridge: L1 → [batch norm] → channel-wise modules → L2."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torch import nn

from course_lib.errors import CourseError
from course_lib.models import CHAINS
from course_lib.surgery import BATCH_NORMS, WEIGHT_LAYERS, width

# Modules that act on every channel alike, so the branch can run them on its r channels.
CHANNELWISE = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Dropout,
    nn.Identity,
)
# Modules allowed after a flatten (B must act before the flatten, on channels).
AFTER_FLATTEN = (nn.Dropout, nn.Identity)


@dataclass(frozen=True)
class LayerPair:
    """L1 → [norm] → between → L2, by module paths; ``channels`` flow from L1 to L2."""

    first: str
    norm: str | None
    between: tuple[str, ...]
    second: str
    channels: int
    positions: int  # L2 input columns per channel: 1, or the spatial positions across a flatten

    @property
    def name(self) -> str:
        """The pair is named by its first layer."""
        return self.first

    @property
    def tap(self) -> str:
        """The module whose output the branch starts from."""
        return self.norm or self.first


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _chains(model: nn.Module):
    """Every run of children the model calls in order, as lists of (path, module)."""
    for path, module in model.named_modules():
        if isinstance(module, nn.Sequential):
            yield [(_join(path, n), m) for n, m in module.named_children()]
        elif type(module) in CHAINS:
            yield [(_join(path, n), getattr(module, n)) for n in CHAINS[type(module)]]


def _pair_from(chain, start: int) -> LayerPair | None:
    """The pair whose L1 is chain[start], or None when what follows cannot be branched."""
    first_path, first = chain[start]
    channels = width(first)
    norm, between, flattened = None, [], False
    for index in range(start + 1, len(chain)):
        path, module = chain[index]
        if isinstance(module, BATCH_NORMS) and index == start + 1 and norm is None:
            norm = path
        elif isinstance(module, nn.Flatten) and isinstance(first, nn.Conv2d) and not flattened:
            flattened = True
            between.append(path)
        elif isinstance(module, AFTER_FLATTEN if flattened else CHANNELWISE):
            between.append(path)
        elif isinstance(module, WEIGHT_LAYERS):
            return _check_second(
                first_path, first, norm, between, path, module, channels, flattened
            )
        else:
            return None
    return None


def _check_second(first_path, first, norm, between, path, second, channels, flattened):
    """The pair, when L2 takes L1's channels (across a flatten: channels x positions columns)."""
    conv_first = isinstance(first, nn.Conv2d)
    if isinstance(second, nn.Conv2d):
        if not conv_first or flattened or second.in_channels != channels or second.groups != 1:
            return None
        positions = 1
    else:
        if conv_first != flattened or second.in_features % channels:
            return None
        if not flattened and second.in_features != channels:
            return None
        positions = second.in_features // channels
    return LayerPair(first_path, norm, tuple(between), path, channels, positions)


def _is_grouped(layer: nn.Module) -> bool:
    return isinstance(layer, nn.Conv2d) and layer.groups != 1


def find_pairs(model: nn.Module) -> list[LayerPair]:
    """Every layer pair of ``model`` that can carry a branch, in the order the model runs them.

    A pair is a conv or linear L1, an optional batch norm right after it, then only channel-wise
    modules (activations, pooling, dropout; a flatten from a conv to a linear), then a conv or
    linear L2. Residual blocks contribute conv1 → bn1 → relu → conv2, inside the skip.
    """
    pairs = []
    for chain in _chains(model):
        for start, (_, module) in enumerate(chain):
            if isinstance(module, WEIGHT_LAYERS) and not _is_grouped(module):
                pair = _pair_from(chain, start)
                if pair is not None:
                    pairs.append(pair)
    return pairs


def select_pairs(model: nn.Module, layers: str | Iterable[str] = "all") -> list[LayerPair]:
    """The pairs named by their first layer (``"all"``: every pair of :func:`find_pairs`)."""
    pairs = find_pairs(model)
    if not pairs:
        raise CourseError(
            f"{type(model).__name__} has no layer pair L1 -> (norm, activation, pooling) -> L2 "
            "that a branch can bridge."
        )
    if isinstance(layers, str) and layers == "all":
        return pairs
    if isinstance(layers, str):
        layers = [layers]
    by_name = {pair.name: pair for pair in pairs}
    layers = list(layers)
    unknown = [name for name in layers if name not in by_name]
    if unknown or not layers:
        raise CourseError(
            f"Layers {unknown or layers} do not start a branchable pair: choose among "
            f"{', '.join(by_name)} (or 'all')."
        )
    return [by_name[name] for name in by_name if name in layers]
