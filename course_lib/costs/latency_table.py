"""NetAdapt's lookup table: each layer timed alone once, a model's time estimated as their sum."""

from __future__ import annotations

import torch
from torch import nn

from course_lib.costs.clock import backends_to_time, check_timing, median_pass_s, torch_threads
from course_lib.costs.counts import eval_batch
from course_lib.errors import CourseError
from course_lib.surgery import device_of


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
        check_timing(conv_backend, batch_size, repeats, warmup, "fastest")
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
                seconds = median_pass_s(layer, x, self.repeats, self.warmup, backend)
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
        device = device_of(model)
        with eval_batch(model, input_shape, 1) as x:  # batch norms keep their statistics
            try:
                model(x)
            finally:
                for hook in hooks:
                    hook.remove()
            return min(
                sum(self.layer_ms(m, shape, device, backend) for m, shape in inputs.items())
                for backend in backends_to_time(device, self.conv_backend)
            )
