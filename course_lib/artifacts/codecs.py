"""One codec per encoding of a group of tensors (flattened and joined in order): dense, a
bit-packed codebook, pruned values with relative indices, low-rank factors, and sums of these.

A codec ``encode``s θ into header fields and bytes, says from the fields alone how many bytes
they need (``nbytes``, which also refuses impossible fields), and ``decode``s the bytes."""

from __future__ import annotations

import math

import numpy as np
import torch

from course_lib import costs
from course_lib.artifacts.bits import pack, packed_bytes, unpack
from course_lib.artifacts.format import need, whole
from course_lib.artifacts.theta import STORED, Codebook, Factors, Sparse, Sum
from course_lib.errors import CourseError

DTYPES = {"float32": "<f4", "float16": "<f2", "int64": "<i8"}  # dense values as stored
FLOAT = np.dtype("<f4")
MAX_CODEBOOK = 1 << costs.storage.MAX_INDEX_BITS


def _floats(tensor: torch.Tensor) -> bytes:
    return tensor.detach().cpu().reshape(-1).to(torch.float32).numpy().astype(FLOAT).tobytes()


def _read_floats(blob, count: int) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(blob, FLOAT, count).astype(np.float32))


def _sizes(shapes) -> list[int]:
    return [math.prod(shape) for shape in shapes]


class Dense:
    """Every value as it is: float32, float16 (only where asked: lossy) or int64."""

    @staticmethod
    def encode(flat: torch.Tensor, dtype: str) -> tuple[dict, bytes]:
        array = flat.detach().cpu().reshape(-1).numpy().astype(DTYPES[dtype])
        return {"kind": "dense", "dtype": dtype}, array.tobytes()

    @staticmethod
    def nbytes(fields: dict, shapes) -> int:
        need(fields.get("dtype") in DTYPES, f"unknown dtype {fields.get('dtype')!r}")
        return sum(_sizes(shapes)) * np.dtype(DTYPES[fields["dtype"]]).itemsize

    @staticmethod
    def decode(fields: dict, blob, shapes) -> torch.Tensor:
        stored = np.dtype(DTYPES[fields["dtype"]])
        array = np.frombuffer(blob, stored, sum(_sizes(shapes)))
        return torch.from_numpy(array.astype(stored.newbyteorder("=")))


def _index_bits(size: int) -> int:
    return math.ceil(math.log2(size))


class CodebookCodec:
    """⌈log2 k⌉ bits per weight, and the codebook's stored floats (all k, a scale, or none)."""

    @staticmethod
    def encode(theta: Codebook, shapes) -> tuple[dict, bytes]:
        entries = theta.entries.detach().cpu().to(torch.float32).reshape(-1)
        indices = theta.indices.detach().cpu().reshape(-1)
        if theta.stored not in STORED or len(indices) != sum(_sizes(shapes)):
            raise CourseError(
                "A Codebook needs stored in all | scale | none and one index a weight."
            )
        if len(indices) and int(indices.max()) >= len(entries):
            raise CourseError("A Codebook index points past its entries.")
        if theta.stored != "all" and not torch.equal(
            entries, _symmetric(entries[-1], len(entries))
        ):
            raise CourseError("A Codebook that stores only its scale needs entries {−a, (0,) +a}.")
        fields = {"kind": "codebook", "size": int(theta.size), "stored": theta.stored,
                  "entries": len(entries)}  # fmt: skip
        kept = entries[len(entries) - _kept_floats(theta.stored, len(entries)) :]
        return fields, _floats(kept) + pack(indices.numpy(), _index_bits(theta.size))

    @staticmethod
    def nbytes(fields: dict, shapes) -> int:
        size = whole(fields.get("size"), "codebook size", 2, MAX_CODEBOOK)
        stored, entries = fields.get("stored"), whole(fields.get("entries"), "codebook entries", 1)
        need(stored in STORED, f"unknown codebook storage {stored!r}")
        need(entries <= size, f"{entries} codebook entries for a codebook of {size}")
        need(stored != "scale" or entries == size in (2, 3), "a scaled codebook has 2 or 3 entries")
        need(stored != "none" or entries == size == 2, "an unscaled codebook is {−1, +1}")
        floats = _kept_floats(stored, entries)
        return 4 * floats + packed_bytes(sum(_sizes(shapes)), _index_bits(size))

    @staticmethod
    def decode(fields: dict, blob, shapes) -> torch.Tensor:
        stored, count = fields["stored"], fields["entries"]
        floats = _kept_floats(stored, count)
        kept = _read_floats(blob, floats)
        if stored == "all":
            entries = kept
        else:
            entries = _symmetric(kept[0] if floats else torch.tensor(1.0), count)
        indices = unpack(blob[4 * floats :], sum(_sizes(shapes)), _index_bits(fields["size"]))
        need(len(indices) == 0 or int(indices.max()) < count, "a codebook index points past it")
        return entries[torch.from_numpy(indices)]


def _kept_floats(stored: str, entries: int) -> int:
    """How many of a codebook's floats the file keeps."""
    return {"all": entries, "scale": 1, "none": 0}[stored]


def _symmetric(scale: torch.Tensor, levels: int) -> torch.Tensor:
    """{−a, +a} (2 levels) or {−a, 0, +a} (3) as float32."""
    a = scale.reshape(1).to(torch.float32)
    return torch.cat([-a, a]) if levels == 2 else torch.cat([-a, torch.zeros(1), a])


class SparseCodec:
    """Per tensor, as ``costs.pruned_bits`` counts it: entries of a b-bit gap (zeros skipped since
    the previous entry) and a float32 value, fillers (gap 2^b − 1, value 0) where a run of zeros
    is longer; or the tensor dense (b = 0) where that is smaller."""

    @staticmethod
    def encode(theta: Sparse, shapes) -> tuple[dict, bytes]:
        sizes = _sizes(shapes)
        mask = theta.mask.detach().cpu().reshape(-1).bool()
        values = theta.values.detach().cpu().reshape(-1).to(torch.float32)
        if len(mask) != sum(sizes) or len(values) != int(mask.sum()):
            raise CourseError("A Sparse θ needs a mask over every weight and one value per kept.")
        masks = mask.split(sizes)
        segments, blobs = [], []
        for part, kept in zip(masks, values.split([int(m.sum()) for m in masks]), strict=True):
            b, entries = costs.index_coding(part)
            segments.append([b, entries])
            blobs.append(_segment(part, kept, b, entries))
        return {"kind": "sparse", "segments": segments}, b"".join(blobs)

    @staticmethod
    def nbytes(fields: dict, shapes) -> int:
        segments, sizes = fields.get("segments"), _sizes(shapes)
        need(isinstance(segments, list) and len(segments) == len(sizes), "segments do not match")
        total = 0
        for segment, size in zip(segments, sizes, strict=True):
            need(isinstance(segment, list) and len(segment) == 2, "a segment is not [b, entries]")
            b = whole(segment[0], "index bits", 0, costs.storage.MAX_INDEX_BITS)
            entries = whole(segment[1], "entries", 0, size)
            need(b > 0 or entries == size, "a dense segment holds every value")
            total += packed_bytes(entries, b) + 4 * entries
        return total

    @staticmethod
    def decode(fields: dict, blob, shapes) -> torch.Tensor:
        parts, offset = [], 0
        for (b, entries), size in zip(fields["segments"], _sizes(shapes), strict=True):
            gap_bytes = packed_bytes(entries, b)
            values = _read_floats(blob[offset + gap_bytes :], entries)
            if b == 0:
                parts.append(values)
            else:
                positions = np.cumsum(unpack(blob[offset:], entries, b) + 1) - 1
                need(entries == 0 or positions[-1] < size, "relative indices run past the tensor")
                dense = torch.zeros(size)
                dense[torch.from_numpy(positions)] = values
                parts.append(dense)
            offset += gap_bytes + 4 * entries
        return torch.cat(parts) if parts else torch.zeros(0)


def _segment(mask: torch.Tensor, values: torch.Tensor, b: int, entries: int) -> bytes:
    """One tensor's bytes: dense (b = 0), or gaps then values with fillers."""
    if b == 0:
        dense = torch.zeros(len(mask))
        dense[mask] = values
        return _floats(dense)
    positions = torch.nonzero(mask).reshape(-1).numpy()
    runs = np.diff(positions, prepend=-1) - 1
    fillers = runs >> b
    at = np.cumsum(fillers + 1) - 1  # where each kept value sits among the entries
    gaps = np.full(entries, (1 << b) - 1, dtype=np.int64)
    gaps[at] = runs - (fillers << b)
    kept = torch.zeros(entries)
    kept[torch.from_numpy(at)] = values
    return pack(gaps, b) + _floats(kept)


class FactorsCodec:
    """A layer's weight as u (m×r) @ v (r×n) in float32."""

    @staticmethod
    def encode(theta: Factors, shapes) -> tuple[dict, bytes]:
        (m, n), rank = FactorsCodec._matrix(shapes), theta.u.shape[1]
        if tuple(theta.u.shape) != (m, rank) or tuple(theta.v.shape) != (rank, n):
            raise CourseError(f"Factors of a {m}×{n} weight must be {m}×r and r×{n}.")
        return {"kind": "factors", "rank": int(rank)}, _floats(theta.u) + _floats(theta.v)

    @staticmethod
    def _matrix(shapes) -> tuple[int, int]:
        need(len(shapes) == 1 and len(shapes[0]) >= 2 and shapes[0][0] > 0, "factors of one layer")
        return shapes[0][0], math.prod(shapes[0][1:])

    @staticmethod
    def nbytes(fields: dict, shapes) -> int:
        m, n = FactorsCodec._matrix(shapes)
        return 4 * whole(fields.get("rank"), "rank", 0, min(m, n)) * (m + n)  # 0: all zero

    @staticmethod
    def decode(fields: dict, blob, shapes) -> torch.Tensor:
        (m, n), rank = FactorsCodec._matrix(shapes), fields["rank"]
        u = _read_floats(blob, m * rank).reshape(m, rank)
        v = _read_floats(blob[4 * m * rank :], rank * n).reshape(rank, n)
        return (u @ v).reshape(-1)


class SumCodec:
    """The parts one after the other; decoded, they are added in order."""

    @staticmethod
    def encode(theta: Sum, shapes) -> tuple[dict, bytes]:
        if len(theta.parts) < 2 or any(isinstance(p, Sum) for p in theta.parts):
            raise CourseError("A Sum needs two or more parts, none of them a Sum.")
        encoded = [encode(part, shapes) for part in theta.parts]
        return {"kind": "sum", "parts": [f for f, _ in encoded]}, b"".join(b for _, b in encoded)

    @staticmethod
    def nbytes(fields: dict, shapes) -> int:
        parts = fields.get("parts")
        need(isinstance(parts, list) and 2 <= len(parts) <= 4, "a sum has 2 to 4 parts")
        need(all(isinstance(p, dict) and p.get("kind") != "sum" for p in parts), "a sum in a sum")
        return sum(nbytes(part, shapes) for part in parts)

    @staticmethod
    def decode(fields: dict, blob, shapes) -> torch.Tensor:
        terms, offset = [], 0
        for part in fields["parts"]:
            terms.append(decode(part, blob[offset:], shapes))
            offset += nbytes(part, shapes)
        return sum(terms)  # as the mix adds its terms


CODECS = {"dense": Dense, "codebook": CodebookCodec, "sparse": SparseCodec,
          "factors": FactorsCodec, "sum": SumCodec}  # fmt: skip
ENCODERS = {Codebook: CodebookCodec, Sparse: SparseCodec, Factors: FactorsCodec, Sum: SumCodec}


def encode(theta, shapes) -> tuple[dict, bytes]:
    """Header fields and bytes of θ (a Codebook, Sparse, Factors or Sum) over ``shapes``."""
    codec = ENCODERS.get(type(theta))
    if codec is None:
        raise CourseError(f"Cannot store a {type(theta).__name__}: give a Codebook, Sparse, "
                          "Factors or Sum (course_lib.artifacts.theta).")  # fmt: skip
    fields, blob = codec.encode(theta, shapes)
    need(nbytes(fields, shapes) == len(blob), f"{fields['kind']} wrote bytes its reader refuses")
    return fields, blob


def nbytes(fields, shapes) -> int:
    """The bytes ``fields`` need over ``shapes``; Damaged when no encoding could have them."""
    need(isinstance(fields, dict) and fields.get("kind") in CODECS, "unknown encoding")
    return CODECS[fields["kind"]].nbytes(fields, shapes)


def decode(fields, blob, shapes) -> torch.Tensor:
    """The flat tensor of the group (checked with ``nbytes`` first)."""
    return CODECS[fields["kind"]].decode(fields, blob, shapes)
