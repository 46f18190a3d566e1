"""Peak inference memory, measured."""

import torch
from torch import nn

from course_lib.costs import count_params, memory, peak_memory


def net(inplace: bool) -> nn.Sequential:
    return nn.Sequential(nn.Linear(10, 1000), nn.ReLU(inplace=inplace), nn.Linear(1000, 2))


def test_cpu_peak_is_the_weights_the_input_and_the_most_the_pass_held_at_once():
    # batch 4: fc1's output (16000 bytes) and the ReLU's (16000) are alive together, then fc1's
    # is freed before fc2's output (32 bytes) is made
    resident = 4 * count_params(net(False)) + 4 * 4 * 10
    assert peak_memory(net(False), (10,), batch_size=4) == resident + 2 * 4 * 4 * 1000


def test_an_in_place_activation_is_measured_as_no_extra_memory():
    # an estimate from each layer's input and output would count the ReLU's tensor twice: in
    # place, fc1's output lives on beside fc2's (32 bytes), the peak of the pass
    with torch.no_grad():
        assert memory.allocated_during(net(True).eval(), torch.zeros(4, 10)) == 4 * 4 * 1002
        assert memory.allocated_during(net(False).eval(), torch.zeros(4, 10)) == 2 * 4 * 4 * 1000


def test_without_recorded_allocations_the_largest_layer_io_stands_in(monkeypatch):
    monkeypatch.setattr(memory, "allocated_during", lambda model, x: None)
    resident = 4 * count_params(net(False)) + 4 * 4 * 10
    assert peak_memory(net(False), (10,), batch_size=4) == resident + 2 * 4 * 4 * 1000
    # with no activation between them, fc1's input (160 bytes) and output (16000) are the largest
    bare = nn.Sequential(nn.Linear(10, 1000), nn.Linear(1000, 2))
    resident = 4 * count_params(bare) + 4 * 4 * 10
    assert peak_memory(bare, (10,), batch_size=4) == resident + 4 * 4 * (10 + 1000)


def test_the_profilers_native_messages_stay_out_of_the_output_and_stderr_comes_back():
    """Kineto prints its stages from C++ to file descriptor 2: in a notebook they would show as
    output ("USDT: profiler_start", "ERROR: gpuGetDeviceCount failed" without a GPU)."""
    import subprocess
    import sys

    code = (
        "import sys; from torch import nn; from course_lib.costs import peak_memory; "
        "peak_memory(nn.Linear(4, 4), (4,), batch_size=2); print('after', file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "after"
