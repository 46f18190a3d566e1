"""θ in a neutral form: what a compression keeps of a group of weights (flattened and joined in
order), as the file writer takes it. The methods describe their θ with these; the artifacts never
import a method."""

from __future__ import annotations

from dataclasses import dataclass

import torch

STORED = ("all", "scale", "none")


@dataclass(frozen=True)
class Codebook:
    """Weight i is ``entries[indices[i]]``; indices take ⌈log2 size⌉ bits. ``stored`` says which
    floats the file keeps: "all" the entries, "scale" only a of {−a, +a} or {−a, 0, +a} (size 2
    or 3), "none" for {−1, +1}."""

    entries: torch.Tensor
    indices: torch.Tensor
    size: int
    stored: str = "all"


@dataclass(frozen=True)
class Sparse:
    """Kept weights: ``mask`` marks where they sit, ``values`` are theirs in flattened order."""

    mask: torch.Tensor
    values: torch.Tensor


@dataclass(frozen=True)
class Factors:
    """One layer's weight as the matrix ``u @ v`` (rows: the weight's first dimension)."""

    u: torch.Tensor
    v: torch.Tensor


@dataclass(frozen=True)
class Sum:
    """Weights as the sum of parts (an additive mix), added in this order."""

    parts: tuple


THETAS = (Codebook, Sparse, Factors, Sum)
