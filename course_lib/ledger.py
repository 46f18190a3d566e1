"""One cost ledger for every method: parameters, FLOPs, latency, memory and storage bits.

FLOPs are counted by ``torch.utils.flop_counter`` on a real forward pass, which counts a
multiply-add as 2 FLOPs for convolutions and matrix products (bias, activations and pooling are
not counted). Latency is the median of repeated timed forward passes after a warm-up, on a
steady heap, with the CPU convolution backend that is fastest for the model.
"""

from __future__ import annotations

import ctypes
import functools
import math
import platform
import statistics
import time
from collections.abc import Mapping
from contextlib import contextmanager

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.errors import CourseError


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextmanager
def _batch_in_eval_mode(model: nn.Module, input_shape, batch_size: int, make=torch.zeros):
    """A batch made by ``make`` on the model's device, the model in eval mode inside the block."""
    was_training = model.training
    model.eval()
    try:
        yield make(batch_size, *input_shape, device=_device(model))
    finally:
        model.train(was_training)


@torch.no_grad()
def count_flops(model: nn.Module, input_shape, batch_size: int = 1) -> int:
    """FLOPs of one forward pass of ``batch_size`` images of ``input_shape`` (C, H, W)."""
    counter = FlopCounterMode(display=False)
    with _batch_in_eval_mode(model, input_shape, batch_size) as x, counter:
        model(x)
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


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _ONE_GIB = -1, -3, 1 << 30


@functools.cache
def steady_heap() -> bool:
    """Keep freed memory in the process, as a serving process does (jemalloc, tcmalloc).

    By default glibc maps every block over 32 MB afresh and hands big freed ones back, so a
    timed pass pays a page fault per 4 KB of its activations: on a 2-core VM this made the
    Fashion CNN's pass at batch 1000 take 94 ms instead of 54. This sets glibc's thresholds to
    1 GiB for the rest of the process; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    options = (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD)
    return all(libc.mallopt(option, _ONE_GIB) == 1 for option in options)


CONV_BACKENDS = {"onednn": True, "native": False}
"""CPU convolution backends: oneDNN (PyTorch's default), or "native" with oneDNN off: then PyTorch
runs NNPACK, which it also ships, on batches of 16 or more and its im2col kernel on smaller ones.
NNPACK is several times faster than oneDNN when a convolution has few channels."""


def _check_backend(conv_backend, *also) -> None:
    if conv_backend not in (*CONV_BACKENDS, *also):
        raise CourseError(
            f"Unknown conv_backend {conv_backend!r}; use one of {[*CONV_BACKENDS, *also]}."
        )


def _check_timing(conv_backend, batch_size: int, repeats: int, warmup: int, *also) -> None:
    _check_backend(conv_backend, *also)
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise CourseError(
            f"batch_size and repeats must be >= 1 and warmup >= 0; got {batch_size}, {repeats}, "
            f"{warmup}."
        )


def _backends_to_time(device: torch.device, conv_backend: str) -> list[str | None]:
    """The CPU backends "fastest" or a named one stands for; [None] on a GPU."""
    if device.type != "cpu":
        return [None]
    return list(CONV_BACKENDS) if conv_backend == "fastest" else [conv_backend]


@contextmanager
def using_conv_backend(name: str | None):
    """Run CPU convolutions on backend ``name`` inside the block (None: leave as is)."""
    _check_backend(name, None)
    before = torch.backends.mkldnn.enabled
    if name is not None:
        torch.backends.mkldnn.enabled = CONV_BACKENDS[name]
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


@torch.no_grad()
def _median_pass_s(model, x, repeats: int, warmup: int, backend: str | None) -> float:
    """Median seconds of ``repeats`` passes after ``warmup`` (on the CPU, on a steady heap)."""
    if x.device.type == "cpu":
        steady_heap()
    times = []
    with using_conv_backend(backend):
        for i in range(warmup + repeats):
            _sync(x.device)
            start = time.perf_counter()
            model(x)
            _sync(x.device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_latency(
    model: nn.Module,
    input_shape,
    batch_size: int = 256,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    conv_backend: str = "fastest",
) -> dict:
    """Median wall time of a no-grad forward pass of one batch, after ``warmup`` passes.

    On the CPU the heap is kept steady (``steady_heap``) and convolutions run on
    ``conv_backend``: "onednn", "native", or "fastest", which times both and keeps the faster.
    """
    _check_timing(conv_backend, batch_size, repeats, warmup, "fastest")
    device = _device(model)
    on_cpu = device.type == "cpu"
    batch = _batch_in_eval_mode(model, input_shape, batch_size, torch.randn)
    with batch as x, torch_threads(threads):
        times = {
            name: _median_pass_s(model, x, repeats, warmup, name)
            for name in _backends_to_time(device, conv_backend)
        }
    backend = min(times, key=times.get)
    return {
        "batch_size": batch_size,
        "threads": threads or torch.get_num_threads(),
        "device": str(device),
        "conv_backend": backend or device.type,
        "steady_heap": on_cpu and steady_heap(),
        "repeats": repeats,
        "median_s": times[backend],
        "per_image_s": times[backend] / batch_size,
    }


def best_latency(
    models: Mapping[str, nn.Module], input_shape, *, rounds: int = 3, **measure
) -> dict[str, dict]:
    """``measure_latency`` of each model, its best median over ``rounds`` in which the models take
    turns, so that load that comes and goes on a shared machine falls on all of them alike."""
    if rounds < 1:
        raise CourseError(f"rounds must be >= 1; got {rounds}.")
    best = {}
    for _ in range(rounds):
        for name, model in models.items():
            latency = measure_latency(model, input_shape, **measure)
            if name not in best or latency["median_s"] < best[name]["median_s"]:
                best[name] = latency
    return best


def layer_times(
    model: nn.Module,
    input_shape,
    batch_size: int = 256,
    repeats: int = 20,
    warmup: int = 3,
    threads: int | None = None,
    conv_backend: str | None = None,
) -> pd.DataFrame:
    """Where a forward pass spends its time: for each top-level layer, its FLOPs, the median of
    its wall time over ``repeats`` passes (timed by hooks around it) and the GFLOP/s it reaches.
    ``conv_backend`` is "onednn", "native" or None (as set)."""
    _check_timing(conv_backend, batch_size, repeats, warmup, None)
    children = dict(model.named_children())
    if not children:
        raise CourseError("layer_times needs a model made of layers (named children).")
    device = _device(model)
    started, seconds = {}, {name: [] for name in children}

    def before(name):
        def hook(module, inputs):
            _sync(device)
            started[name] = time.perf_counter()

        return hook

    def after(name):
        def hook(module, inputs, output):
            _sync(device)
            seconds[name].append(time.perf_counter() - started[name])

        return hook

    counter = FlopCounterMode(display=False)
    with _batch_in_eval_mode(model, input_shape, batch_size, torch.randn) as x:
        with torch.no_grad(), counter:
            model(x)
        handles = [h for name, layer in children.items() for h in (
            layer.register_forward_pre_hook(before(name)), layer.register_forward_hook(after(name))
        )]  # fmt: skip
        try:
            with torch_threads(threads):
                _median_pass_s(model, x, repeats, warmup, conv_backend)
        finally:
            for handle in handles:
                handle.remove()
    flop_counts, root = counter.get_flop_counts(), type(model).__name__
    rows = []
    for name, layer in children.items():
        flops = sum(flop_counts.get(f"{root}.{name}", {}).values())
        median = statistics.median(seconds[name][warmup:])
        rows.append({
            "layer": name, "kind": type(layer).__name__, "flops": flops, "ms": 1e3 * median,
            "gflop_per_s": flops / median / 1e9,
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("layer")


class LatencyTable:
    """NetAdapt's lookup table (Yang et al., 2018): the measured time of each layer (every leaf
    module: conv, linear, activation, pooling, ...) alone, by its configuration and input size, at
    one batch size and thread count.

    A model's latency is estimated as the sum of its layers' times, on the CPU convolution backend
    with the smaller sum ("fastest", as ``measure_latency`` picks one per model) or on the one
    named. A shape is timed once, when first needed; ``ms`` holds what was timed."""

    def __init__(
        self,
        batch_size: int = 256,
        repeats: int = 10,
        warmup: int = 2,
        threads: int | None = 1,
        conv_backend: str = "fastest",
    ):
        _check_timing(conv_backend, batch_size, repeats, warmup, "fastest")
        self.batch_size, self.repeats, self.warmup = batch_size, repeats, warmup
        self.threads, self.conv_backend = threads, conv_backend
        self.ms: dict[tuple, float] = {}

    def settings(self) -> dict:
        """How the table times, as a pruning result records it."""
        return {
            "batch_size": self.batch_size, "repeats": self.repeats, "warmup": self.warmup,
            "threads": self.threads, "conv_backend": self.conv_backend,
        }  # fmt: skip

    def layer_ms(self, layer: nn.Module, input_shape, device, backend: str | None) -> float:
        """Milliseconds of ``layer`` on a batch of ``input_shape`` (one image), timed once."""
        device = torch.device(device)
        if device.type != "cpu" or not isinstance(layer, nn.Conv2d):
            backend = None  # only a convolution on the CPU depends on the backend
        key = (str(layer), tuple(input_shape), device.type, backend)
        if key not in self.ms:
            x = torch.randn(self.batch_size, *input_shape, device=device)
            with torch_threads(self.threads):
                seconds = _median_pass_s(layer, x, self.repeats, self.warmup, backend)
            self.ms[key] = 1e3 * seconds
        return self.ms[key]

    @torch.no_grad()
    def model_ms(self, model: nn.Module, input_shape) -> float:
        """The estimated milliseconds of one pass of ``model`` over a batch."""
        inputs = {}
        if not any(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules()):
            raise CourseError("A latency table estimates models made of conv and linear layers.")
        leaves = [m for m in model.modules() if not list(m.children())]

        def record(module, args):
            inputs[module] = args[0].shape[1:]

        hooks = [leaf.register_forward_pre_hook(record) for leaf in leaves]
        device = _device(model)
        with _batch_in_eval_mode(model, input_shape, 1) as x:  # batch norms keep their statistics
            try:
                model(x)
            finally:
                for hook in hooks:
                    hook.remove()
            return min(
                sum(self.layer_ms(m, shape, device, backend) for m, shape in inputs.items())
                for backend in _backends_to_time(device, self.conv_backend)
            )


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
