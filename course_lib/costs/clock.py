"""How a forward pass is timed: fixed threads, a steady heap, the CPU convolution backend, the
median of repeated passes after a warm-up."""

from __future__ import annotations

import ctypes
import functools
import platform
import statistics
import time
from contextlib import contextmanager

import torch

from course_lib.errors import CourseError


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


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing elsewhere."""
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


def check_backend(conv_backend, *also) -> None:
    if conv_backend not in (*CONV_BACKENDS, *also):
        raise CourseError(
            f"Unknown conv_backend {conv_backend!r}; use one of {[*CONV_BACKENDS, *also]}."
        )


def check_timing(conv_backend, batch_size: int, repeats: int, warmup: int, *also) -> None:
    """Refuse a backend other than CONV_BACKENDS and ``also``, or non-positive counts."""
    check_backend(conv_backend, *also)
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise CourseError(
            f"batch_size and repeats must be >= 1 and warmup >= 0; got {batch_size}, {repeats}, "
            f"{warmup}."
        )


def backends_to_time(device: torch.device, conv_backend: str) -> list[str | None]:
    """The CPU backends "fastest" or a named one stands for; [None] on a GPU."""
    if device.type != "cpu":
        return [None]
    return list(CONV_BACKENDS) if conv_backend == "fastest" else [conv_backend]


@contextmanager
def using_conv_backend(name: str | None):
    """Run CPU convolutions on backend ``name`` inside the block (None: leave as is)."""
    check_backend(name, None)
    before = torch.backends.mkldnn.enabled
    if name is not None:
        torch.backends.mkldnn.enabled = CONV_BACKENDS[name]
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


@torch.no_grad()
def median_pass_s(model, x, repeats: int, warmup: int, backend: str | None) -> float:
    """Median seconds of ``repeats`` passes after ``warmup`` (on the CPU, on a steady heap)."""
    if x.device.type == "cpu":
        steady_heap()
    times = []
    with using_conv_backend(backend):
        for i in range(warmup + repeats):
            sync(x.device)
            start = time.perf_counter()
            model(x)
            sync(x.device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times)
