"""Storage: the bits of a (compressed) model, the basis of every compression ratio.

Dense weights and all biases are float32; a compressed layer costs what its θ needs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from course_lib.errors import CourseError

FLOAT_BITS = 32
MAX_INDEX_BITS = 16


def dense_bits(num_values: int) -> int:
    """Bits of ``num_values`` float32 numbers."""
    return FLOAT_BITS * int(num_values)


def codebook_bits(num_weights: int, codebook_size: int, stored_entries: int | None = None) -> int:
    """Bits of weights drawn from a codebook of k values: ⌈log2 k⌉ bits per weight plus the
    stored entries in float32 (all k by default; 1 for a scaled {−a, a}, 0 for a fixed {−1, 1})."""
    stored = codebook_size if stored_entries is None else stored_entries
    return math.ceil(math.log2(codebook_size)) * int(num_weights) + FLOAT_BITS * stored


def low_rank_bits(rows: int, cols: int, rank: int) -> int:
    """Bits of an m×n matrix as factors m×r and r×n in float32, or dense when that is smaller."""
    return FLOAT_BITS * min(rank * (rows + cols), rows * cols)


def index_coding(mask: torch.Tensor, value_bits: int = FLOAT_BITS) -> tuple[int, int]:
    """How ``pruned_bits`` stores a sparse tensor: (b, entries), the relative-index width and the
    number of entries (kept values plus fillers), or (0, size) where it is stored dense."""
    flat = mask.reshape(-1).bool().cpu()
    positions = torch.nonzero(flat).reshape(-1)
    if len(positions) == 0:
        return 1, 0
    runs = torch.diff(positions, prepend=torch.tensor([-1])) - 1
    entries = {b: len(positions) + int((runs >> b).sum()) for b in range(1, MAX_INDEX_BITS + 1)}
    b = min(entries, key=lambda width: entries[width] * (width + value_bits))
    if entries[b] * (b + value_bits) > value_bits * flat.numel():
        return 0, flat.numel()
    return b, entries[b]


def pruned_bits(mask: torch.Tensor, value_bits: int = FLOAT_BITS) -> int:
    """Bits of a sparse tensor (``mask`` marks the kept entries, in flattened order).

    Each kept value is stored with ``value_bits`` and a b-bit relative index: the number of zeros
    skipped since the previous kept entry. A run of z zeros longer than 2^b − 1 needs ⌊z / 2^b⌋
    filler entries (an explicit zero). b is chosen per tensor to minimise the total, and a tensor
    is stored dense when that is smaller (``index_coding`` says which).
    """
    b, entries = index_coding(mask, value_bits)
    return entries * (b + value_bits) if b else value_bits * entries


def storage_summary(model: nn.Module, compressed: dict[tuple[str, ...], int]) -> dict:
    """Dense and compressed bits of ``model`` and their ratio.

    ``compressed`` maps groups of parameter names (as in ``model.named_parameters()``) to the bits
    their compressed form needs; every other parameter (biases, batch norm) counts as float32
    on both sides.
    """
    sizes = dict((name, p.numel()) for name, p in model.named_parameters())
    covered = [name for names in compressed for name in names]
    unknown = sorted(set(covered) - set(sizes))
    if unknown:
        raise CourseError(
            f"No parameters {unknown} in this model: name them as named_parameters does."
        )
    if len(covered) != len(set(covered)):
        raise CourseError("A parameter is counted in two compressed groups.")
    dense = dense_bits(sum(sizes.values()))
    rest = dense_bits(sum(n for name, n in sizes.items() if name not in set(covered)))
    total = rest + sum(int(bits) for bits in compressed.values())
    return {
        "dense_bits": dense,
        "compressed_bits": total,
        "ratio": dense / total if total else math.inf,
    }
