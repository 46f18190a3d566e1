"""What a model costs by counting: parameters, and FLOPs by torch's counter or by a named
closed-form convention (seed 001's formula of the Fashion CNN)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import contextmanager

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib import models
from course_lib.errors import CourseError
from course_lib.surgery import device_of


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextmanager
def eval_batch(model: nn.Module, input_shape, batch_size: int, make=torch.zeros):
    """A batch made by ``make`` on the model's device, the model in eval mode inside the block."""
    was_training = model.training
    model.eval()
    try:
        yield make(batch_size, *input_shape, device=device_of(model))
    finally:
        model.train(was_training)


@torch.no_grad()
def count_flops(model: nn.Module, input_shape, batch_size: int = 1) -> int:
    """FLOPs of one forward pass of ``batch_size`` images of ``input_shape`` (C, H, W), as
    ``torch.utils.flop_counter`` counts them: a multiply-add is 2 FLOPs in convolutions and
    matrix products; bias, activations and pooling are not counted."""
    counter = FlopCounterMode(display=False)
    with eval_batch(model, input_shape, batch_size) as x, counter:
        model(x)
    return int(counter.get_total_flops())


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
    conv1 o1²·k1²·C·c1, conv2 o2²·k2²·c1·c2, fc1 o2²·c2·f1, fc2 f1·classes. "torch" counts a
    multiply-add as 2 FLOPs, as torch's counter does; "seed001" counts it as 1 and adds 2 per
    output of conv1, conv2 and fc1 for the bias and the ReLU, as seed 001 did.
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


SEED001_NET = (3, 5, (1, 28, 28))  # k1, k2 and the images of the net seed 001 pruned


def flop_table(
    nets: Mapping[str, nn.Module], input_shape, seed001: Callable | None = None
) -> pd.DataFrame:
    """Parameters and FLOPs per image of each model: counted on the model (torch's counter) and,
    for Fashion CNNs, by seed 001's formula in both conventions. ``seed001`` (c1, c2, f1) ->
    FLOPs (a student's own formula) gives the seed's count of seed 001's net (3×3 and 5×5
    convs on 28×28 images)."""
    rows = {}
    for name, model in nets.items():
        row = {"params": count_params(model), "flops": count_flops(model, input_shape)}
        if models.is_fashion_cnn(model):
            shape = models.fashion_cnn_shape(model)
            row.update({k: shape[k] for k in ("c1", "c2", "f1")})
            for convention in FLOP_CONVENTIONS:
                row[f"formula_{convention}"] = fashion_cnn_flops(
                    **shape, input_shape=input_shape, convention=convention
                )
            if (
                seed001 is not None
                and (shape["k1"], shape["k2"], tuple(input_shape)) == SEED001_NET
            ):
                row["formula_seed001"] = int(seed001(shape["c1"], shape["c2"], shape["f1"]))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
