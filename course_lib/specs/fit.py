"""Whether values fit the chosen model, checked on the untrained model: built in milliseconds,
before any data is loaded or any reference trained. Each catalogue of layer names here matches
what the method that uses it accepts (tests/specs keeps them in step)."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterable

from torch import nn

from course_lib.data import DATASETS
from course_lib.errors import CourseError
from course_lib.models import CHAINS, MODELS, build_model
from course_lib.specs.rules import shown
from course_lib.surgery import WEIGHT_LAYERS, width

MAX_SIZE = 1024  # channels, kernel or units a model option may ask for


def skeleton(model: str, dataset: str, **options) -> nn.Module:
    """The untrained ``model`` for images of ``dataset``."""
    return build_model(model, DATASETS[dataset].input_shape, **options)


def model_options(model: str) -> list[str]:
    """The options a model's builder takes (c1, k1, … of the Fashion CNN)."""
    names = inspect.signature(MODELS[model]).parameters
    return [name for name in names if name not in ("input_shape", "num_classes")]


def check_option(name: str, model: str, dataset: str, option: str, value) -> None:
    """``value`` of the model option ``option`` (``name`` in a refusal) builds ``model`` for
    ``dataset``'s images, with no size over MAX_SIZE (which would only exhaust the memory)."""
    check_options(name, model, dataset, {option: value}, held=value)


def check_options(name: str, model: str, dataset: str, options: dict, held=None) -> None:
    """``options`` together build ``model`` for ``dataset``'s images (one build), with no size
    over MAX_SIZE; a refusal says ``name`` holds ``held`` (default: ``options``)."""
    for value in options.values():
        sizes = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, int) and not isinstance(v, bool) and v > MAX_SIZE for v in sizes):
            raise CourseError(
                f"{name} holds {shown(value)}, a size over {MAX_SIZE}: give smaller ones."
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about zero-sized layers, then fails
            skeleton(model, dataset, **options)
    except Exception as err:  # torch refuses bad sizes with several types
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        held = shown(options if held is None else held)
        raise CourseError(
            f"{name} holds {held}, which does not build {model} ({reason}): give sizes that fit "
            f"{dataset}'s images."
        ) from None


def convolutions(model: nn.Module) -> list[str]:
    """Ungrouped 2-D convolutions (Tucker-2)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1]


def spatial_convolutions(model: nn.Module) -> list[str]:
    """Convolutions with a kernel larger than 1×1, but the first (Tucker-2's default layers)."""
    found = [n for n in convolutions(model) if max(model.get_submodule(n).kernel_size) > 1]
    return found[1:]


def prunable_layers(model: nn.Module) -> list[str]:
    """Conv and linear children of a flat network but the output layer (structured pruning)."""
    if not isinstance(model, nn.Sequential):
        return []
    return [name for name, m in model.named_children() if isinstance(m, WEIGHT_LAYERS)][:-1]


def _chains(model: nn.Module) -> Iterable[list[str]]:
    """The runs of modules a model calls in order: its Sequentials and its CHAINS blocks."""
    for path, module in model.named_modules():
        prefix = f"{path}." if path else ""
        if isinstance(module, nn.Sequential):
            yield [prefix + name for name, _ in module.named_children()]
        elif type(module) in CHAINS:
            yield [prefix + name for name in CHAINS[type(module)]]


def pair_heads(model: nn.Module) -> list[str]:
    """The first layers of the layer pairs a branch bridges: a conv or linear layer followed, in
    its chain, by another (the α-branch pairs)."""
    heads = []
    for chain in _chains(model):
        weights = [p for p in chain if isinstance(model.get_submodule(p), WEIGHT_LAYERS)]
        heads += weights[:-1]
    return heads


def check_names(name: str, given, available: list[str], what: str, model: str) -> None:
    """Each of ``given`` (a name or a list of names) is one of ``available``."""
    for value in [given] if isinstance(given, str) else given:
        if value not in available:
            choose = f"choose from {', '.join(available)}" if available else "it has none"
            raise CourseError(f"{name} holds {shown(value)}, not {what} of {model}: {choose}.")


def check_widths(widths: dict, heads: list[str], net: nn.Module, model: str) -> None:
    """``widths`` names exactly the branched pairs ``heads``, each width at most the layer's."""
    if set(widths) != set(heads):
        raise CourseError(
            f"widths must name exactly the branched pairs {heads} of {model} (the layers "
            f"parameter picks them), got {sorted(widths)}."
        )
    for head, r in widths.items():
        units = width(net.get_submodule(head))
        if r > units:
            raise CourseError(
                f"widths[{head!r}] must be at most {head}'s {units} units of {model}, got {r}."
            )
