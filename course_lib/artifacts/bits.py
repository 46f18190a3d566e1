"""Unsigned integers of b bits packed into bytes (least significant bit first), and back."""

from __future__ import annotations

import numpy as np


def packed_bytes(count: int, bits: int) -> int:
    """Bytes that ``count`` integers of ``bits`` bits take."""
    return (count * bits + 7) // 8


def pack(values, bits: int) -> bytes:
    """``values`` (each below 2^bits) as ``packed_bytes(len(values), bits)`` bytes."""
    values = np.asarray(values, dtype=np.int64)
    planes = np.empty((len(values), bits), dtype=np.uint8)
    for bit in range(bits):
        planes[:, bit] = (values >> bit) & 1
    return np.packbits(planes.reshape(-1), bitorder="little").tobytes()


def unpack(buffer, count: int, bits: int) -> np.ndarray:
    """The ``count`` integers of ``bits`` bits packed in ``buffer``, as int64."""
    raw = np.frombuffer(buffer, dtype=np.uint8)
    planes = np.unpackbits(raw, count=count * bits, bitorder="little").reshape(count, bits)
    values = np.zeros(count, dtype=np.int64)
    for bit in range(bits):
        values |= planes[:, bit].astype(np.int64) << bit
    return values
