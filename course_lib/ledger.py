"""One cost ledger for every method: parameters, FLOPs, latency, memory and storage bits.

FLOPs are counted by ``torch.utils.flop_counter`` on a real forward pass, which counts a
multiply-add as 2 FLOPs for convolutions and matrix products (bias, activations and pooling are
not counted). Latency is the median of repeated timed forward passes after a warm-up.
"""

from __future__ import annotations

import math
import statistics
import time
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.errors import CourseError


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_flops(model: nn.Module, input_shape, batch_size: int = 1) -> int:
    """FLOPs of one forward pass of ``batch_size`` images of ``input_shape`` (C, H, W)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(batch_size, *input_shape, device=_device(model)))
    model.train(was_training)
    return int(counter.get_total_flops())


@contextmanager
def torch_threads(threads: int | None):
    """Run torch on ``threads`` intra-op threads inside the block (None: leave as is)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    input_shape,
    batch_size: int = 256,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
) -> dict:
    """Median wall time of a no-grad forward pass of one batch, after ``warmup`` passes."""
    was_training = model.training
    model.eval()
    device = _device(model)
    x = torch.randn(batch_size, *input_shape, device=device)
    times = []
    with torch_threads(threads):
        for i in range(warmup + repeats):
            _sync(device)
            start = time.perf_counter()
            model(x)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    model.train(was_training)
    median = statistics.median(times)
    return {
        "batch_size": batch_size,
        "threads": threads or torch.get_num_threads(),
        "device": str(device),
        "repeats": repeats,
        "median_s": median,
        "per_image_s": median / batch_size,
    }


@torch.no_grad()
def peak_memory(model: nn.Module, input_shape, batch_size: int = 256) -> int:
    """Peak bytes of one inference pass.

    On CUDA, the allocator's measured peak. On the CPU, weights plus the largest input + output
    pair of any leaf module (the live tensors of a sequential pass that frees what it used).
    """
    device = _device(model)
    model.eval()
    x = torch.zeros(batch_size, *input_shape, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        model(x)
        return torch.cuda.max_memory_allocated(device) - base + x.numel() * x.element_size()
    live = [0]

    def record(module, inputs, output):
        size = sum(t.numel() * t.element_size() for t in (*inputs, output) if torch.is_tensor(t))
        live[0] = max(live[0], size)

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(record) for m in leaves]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    return weights + live[0]


def cost_row(model: nn.Module, input_shape, name: str, batch_size: int = 256, **measure) -> dict:
    """One row of a cost table: parameters, FLOPs per image, latency and memory."""
    latency = measure_latency(model, input_shape, batch_size, **measure)
    return {
        "model": name,
        "params": count_params(model),
        "flops": count_flops(model, input_shape),
        "ms_per_image": 1e3 * latency["per_image_s"],
        "ms_per_batch": 1e3 * latency["median_s"],
        "batch_size": batch_size,
        "memory_mb": peak_memory(model, input_shape, batch_size) / 2**20,
    }


# ---------------------------------------------------------------------------------------------
# Storage: the bits of a (compressed) model, the basis of every compression ratio.
# Dense weights and all biases are float32; a compressed layer costs what its θ needs.
# ---------------------------------------------------------------------------------------------

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


def pruned_bits(mask: torch.Tensor, value_bits: int = FLOAT_BITS) -> int:
    """Bits of a sparse tensor (``mask`` marks the kept entries, in flattened order).

    Each kept value is stored with ``value_bits`` and a b-bit relative index: the number of zeros
    skipped since the previous kept entry. A run of z zeros longer than 2^b − 1 needs ⌊z / 2^b⌋
    filler entries (an explicit zero). b is chosen per tensor to minimise the total, and a tensor
    is stored dense when that is smaller.
    """
    flat = mask.reshape(-1).bool().cpu()
    kept = int(flat.sum())
    dense = value_bits * flat.numel()
    if kept == 0:
        return 0
    positions = torch.nonzero(flat).reshape(-1)
    runs = torch.diff(positions, prepend=torch.tensor([-1])) - 1
    best = min(
        (kept + int((runs >> b).sum())) * (b + value_bits) for b in range(1, MAX_INDEX_BITS + 1)
    )
    return min(best, dense)


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
