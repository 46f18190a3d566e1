"""Peak memory of one inference pass."""

from __future__ import annotations

import torch
from torch import nn

from course_lib.surgery import device_of


@torch.no_grad()
def peak_memory(model: nn.Module, input_shape, batch_size: int = 256) -> int:
    """Peak bytes of one inference pass.

    On CUDA, the allocator's measured peak. On the CPU, weights plus the largest input + output
    pair of any leaf module (the live tensors of a sequential pass that frees what it used).
    """
    device = device_of(model)
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
