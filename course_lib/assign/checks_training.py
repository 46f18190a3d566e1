"""Part 1's exercises: the confusion matrix and one epoch of SGD with a StepLR schedule."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import train
from course_lib.assign.exercises import Case, Exercise, register

NOTEBOOK = "01_training"


def confusion_case(labels: list[int], predicted: list[int], classes: int) -> Case:
    labels_t, predicted_t = torch.tensor(labels), torch.tensor(predicted)

    def test(function):
        got = np.asarray(function(labels_t.clone(), predicted_t.clone(), classes))
        want = train.count_confusion(labels_t, predicted_t, classes)
        if got.shape != want.shape:
            return (
                f"shape {got.shape}, expected {want.shape}: the matrix is num_classes × "
                "num_classes, whichever classes occur"
            )
        if np.array_equal(got, want.T) and not np.array_equal(got, want):
            return "rows and columns swapped: entry [t, p] counts true class t predicted as p"
        wrong = np.argwhere(got != want)
        if len(wrong):
            t, p = wrong[0]
            return (
                f"{len(wrong)} counts differ, e.g. [{t}, {p}] is {got[t, p]}, expected {want[t, p]}"
            )
        return None

    return test


def random_labels(seed: int, n: int, classes: int) -> tuple[list[int], list[int]]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=generator)
    predicted = torch.where(
        torch.rand(n, generator=generator) < 0.6,
        labels,
        torch.randint(0, classes, (n,), generator=generator),
    )
    return labels.tolist(), predicted.tolist()


register(
    Exercise(
        "confusion",
        NOTEBOOK,
        train.count_confusion,
        helpers=(train.confusion_matrix,),
        visible=(
            Case("60 random images, 4 classes", confusion_case(*random_labels(0, 60, 4), 4)),
            Case("a class never predicted", confusion_case([0, 1, 2, 2], [0, 1, 1, 0], 3)),
        ),
    )
)


def _without_zero_grad(model, batches, optimizer, scheduler):
    """The mistake of forgetting optimizer.zero_grad(): gradients pile up step after step."""
    for x, y in batches:
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    scheduler.step()


def _setup(seed: int, batch_sizes, step_size: int, nesterov: bool):
    """A small MLP, its batches, SGD and a StepLR(step_size, gamma 0.5), all from ``seed``."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    batches = [(torch.randn(n, 5), torch.randint(0, 3, (n,))) for n in batch_sizes]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=nesterov)
    return model, batches, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size, 0.5)


def _run(function, seed, batch_sizes, step_size, nesterov, epochs):
    model, batches, optimizer, scheduler = _setup(seed, batch_sizes, step_size, nesterov)
    losses = [function(model, iter(batches), optimizer, scheduler) for _ in range(epochs)]
    return model, optimizer.param_groups[0]["lr"], losses


def _largest_difference(a: nn.Module, b: nn.Module) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max(float((p - q).detach().abs().max()) for p, q in pairs)


def epoch_case(seed: int, batch_sizes, step_size: int = 1, nesterov=False, epochs: int = 1):
    steps = len(batch_sizes)

    def test(function):
        run = (seed, batch_sizes, step_size, nesterov, epochs)
        model, lr, losses = _run(function, *run)
        want_model, want_lr, want_losses = _run(train.sgd_epoch, *run)
        if not np.isclose(lr, want_lr):
            if np.isclose(lr, 0.1 * 0.5 ** (steps * epochs // step_size)):
                return (
                    f"the learning rate is {lr:g} after {epochs} epoch(s), expected {want_lr:g}: "
                    "it fell at every step; call scheduler.step() once, after the loop"
                )
            return f"the learning rate is {lr:g} after {epochs} epoch(s), expected {want_lr:g}"
        difference = _largest_difference(model, want_model)
        if difference > 1e-5:
            piled_up, _, _ = _run(lambda *a: _without_zero_grad(*a) or [], *run)
            if _largest_difference(model, piled_up) < 1e-5:
                return (
                    "gradients pile up across steps: call optimizer.zero_grad() before each "
                    "backward pass"
                )
            return (
                f"the weights after the epoch differ from the library's by up to {difference:.3g}"
            )
        got = [list(map(float, epoch_losses)) for epoch_losses in losses]
        if [len(g) for g in got] != [steps] * epochs:
            return f"returned {[len(g) for g in got]} losses per epoch for {steps} batches"
        if not np.allclose(got, want_losses, rtol=1e-5, atol=1e-6):
            return "the returned losses are not each step's mean cross-entropy"
        return None

    return test


register(
    Exercise(
        "sgd_epoch",
        NOTEBOOK,
        train.sgd_epoch,
        visible=(
            Case("3 batches, momentum, StepLR(1, 0.5)", epoch_case(0, [4, 4, 4])),
            Case("2 epochs of StepLR(2, 0.5)", epoch_case(1, [6, 6], step_size=2, epochs=2)),
        ),
    )
)
