"""The task map: which layers of a model get which compression, in the words of an assignment::

task_map(model, {"conv1": Prune(kappa=104), "conv2": Prune(kappa=2505), "linear": Quantize(2)})
task_map(model, {joint("all"): Prune(keep_fraction=0.05)})
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import nn

from course_lib.errors import CourseError
from course_lib.lc.compressions import Compression, Solvers

LAYER_KINDS: dict[str, tuple[type[nn.Module], ...]] = {
    "conv": (nn.Conv1d, nn.Conv2d, nn.Conv3d),
    "linear": (nn.Linear,),
}


@dataclass(frozen=True)
class Joint:
    """A selector whose layers are compressed together as one vector (one κ, one codebook)."""

    selector: str | tuple[str, ...]


def joint(selector: str | Sequence[str]) -> Joint:
    """Compress the selected layers jointly: ``{joint("all"): Prune(keep_fraction=0.05)}``."""
    return Joint(selector if isinstance(selector, str) else tuple(selector))


@dataclass
class Task:
    """One compression over one or more layers (their weights, not their biases)."""

    layers: tuple[str, ...]
    compression: Compression

    def describe(self) -> str:
        where = ", ".join(self.layers) + (" (jointly)" if len(self.layers) > 1 else "")
        return f"{where}: {self.compression.describe()}"


def compressible_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The model's conv and linear layers by qualified name, in order."""
    kinds = tuple(t for types in LAYER_KINDS.values() for t in types)
    return {name: m for name, m in model.named_modules() if isinstance(m, kinds)}


def _resolve(selector: str | tuple[str, ...], layers: dict[str, nn.Module], claimed: set[str]):
    if isinstance(selector, tuple):
        return [name for part in selector for name in _resolve(part, layers, claimed)]
    if selector == "all":
        return list(layers)
    if selector == "rest":
        return [name for name in layers if name not in claimed]
    if selector in LAYER_KINDS:
        return [name for name, m in layers.items() if isinstance(m, LAYER_KINDS[selector])]
    if selector in layers:
        return [selector]
    raise CourseError(
        f"No layer {selector!r} to compress. Name a layer ({', '.join(layers)}), a kind "
        f"({', '.join(LAYER_KINDS)}), 'all', 'rest', or a tuple of these."
    )


def task_map(
    model: nn.Module,
    spec: Mapping[str | tuple | Joint, Compression],
    solvers: Solvers | None = None,
) -> list[Task]:
    """Compression tasks from ``{selector: compression}``.

    A selector is a layer name ("fc1"), a kind ("conv", "linear"), "all", "rest" (layers no other
    entry names), or a tuple of these; each selected layer gets its own copy of the compression.
    Wrap a selector in ``joint(...)`` to compress its layers together as one task. ``solvers``
    (``lc.Solvers``) replaces the core of the C steps with a student's functions.
    """
    layers = compressible_layers(model)
    if not spec:
        raise CourseError("The task map is empty: map at least one layer to a compression.")
    ordered = sorted(spec.items(), key=lambda item: _is_rest(item[0]))
    claimed: set[str] = set()
    tasks = []
    for selector, compression in ordered:
        if not isinstance(compression, Compression):
            raise CourseError(f"{selector!r} maps to {compression!r}, which is not a compression.")
        is_joint = isinstance(selector, Joint)
        names = _resolve(selector.selector if is_joint else selector, layers, claimed)
        if not names:
            raise CourseError(f"Selector {selector!r} names no layer of this model.")
        twice = claimed.intersection(names)
        if twice:
            raise CourseError(f"Layers {sorted(twice)} are named by two entries of the task map.")
        claimed.update(names)
        groups = [tuple(names)] if is_joint else [(name,) for name in names]
        for group in groups:
            task = Task(group, copy.deepcopy(compression))
            task.compression.prepare([layers[name].weight.shape for name in group])
            if solvers is not None:
                task.compression.use_solvers(solvers)
            tasks.append(task)
    return tasks


def _is_rest(selector) -> bool:
    return (selector.selector if isinstance(selector, Joint) else selector) == "rest"


def describe_tasks(tasks: Sequence[Task]) -> str:
    """The task map in words, one line per task."""
    return "\n".join(task.describe() for task in tasks)
