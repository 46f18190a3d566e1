"""What every benchmark prints first: the machine and the command."""

import os
import platform
import sys
import time

import torch


def header(title: str) -> None:
    cpu = platform.processor() or platform.machine()
    print(f"== {title}")
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")


def peak_gflops(size: int = 1024, repeats: int = 10) -> float:
    """Measured fp32 matrix-multiply throughput of this machine (the FLOP bound)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9
