"""What a compressed model is worth deployed: its file's size beside the ledger's bits, and its
accuracy and time in each runtime, all runtimes timed alike by ``costs.compare``."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from torch import nn

from course_lib import costs
from course_lib.artifacts.files import save
from course_lib.artifacts.runtimes import runtimes
from course_lib.data import DataBundle
from course_lib.errors import CourseError
from course_lib.train import accuracy

CALIBRATION_IMAGES = 256


def disk_row(info: dict, dense_bits: int, ledger_bits: int) -> dict:
    """A saved file (``inspect``) beside the ledger: its bytes, the ledger's, the difference
    (prefix, header, byte padding, buffers the ledger does not count), and the compression
    ratio by the ledger and on disk, both against ``dense_bits`` of the uncompressed model."""
    return {
        "file_bytes": info["bytes"],
        "ledger_bytes": ledger_bits / 8,
        "overhead_bytes": info["bytes"] - ledger_bits / 8,
        "header_bytes": info["header_bytes"],
        "ratio": dense_bits / ledger_bits,
        "ratio_on_disk": dense_bits / 8 / info["bytes"],
    }


def file_name(name: str) -> str:
    """A model's name as a file name: letters, digits, '-', '_' and '.' kept."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") + ".clm"


def runtime_table(
    models: Mapping[str, nn.Module],
    data: DataBundle,
    *,
    folder: str | Path | None = None,
    files: Mapping[str, dict] | None = None,
    split: str = "test",
    calibration: int = CALIBRATION_IMAGES,
    **timing,
) -> pd.DataFrame:
    """One row per model and runtime (eager PyTorch, ONNX Runtime, ONNX Runtime int8): the
    model's file (saved into ``folder``, or a temporary one; ``files`` gives the ``inspect`` of
    models saved already, e.g. with their θ) and its ratio on disk against the first model in
    float32, the accuracy on ``split``, and the time ``costs.compare`` measures with ``timing``
    (batch_size, repeats, threads, rounds, ...): every runtime takes the same batches, threads and
    rounds. int8 is calibrated on the first ``calibration`` training images."""
    if not models:
        raise CourseError("runtime_table needs at least one model.")
    images = next(iter(data.loader("train", calibration)))[0]
    saved = dict(files or {})
    with tempfile.TemporaryDirectory() as scratch:
        for name, model in models.items():
            if name not in saved:
                path = Path(folder or scratch) / file_name(name)
                saved[name] = save(path, model, input_shape=data.input_shape)
    dense_bytes = 4 * costs.count_params(next(iter(models.values())))
    timed, rows = {}, []
    for name, model in models.items():
        for runtime, runner in runtimes(model, data.input_shape, images).items():
            timed[f"{name} / {runtime}"] = runner
            rows.append({
                "model": name, "runtime": runtime, "file_bytes": saved[name]["bytes"],
                "ratio_on_disk": dense_bytes / saved[name]["bytes"],
                "onnx_bytes": len(runner.onnx_bytes) if runtime != "eager" else None,
                "accuracy": accuracy(runner, data, split),
            })  # fmt: skip
    compared = costs.compare(timed, data.input_shape, **timing)
    table = pd.DataFrame(rows, index=compared.index)
    columns = ["ms_per_image", "ms_per_batch", "batch_size", "threads", "params", "flops"]
    table[columns] = compared[columns]
    table["speedup"] = compared["speedup"]
    eager = table["ms_per_batch"].where(table["runtime"] == "eager").groupby(table["model"])
    table["speedup_vs_eager"] = table["model"].map(eager.max()) / table["ms_per_batch"]
    return table.reset_index(drop=True)
