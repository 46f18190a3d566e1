"""Peak memory of one inference pass, measured."""

from __future__ import annotations

import contextlib
import os
import sys

import torch
from torch import nn
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile

from course_lib.surgery import device_of


def _resident(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the weights, buffers and input batch, allocated before the pass."""
    tensors = (*model.parameters(), *model.buffers(), x)
    return sum(t.numel() * t.element_size() for t in tensors)


def allocated_during(model: nn.Module, x: torch.Tensor) -> int | None:
    """The peak of the bytes the CPU allocator held for ``model(x)`` beyond what was allocated
    before it, measured by torch's profiler: its allocations and frees in order, summed (None
    when the profiler recorded no allocation)."""
    with (
        _native_stderr_silenced(),
        profile(activities=[ProfilerActivity.CPU], profile_memory=True) as recorded,
    ):
        model(x)
    changes = sorted(
        (event.start_ns(), event.nbytes())
        for event in recorded.profiler.kineto_results.events()
        if event.name() == "[memory]" and event.device_type() == DeviceType.CPU
    )
    if not changes:
        return None
    live, peak = 0, 0
    for _, size in changes:
        live += size
        peak = max(peak, live)
    return peak


@contextlib.contextmanager
def _native_stderr_silenced():
    """The process's stderr (file descriptor 2) sent to /dev/null: the profiler's C++ side prints
    its stages there ("USDT: profiler_start", a "gpuGetDeviceCount failed" on a CPU-only machine),
    which would land in the notebook."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@torch.no_grad()
def peak_memory(model: nn.Module, input_shape, batch_size: int = 256) -> int:
    """Peak bytes of one inference pass: the weights, buffers and input batch, plus the most the
    pass itself held at once (its activations and the kernels' workspace), measured.

    On CUDA, the allocator's peak; on the CPU, torch's profiler's allocations and frees
    (``allocated_during``); where it records none, the largest input + output pair of any leaf
    module stands in (the live tensors of a sequential pass that frees what it used).
    """
    device = device_of(model)
    model.eval()
    x = torch.zeros(batch_size, *input_shape, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        model(x)
        return torch.cuda.max_memory_allocated(device) - base + _resident(model, x)
    measured = allocated_during(model, x)
    return _resident(model, x) + (_largest_pair(model, x) if measured is None else measured)


def _largest_pair(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the largest input + output pair of any leaf module in ``model(x)``."""
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
    return live[0]
