"""The measured speed-up of a pruned model over the original, as pruning's metrics record it."""

from __future__ import annotations

import pandas as pd
import torch

from course_lib import checks, costs
from course_lib.errors import CourseError


def speedup(
    compared: pd.DataFrame, *, repeats: int, rounds: int = 3, images: int | None = None
) -> dict:
    """The record of a ``costs.compare`` table of two models, the original then the pruned,
    measured with ``repeats`` and ``rounds``: each one's time of a batch and conv backend, the
    measured speed-up beside the FLOP ratio; with ``images`` (e.g. the test set's size) each
    one's time for that many images, as batches of the table's batch size."""
    if len(compared) != 2:
        raise CourseError("speedup reads a compare table of two models: the original, the pruned.")
    original, pruned = (compared.iloc[i] for i in range(2))
    flop_ratio = int(original["flops"]) / int(pruned["flops"])
    measured = float(original["ms_per_batch"] / pruned["ms_per_batch"])
    result = {
        "batch_size": int(original["batch_size"]),
        "threads": int(original["threads"]),
        "repeats": repeats,
        "rounds": rounds,
        "steady_heap": torch.device(original["device"]).type == "cpu" and costs.steady_heap(),
        "original_s": float(original["ms_per_batch"]) / 1e3,
        "pruned_s": float(pruned["ms_per_batch"]) / 1e3,
        "original_conv_backend": original["conv_backend"],
        "pruned_conv_backend": pruned["conv_backend"],
        "speedup": measured,
        "flops_original": int(original["flops"]),
        "flops_pruned": int(pruned["flops"]),
        "flop_ratio": flop_ratio,
        "speedup_over_flop_ratio": measured / flop_ratio,
    }
    if images is not None:
        result["images"] = checks.integer("images", images, 1)
        for name, row in (("original", original), ("pruned", pruned)):
            result[f"{name}_images_s"] = float(row["ms_per_image"]) / 1e3 * images
    return result
