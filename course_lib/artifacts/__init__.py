"""Compressed models as real artifacts: one compact file per model (``save`` / ``load`` /
``inspect``), its size beside the ledger's bits, and the runtimes people deploy with (ONNX
Runtime in float32 and int8) timed through ``costs.compare``.

from course_lib import artifacts
info = artifacts.save("lenet300-k2.clm", result.compressed_model(), result.theta())
model = artifacts.load("lenet300-k2.clm")
artifacts.runtime_table({"original": net, "pruned": pruned}, data, batch_size=256)
"""

from course_lib.artifacts.deploy import disk_row, file_name, runtime_table
from course_lib.artifacts.files import MAX_EXPANSION, inspect, load, save
from course_lib.artifacts.format import MAGIC, VERSION
from course_lib.artifacts.runtimes import (
    OPSET,
    RUNTIMES,
    OnnxModel,
    export_onnx,
    quantize_int8,
    runtimes,
)
from course_lib.artifacts.theta import Codebook, Factors, Sparse, Sum

__all__ = [
    "MAGIC", "MAX_EXPANSION", "OPSET", "RUNTIMES", "VERSION", "Codebook", "Factors", "OnnxModel",
    "Sparse", "Sum", "disk_row", "export_onnx", "file_name", "inspect", "load", "quantize_int8",
    "runtime_table", "runtimes", "save",
]  # fmt: skip
