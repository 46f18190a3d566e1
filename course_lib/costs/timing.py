"""Measured time: one forward pass (``measure_latency``), models compared in turns (``compare``,
the entry point every notebook and benchmark uses), and time per layer.

A model run by another runtime than eager PyTorch (``artifacts.OnnxModel``: ONNX Runtime) is
timed the same way; it names its runtime in ``runtime`` and the PyTorch model it came from in
``eager``, whose parameters and FLOPs are its counts."""

from __future__ import annotations

import copy
import math
import statistics
import time
from collections.abc import Mapping

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.costs.clock import (
    CONV_BACKENDS,
    backends_to_time,
    check_timing,
    median_pass_s,
    steady_heap,
    sync,
    torch_threads,
)
from course_lib.costs.counts import count_flops, count_params, eval_batch
from course_lib.costs.memory import peak_memory
from course_lib.errors import CourseError
from course_lib.surgery import device_of


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
    A model of another runtime runs on its own kernels: it is timed once, its runtime named as
    its conv backend.
    """
    check_timing(conv_backend, batch_size, repeats, warmup, "fastest")
    device = device_of(model)
    runtime = runtime_of(model)
    backends = backends_to_time(device, conv_backend) if runtime == "eager" else [None]
    batch = eval_batch(model, input_shape, batch_size, torch.randn)
    with batch as x, torch_threads(threads):
        times = {name: median_pass_s(model, x, repeats, warmup, name) for name in backends}
    backend = min(times, key=times.get)
    return {
        "batch_size": batch_size,
        "threads": threads or torch.get_num_threads(),
        "device": str(device),
        "runtime": runtime,
        "conv_backend": backend or (device.type if runtime == "eager" else runtime),
        "steady_heap": device.type == "cpu" and steady_heap(),
        "repeats": repeats,
        "median_s": times[backend],
        "per_image_s": times[backend] / batch_size,
    }


def runtime_of(model: nn.Module) -> str:
    """The runtime that runs ``model``: "eager" (PyTorch) unless it names another."""
    return getattr(model, "runtime", "eager")


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


def compare(
    models: Mapping[str, nn.Module],
    input_shape,
    *,
    rounds: int = 3,
    channels_last: bool = False,
    memory: bool = False,
    **measure,
) -> pd.DataFrame:
    """One row per model, the first the baseline: parameters, FLOPs per image, the best median
    time of a batch over ``rounds`` (``best_latency``; ``measure`` holds batch_size, repeats,
    warmup, threads, conv_backend), time per image, the conv backend, and the FLOP ratio and
    speed-up against the baseline, and the runtime. ``channels_last`` times copies in the NHWC
    layout; ``memory`` adds the peak inference memory (MiB) of a batch (PyTorch's: NaN for a
    model of another runtime). The models may run on different runtimes (``artifacts.runtimes``):
    all take the same batches, threads and rounds."""
    if not models:
        raise CourseError("compare needs at least one model.")
    layout = torch.channels_last if channels_last else torch.contiguous_format
    timed = {name: copy.deepcopy(m).to(memory_format=layout) for name, m in models.items()}
    latency = best_latency(timed, input_shape, rounds=rounds, **measure)
    rows = []
    for name, model in models.items():
        counted = getattr(model, "eager", model)
        row = {
            "model": name,
            "params": count_params(counted),
            "flops": count_flops(counted, input_shape),
            "ms_per_batch": 1e3 * latency[name]["median_s"],
            "ms_per_image": 1e3 * latency[name]["per_image_s"],
            **{k: latency[name][k] for k in ("batch_size", "threads", "device", "conv_backend")},
            "runtime": runtime_of(model),
        }
        if memory:
            eager = row["runtime"] == "eager"
            peak = peak_memory(model, input_shape, row["batch_size"]) if eager else math.nan
            row["memory_mb"] = peak / 2**20
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    table["flop_ratio"] = table["flops"].iloc[0] / table["flops"]
    table["speedup"] = table["ms_per_batch"].iloc[0] / table["ms_per_batch"]
    return table


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
    check_timing(conv_backend, batch_size, repeats, warmup, None)
    children = dict(model.named_children())
    if not children:
        raise CourseError("layer_times needs a model made of layers (named children).")
    device = device_of(model)
    started, seconds = {}, {name: [] for name in children}

    def before(name):
        def hook(module, inputs):
            sync(device)
            started[name] = time.perf_counter()

        return hook

    def after(name):
        def hook(module, inputs, output):
            sync(device)
            seconds[name].append(time.perf_counter() - started[name])

        return hook

    counter = FlopCounterMode(display=False)
    with eval_batch(model, input_shape, batch_size, torch.randn) as x:
        with torch.no_grad(), counter:
            model(x)
        handles = [h for name, layer in children.items() for h in (
            layer.register_forward_pre_hook(before(name)), layer.register_forward_hook(after(name))
        )]  # fmt: skip
        try:
            with torch_threads(threads):
                median_pass_s(model, x, repeats, warmup, conv_backend)
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


def time_by_layer(
    models: Mapping[str, nn.Module], input_shape, compared: pd.DataFrame, repeats: int = 5
) -> pd.DataFrame:
    """Where the speed-up of ``compared`` (a ``compare`` table of two models) is won and lost:
    per layer, the FLOPs and milliseconds of both at the same batch, threads and conv backends,
    the FLOP ratio, the measured speed-up and the GFLOP/s each reaches."""
    names = list(models)
    if len(names) != 2 or list(compared.index) != names:
        raise CourseError("time_by_layer compares the two models of one compare table.")
    children = [[n for n, _ in m.named_children()] for m in models.values()]
    if children[0] != children[1]:
        raise CourseError("The two models must have the same layers, by name, in the same order.")
    tables = {}
    for name, net in models.items():
        row = compared.loc[name]
        backend = row["conv_backend"]  # on a GPU, its device type
        tables[name] = layer_times(
            net, input_shape, int(row["batch_size"]), repeats, threads=int(row["threads"]),
            conv_backend=backend if backend in CONV_BACKENDS else None,
        )  # fmt: skip
    table = pd.DataFrame(index=tables[names[0]].index)
    for column in ("flops", "ms"):
        for name, layers in tables.items():
            table[f"{column}_{name}"] = layers[column]
    table.loc["total"] = table.sum()
    first, second = names
    table["flop_ratio"] = table[f"flops_{first}"] / table[f"flops_{second}"]
    table["speedup"] = table[f"ms_{first}"] / table[f"ms_{second}"]
    for name in names:
        table[f"gflop_per_s_{name}"] = table[f"flops_{name}"] / table[f"ms_{name}"] / 1e6
    return table
