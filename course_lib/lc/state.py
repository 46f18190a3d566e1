"""What the LC algorithm keeps per task between its steps: the weights w, the multipliers λ and
the compressed weights Δ(θ)."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from course_lib.errors import CourseError
from course_lib.lc.low_rank import as_matrix
from course_lib.lc.tasks import Task


class TaskState:
    """One task's weights w, multipliers λ and current Δ(θ), in the task's view."""

    def __init__(self, task: Task, model: nn.Module):
        self.task = task
        self.names = [f"{layer}.weight" for layer in task.layers]
        self.params = [model.get_submodule(layer).weight for layer in task.layers]
        self.multipliers = [torch.zeros_like(p) for p in self.params]
        self.delta = [p.detach().clone() for p in self.params]
        self.target = self.delta

    def _view(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        if self.task.compression.needs_matrix:
            return as_matrix(tensors[0])
        return torch.cat([t.reshape(-1) for t in tensors])

    def _unview(self, x: torch.Tensor) -> list[torch.Tensor]:
        sizes = [p.numel() for p in self.params]
        return [
            part.reshape(p.shape)
            for part, p in zip(x.reshape(-1).split(sizes), self.params, strict=True)
        ]

    @torch.no_grad()
    def c_step(self, mu: float, mu_for_cost: float) -> None:
        """θ = Π(w − λ/μ); compressions that trade a cost against μ get ``mu_for_cost``."""
        offset = [
            p.detach() - (lam / mu if mu > 0 else 0)
            for p, lam in zip(self.params, self.multipliers, strict=True)
        ]
        compression = self.task.compression
        delta = compression.project(self._view(offset), mu_for_cost if compression.uses_mu else mu)
        if not torch.isfinite(delta).all():
            raise CourseError(f"The C step of {self.task.describe()} produced non-finite weights.")
        self.delta = self._unview(delta)

    @torch.no_grad()
    def update_multipliers(self, mu: float) -> None:
        for lam, p, d in zip(self.multipliers, self.params, self.delta, strict=True):
            lam.sub_(mu * (p.detach() - d))

    def set_target(self, mu: float) -> None:
        self.target = [d + lam / mu for d, lam in zip(self.delta, self.multipliers, strict=True)]

    @torch.no_grad()
    def add_penalty_gradient(self, mu: float) -> None:
        """Add μ(w − Δ(θ) − λ/μ), the gradient of the penalty μ/2‖w − Δ(θ) − λ/μ‖², to each
        weight's gradient: in closed form, without building the penalty in autograd."""
        for p, t in zip(self.params, self.target, strict=True):
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.add_(p, alpha=mu).sub_(t, alpha=mu)

    @torch.no_grad()
    def distance(self) -> float:
        """‖w − Δ(θ)‖²: how far the L-step weights are from being compressed."""
        return float(
            sum(((p - d) ** 2).sum() for p, d in zip(self.params, self.delta, strict=True))
        )

    def storage_bits(self) -> int:
        return self.task.compression.storage_bits()


@contextmanager
def compressed_weights(states: list[TaskState]):
    """Inside the block the model's weights are Δ(θ): the weights' storage is swapped for Δ(θ)'s
    and back, nothing is copied."""
    saved = [[p.data for p in s.params] for s in states]
    for s in states:
        for p, d in zip(s.params, s.delta, strict=True):
            p.data = d
    try:
        yield
    finally:
        for s, weights in zip(states, saved, strict=True):
            for p, w in zip(s.params, weights, strict=True):
                p.data = w
