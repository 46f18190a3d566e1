"""What the compression ratio is on disk: LC results saved as model files, each file's size beside
the ledger's bits, and the saved net loaded back and evaluated."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from course_lib import artifacts
from course_lib.data import DataBundle
from course_lib.lc.result import LCResult
from course_lib.train import accuracy


def save_results(
    results: Mapping[str, LCResult], folder: str | Path, data: DataBundle, split: str = "test"
) -> pd.DataFrame:
    """Save each result's compressed net into ``folder`` (``LCResult.save``) and load it back: one
    row per run with the file's bytes beside the ledger's (``artifacts.disk_row``), the ratio by
    the ledger and on disk, and the error of the loaded net on ``split`` beside the run's."""
    rows = []
    for name, result in results.items():
        path = Path(folder) / artifacts.file_name(name)
        info = result.save(path, input_shape=data.input_shape)
        storage = result.storage
        rows.append({
            "run": name,
            "file": path.name,
            **artifacts.disk_row(info, storage["dense_bits"], storage["compressed_bits"]),
            f"{split}_error": result.final[f"{split}_error"],
            f"loaded_{split}_error": 1 - accuracy(artifacts.load(path), data, split),
        })  # fmt: skip
    return pd.DataFrame(rows)
