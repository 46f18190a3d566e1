"""Part 3's exercises: the magnitude mask at a prune rate, a unit's importance by its norm,
removing one unit (and the next layer's matching inputs), and seed 001's FLOP formula."""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from course_lib import costs, prune, surgery
from course_lib.assign.exercises import Case, Exercise, Test, register, seeded

NOTEBOOK = "03_pruning"


# -------------------------------------------------------------------------- magnitude mask


def mask_case(weights: torch.Tensor, rate: float) -> Test:
    def test(function):
        got = torch.as_tensor(function(weights.clone(), rate))
        if got.shape != weights.shape:
            return f"a mask of shape {tuple(got.shape)} for weights {tuple(weights.shape)}"
        if not torch.all((got == 0) | (got == 1)):
            return "the mask holds values other than 0 and 1 (1 = kept, 0 = removed)"
        removed, total = int((got == 0).sum()), weights.numel()
        expected = int((prune.magnitude_mask(weights, rate) == 0).sum())
        if removed != expected:
            magnitudes = weights.abs().reshape(-1).sort().values
            if 0 < expected < total and magnitudes[expected - 1] == magnitudes[expected]:
                return (
                    f"removed {removed} of {total} weights at rate {rate}, expected "
                    f"round(rate·n) = {expected}: weights tie at the threshold, remove exactly "
                    "round(rate·n) of them"
                )
            if removed == int(rate * total):
                return f"removed int(rate·n) = {removed} weights: round rate·n = {rate * total:g}"
            return f"removed {removed} of {total} weights at rate {rate}, expected {expected}"
        kept = got.bool()
        if 0 < removed < total and weights.abs()[~kept].max() > weights.abs()[kept].min():
            return (
                f"removed a weight of magnitude {float(weights.abs()[~kept].max()):.3g} but kept "
                f"one of {float(weights.abs()[kept].min()):.3g}: remove the smallest |w|"
            )
        return None

    return test


register(
    Exercise(
        "magnitude_mask",
        NOTEBOOK,
        prune.magnitude_mask,
        helpers=(
            prune.magnitude_masks,
            prune.magnitude_prune,
        ),
        visible=(
            Case("10 weights at rate 0.5", mask_case(seeded(0, 10), 0.5)),
            Case("a conv weight (4, 3, 3, 3) at rate 0.3", mask_case(seeded(1, 4, 3, 3, 3), 0.3)),
            Case("rate 0 keeps every weight", mask_case(seeded(2, 6), 0.0)),
        ),
    )
)


# ------------------------------------------------------------------------- unit importance


def importance_case(layer: nn.Module, norm: str) -> Test:
    def test(function):
        got = torch.as_tensor(function(layer, norm)).detach()
        want = prune.unit_importance(layer, norm)
        if got.shape != want.shape:
            columns = layer.weight.shape[1], layer.weight[0].numel()
            axis = ": the norm ran over the wrong axis" if got.numel() in columns else ""
            return f"{got.numel()} scores, expected one score per output unit ({len(want)}){axis}"
        if torch.allclose(got, want, rtol=1e-5, atol=1e-6):
            return None
        other = prune.unit_importance(layer, "l2" if norm == "l1" else "l1")
        if torch.allclose(got, other, rtol=1e-5, atol=1e-6):
            return f"these are the {'l2' if norm == 'l1' else 'l1'} norms; norm = {norm!r}"
        signed = layer.weight.detach().flatten(1).sum(dim=1)
        if norm == "l1" and torch.allclose(got, signed, rtol=1e-5):
            return "the l1 norm sums |w|, not w"
        return f"scores differ from the {norm} norms of the units' weights"

    return test


def seeded_conv(seed: int, *args, **kwargs) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(*args, **kwargs)


def seeded_linear(seed: int, *args) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(*args)


register(
    Exercise(
        "unit_importance",
        NOTEBOOK,
        prune.unit_importance,
        visible=(
            Case("a conv's channels, l2", importance_case(seeded_conv(0, 3, 5, 3), "l2")),
            Case("a linear layer's neurons, l1", importance_case(seeded_linear(1, 4, 7), "l1")),
        ),
    )
)


# ------------------------------------------------------------------------- removing a unit


def small_cnn(seed: int, padding: int = 0, norm: bool = False) -> nn.Sequential:
    """conv1 (1→4) [batch norm] relu conv2 (4→5) relu flatten fc1 (→6) relu fc2 (→3), 8×8 images."""
    torch.manual_seed(seed)
    layers = [("conv1", nn.Conv2d(1, 4, 3))]
    if norm:
        bn = nn.BatchNorm2d(4)
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
        layers.append(("bn1", bn))
    side = 8 - 2 - 2 + 2 * padding
    layers += [
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 5, 3, padding=padding)),
        ("relu2", nn.ReLU()),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(5 * side * side, 6)),
        ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(6, 3)),
    ]
    return nn.Sequential(OrderedDict(layers)).eval()


def _shape_problem(model: nn.Module, want: nn.Module, original: nn.Module, layer: str):
    """What differs between the layers of ``model`` and ``want``, named as the mistake."""
    for name, expected_layer in want.named_children():
        if not hasattr(expected_layer, "weight"):
            continue
        got_layer = getattr(model, name, None)
        if got_layer is None or not hasattr(got_layer, "weight"):
            return f"the new model has no layer {name}"
        got, expected = tuple(got_layer.weight.shape), tuple(expected_layer.weight.shape)
        before = tuple(getattr(original, name).weight.shape)
        if got == expected:
            continue
        if isinstance(expected_layer, nn.BatchNorm2d):
            return f"{name} keeps {got[0]} features: the batch norm loses the unit's feature too"
        if name != layer and got[1] == before[1] and got[0] < expected[0]:
            return f"{name} lost outputs: remove its input ({layer} no longer makes the unit)"
        block = before[1] - expected[1]
        if name != layer and block > 1 and got[1] == before[1] - 1:
            return (
                f"{name}: across the flatten a channel feeds {block} features; remove all {block}"
            )
        return f"{name} has weight {got}, expected {expected}"
    return None


def remove_case(layer: str, unit: int, padding: int = 0, norm: bool = False, seed: int = 0):
    def test(function):
        model = small_cnn(seed, padding, norm)
        before = copy.deepcopy(model.state_dict())
        got = function(model, layer, unit)
        if any(not torch.equal(before[k], v) for k, v in model.state_dict().items()):
            return "the original model was changed: build the new model from a copy"
        want = prune.remove_unit(model, layer, unit)
        problem = _shape_problem(got, want, model, layer)
        if problem:
            return problem
        x = seeded(seed, 2, 1, 8, 8)
        with torch.no_grad():
            difference = float((got.eval()(x) - want(x)).abs().max())
        if difference > 1e-5:
            return (
                f"outputs differ from the library's by {difference:.3g}: removed the wrong slice?"
            )
        return None

    return test


register(
    Exercise(
        "remove_unit",
        NOTEBOOK,
        prune.remove_unit,
        helpers=(
            prune.slim,
            surgery.keep_outputs,
            surgery.keep_inputs,
        ),
        visible=(
            Case("a channel of conv1 (conv2 loses an input)", remove_case("conv1", 2)),
            Case("a channel of conv2, across the flatten into fc1", remove_case("conv2", 1)),
            Case("a neuron of fc1 (fc2 loses an input)", remove_case("fc1", 4)),
        ),
    )
)


# ------------------------------------------------------------------------- seed 001's FLOPs


def flops_case(c1: int, c2: int, f1: int) -> Test:
    def test(function):
        got = function(c1, c2, f1)
        want = costs.fashion_cnn_flops(c1, c2, f1, convention="seed001")
        if got == want:
            return None
        if got == costs.fashion_cnn_flops(c1, c2, f1, convention="torch"):
            return "counted 2 per multiply-add (torch's convention): seed 001 counts 1 per MAC"
        macs = costs.fashion_cnn_flops(c1, c2, f1, convention="torch") // 2
        if got == macs:
            return "the 2 FLOPs per output of conv1, conv2 and fc1 (bias and ReLU) are missing"
        return f"{got} FLOPs for (c1, c2, f1) = ({c1}, {c2}, {f1}), expected {want}"

    return test


register(
    Exercise(
        "seed001_flops",
        NOTEBOOK,
        lambda c1, c2, f1: costs.fashion_cnn_flops(c1, c2, f1, convention="seed001"),
        helpers=(costs.fashion_cnn_flops,),
        visible=(
            Case("seed 001's net (12, 16, 100)", flops_case(12, 16, 100)),
            Case("seed 001's pruned net (1, 7, 72)", flops_case(1, 7, 72)),
        ),
    )
)
