"""The settings of an LC run: the μ schedule and the L step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from course_lib import checks
from course_lib.errors import CourseError


@dataclass
class LCConfig:
    """The μ schedule and the L step of an LC run."""

    mu0: float = 9e-5
    mu_growth: float = 1.1  # a in μ_s = μ0·a^s
    steps: int = 20
    # any increasing list of μ; replaces mu0, mu_growth and steps
    mu_schedule: Sequence[float] | None = None
    epochs: int = 3  # per L step
    first_epochs: int | None = None  # L step 0; None: twice ``epochs``
    lr: float = 0.1
    lr_decay: float = 0.98  # lr of L step s: lr·lr_decay^s
    momentum: float = 0.9
    batch_size: int = 256
    multipliers: bool = True  # False: the quadratic-penalty method (no Lagrange multipliers)
    # The compressed net's training-set error is measured after direct compression and the last
    # step; True: after every step too (as much work again as the test set, per step).
    train_error_every_step: bool = False
    seed: int = 0
    device: str | None = None  # None: cuda, then mps, then cpu

    def __post_init__(self):
        checks.number("LC config: mu0", self.mu0, 0, open_low=True)
        checks.number("LC config: mu_growth", self.mu_growth, 1)
        checks.integer("LC config: steps", self.steps, 0)
        checks.integer("LC config: epochs", self.epochs, 1)
        if self.first_epochs is not None:
            checks.integer("LC config: first_epochs", self.first_epochs, 1)
        checks.number("LC config: lr", self.lr, 0, open_low=True)
        checks.number("LC config: lr_decay", self.lr_decay, 0, 1, open_low=True)
        nesterov = "LC config: momentum (the L step uses Nesterov SGD)"
        checks.number(nesterov, self.momentum, 0, 1, open_low=True, open_high=True)
        checks.integer("LC config: batch_size", self.batch_size, 1)
        if self.mu_schedule is not None:
            mus = list(self.mu_schedule)
            if not mus or not all(checks.is_number(m) and m > 0 for m in mus):
                raise CourseError(
                    "LC config: mu_schedule must be a non-empty list of positive numbers, "
                    f"got {self.mu_schedule!r}."
                )

    def schedule(self) -> list[float]:
        """The μ of every LC step."""
        if self.mu_schedule is not None:
            return [float(m) for m in self.mu_schedule]
        return mu_schedule(self.mu0, self.mu_growth, self.steps)

    def lr_at(self, step: int) -> float:
        return self.lr * self.lr_decay**step

    def epochs_at(self, step: int) -> int:
        if step == 0:
            return self.first_epochs or 2 * self.epochs
        return self.epochs


def mu_schedule(mu0: float, growth: float, steps: int) -> list[float]:
    """μ_s = μ0·a^s for s = 0 … steps−1."""
    return [mu0 * growth**s for s in range(steps)]


def config_dict(config: LCConfig) -> dict:
    """The config as plain values (for metrics.json)."""
    values = asdict(config)
    values["mu_schedule"] = config.schedule()
    return values
