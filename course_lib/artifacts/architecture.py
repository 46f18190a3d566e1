"""A model's architecture as plain JSON data, and the model rebuilt from it without pickle.

A module is described by its type and constructor arguments (a layer) or by its children in
order (``nn.Sequential`` and the containers of ``models`` whose forward only calls them). Only the
types named here can be described or rebuilt; the rebuilt model lives on the meta device (nothing
allocated) until the loader gives it its tensors."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from course_lib import models
from course_lib.artifacts.format import Damaged, need
from course_lib.errors import CourseError

# layer type -> its constructor arguments, read off a module by the same names ("bias": has one)
LAYERS: dict[type, tuple[str, ...]] = {
    nn.Linear: ("in_features", "out_features", "bias"),
    nn.Conv2d: ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                "groups", "bias", "padding_mode"),
    nn.BatchNorm1d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.BatchNorm2d: ("num_features", "eps", "momentum", "affine", "track_running_stats"),
    nn.ReLU: ("inplace",),
    nn.Tanh: (),
    nn.Identity: (),
    nn.Flatten: ("start_dim", "end_dim"),
    nn.MaxPool2d: ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    nn.AdaptiveAvgPool2d: ("output_size",),
}  # fmt: skip
# containers of models.py whose forward only calls their children (by name)
CONTAINERS: dict[str, type] = {"BasicBlock": models.BasicBlock, "ResNetSmall": models.ResNetSmall}
LAYER_NAMES = {cls.__name__: cls for cls in LAYERS}


def _plain(value):
    """A constructor argument as JSON (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def describe(module: nn.Module) -> dict:
    """``module`` as {"type", "args"} (a layer) or {"type", "children", "none"} (a container)."""
    kind = type(module)
    if kind in LAYERS:
        args = {
            name: module.bias is not None if name == "bias" else _plain(getattr(module, name))
            for name in LAYERS[kind]
        }
        return {"type": kind.__name__, "args": args}
    if isinstance(module, nn.Sequential) and kind.forward is nn.Sequential.forward:
        name = "Sequential"
    elif CONTAINERS.get(kind.__name__) is kind:
        name = kind.__name__
    else:
        raise CourseError(
            f"Cannot save a {kind.__name__}: a model file holds {', '.join(LAYER_NAMES)}, "
            f"nn.Sequential and {', '.join(CONTAINERS)} (fold α-branches before saving)."
        )
    children = [[child, describe(sub)] for child, sub in module.named_children()]
    nones = [key for key, value in vars(module).items() if value is None and key[0] != "_"]
    nones += [key for key, value in module._modules.items() if value is None]
    return {"type": name, "children": children, "none": nones}


def build(node, path: str = "model") -> nn.Module:
    """The module ``node`` describes, on the meta device; Damaged when the description is not
    one ``describe`` could have written."""
    need(isinstance(node, dict) and isinstance(node.get("type"), str), f"{path} is not a module")
    kind = node["type"]
    if kind in LAYER_NAMES:
        return _layer(LAYER_NAMES[kind], node.get("args"), path)
    need(kind == "Sequential" or kind in CONTAINERS, f"{path} has an unknown type {kind!r}")
    children, nones = node.get("children"), node.get("none", [])
    need(isinstance(children, list) and isinstance(nones, list), f"{path} lists no children")
    built = OrderedDict()
    for item in children:
        need(isinstance(item, list) and len(item) == 2 and isinstance(item[0], str), f"{path}?")
        need(_name_ok(item[0]), f"{path} has a child named {item[0]!r}")
        built[item[0]] = build(item[1], f"{path}.{item[0]}")
    if kind == "Sequential":
        return nn.Sequential(built)
    container = CONTAINERS[kind].__new__(CONTAINERS[kind])
    nn.Module.__init__(container)
    for name, child in built.items():
        setattr(container, name, child)
    for name in nones:
        need(_name_ok(name) and name not in built, f"{path} names {name!r}")
        setattr(container, name, None)
    return container


def _name_ok(name) -> bool:
    """A child's name: an identifier or a number, not private, not an attribute of nn.Module."""
    plain = isinstance(name, str) and (name.isidentifier() or name.isdigit())
    return plain and name[0] != "_" and name != "training" and not hasattr(nn.Module, name)


def _layer(cls: type, args, path: str) -> nn.Module:
    names = LAYERS[cls]
    need(isinstance(args, dict) and set(args) == set(names), f"{path}: arguments of {cls.__name__}")
    for name, value in args.items():
        plain = value if isinstance(value, list) else [value]
        ok = all(v is None or isinstance(v, bool | int | float | str) for v in plain)
        need(ok and len(plain) <= 3, f"{path}: argument {name} is {value!r}")
    args = {name: tuple(v) if isinstance(v, list) else v for name, v in args.items()}
    try:
        with torch.device("meta"):
            return cls(**args)
    except (TypeError, ValueError, RuntimeError, KeyError) as err:
        raise Damaged(f"{path}: {cls.__name__}{args} cannot be built ({err})") from None
