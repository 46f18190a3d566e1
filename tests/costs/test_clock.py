"""How a pass is timed: the steady heap and the conv backend."""

import ctypes

import torch
from torch import nn

from course_lib import costs
from course_lib.costs import measure_latency


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost",
    )]  # fmt: skip


def mapped_bytes() -> int:
    """Bytes glibc holds in blocks mapped one by one (each unmapped again when freed)."""
    mallinfo2 = ctypes.CDLL(None).mallinfo2
    mallinfo2.restype = MallInfo2
    return mallinfo2().hblkhd


def test_timing_keeps_big_activations_on_the_heap():
    """A 64 MB block is past glibc's largest dynamic mmap threshold (32 MB): by default it is
    mapped afresh at every pass and its 16 384 pages faulted in again."""
    measure_latency(nn.Linear(2, 2), (2,), batch_size=1, repeats=1, warmup=0)
    before = mapped_bytes()
    block = torch.empty(1024, 16_384)
    assert block.nbytes == 64 << 20 and mapped_bytes() - before < 1 << 20


def test_conv_backend_switches_onednn_inside_the_block_only():
    before = torch.backends.mkldnn.enabled
    with costs.using_conv_backend("native"):
        assert torch.backends.mkldnn.enabled is False
    with costs.using_conv_backend("onednn"):
        assert torch.backends.mkldnn.enabled is True
    assert torch.backends.mkldnn.enabled == before
