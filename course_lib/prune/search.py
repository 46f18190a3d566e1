"""The search order of structured pruning as strategy objects: which open layers propose a step,
how far a layer's step goes, what a step saves and which proposal is taken. ``ORDERS`` names
them; ``make_order`` turns a name into one (the only place the name is read)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from course_lib import checks, costs
from course_lib.errors import CourseError


@dataclass
class Proposal:
    """One step a layer proposes: the units it removes, the model without them, that model's
    accuracy on the pruning split and the cost (FLOPs, or milliseconds) it saves."""

    layer: str
    units: list[int]
    model: nn.Module
    accuracy: float
    saved: float


def next_multiple(width: int, step: int) -> int:
    """The largest multiple of ``step`` below ``width`` (0 when there is none)."""
    return (width - 1) // step * step


def check_table(latency) -> costs.LatencyTable | None:
    """``latency`` when it is a ``costs.LatencyTable`` or None."""
    if latency is not None and not isinstance(latency, costs.LatencyTable):
        raise CourseError(
            f"latency must be a costs.LatencyTable (or None); got {type(latency).__name__}."
        )
    return latency


class Order:
    """How structured pruning searches. By default a step lowers the FLOPs and takes a layer down
    to the next multiple of its step; of the proposals tried, the one that costs the least
    accuracy per unit of cost saved is taken (on a tie, the one that saves more)."""

    name: ClassVar[str] = ""
    measure: ClassVar[str] = "flops"  # the trajectory's column of the cost a step lowers
    table: costs.LatencyTable | None = None  # the layer times it steps by, if any
    latency_step: float | None = None  # the share of the original's time a step saves, if any

    @classmethod
    def from_keywords(cls, latency: costs.LatencyTable | None, latency_step: float) -> Order:
        """The order as ``structured_prune``'s keywords describe it."""
        return cls()

    def spent(self, model: nn.Module, input_shape) -> float:
        """The cost of ``model`` that a step lowers."""
        return costs.count_flops(model, input_shape)

    def next_width(
        self, width: int, step: int, cost_at: Callable[[int], float], spent: float, original: float
    ) -> int:
        """A layer's width after its next step, 0 when it has none. ``cost_at(w)`` is the cost of
        the current model with the layer at width w; ``spent`` the current model's cost,
        ``original`` the original model's."""
        return next_multiple(width, step)

    def tried(self, layers: list[str]) -> list[str]:
        """The open layers that propose a step."""
        return layers

    def choose(self, proposals: Iterable[Proposal], accuracy: float) -> Proposal:
        """The proposal taken, the current model having ``accuracy``."""

        def price(p: Proposal) -> tuple[float, float]:
            return max(accuracy - p.accuracy, 0.0) / max(p.saved, 1e-9), -p.saved

        return min(proposals, key=price)


class Sequential(Order):
    """Seed 001's order: the layers one after the other, each until it closes."""

    name = "sequential"

    def tried(self, layers: list[str]) -> list[str]:
        return layers[:1]

    def choose(self, proposals: Iterable[Proposal], accuracy: float) -> Proposal:
        return next(iter(proposals))


class Cheapest(Order):
    """Every open layer proposes its next step; the one that costs the least accuracy per FLOP
    saved is taken, so the FLOP budget goes where the network can spare it."""

    name = "cheapest"


@dataclass
class Latency(Order):
    """NetAdapt's order (Yang et al., 2018): every open layer proposes to remove its weakest
    units, as few as make the model's time (estimated by ``table``, a default one if None) fall
    by ``latency_step`` of the original's; the proposal that costs the least accuracy per
    millisecond saved is taken, and a layer that cannot save that much closes."""

    name: ClassVar[str] = "latency"
    measure: ClassVar[str] = "latency_ms"
    table: costs.LatencyTable | None = None
    latency_step: float = 0.03

    def __post_init__(self):
        self.table = check_table(self.table) or costs.LatencyTable()
        checks.number("latency_step", self.latency_step, 0, 1, open_low=True, open_high=True)

    @classmethod
    def from_keywords(cls, latency: costs.LatencyTable | None, latency_step: float) -> Latency:
        return cls(latency, latency_step)

    def spent(self, model: nn.Module, input_shape) -> float:
        return self.table.model_ms(model, input_shape)

    def next_width(
        self, width: int, step: int, cost_at: Callable[[int], float], spent: float, original: float
    ) -> int:
        goal = spent - self.latency_step * original
        widths = range(next_multiple(width, step), 0, -step)
        if not widths or cost_at(widths[-1]) > goal:
            return 0  # not even the narrowest width saves enough
        return next(w for w in widths if cost_at(w) <= goal)


ORDERS: dict[str, type[Order]] = {
    "sequential": Sequential,
    "cheapest": Cheapest,
    "latency": Latency,
}


def make_order(
    order: str | Order, latency: costs.LatencyTable | None = None, latency_step: float = 0.03
) -> Order:
    """``order`` as a strategy: an ``Order`` as it is, or a name of ``ORDERS`` ("latency" steps
    by ``latency_step`` of the time the table ``latency`` estimates)."""
    if isinstance(order, Order):
        return order
    return ORDERS[checks.choice("order", order, ORDERS)].from_keywords(latency, latency_step)
