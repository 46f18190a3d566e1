"""The runtimes people deploy with: a model exported to ONNX by torch's exporter and run by ONNX
Runtime on the CPU, in float32 or quantized to int8 by ONNX Runtime's static post-training
quantization. An ``OnnxModel`` is called like the PyTorch model it came from, so the kit's one
timing entry point (``costs.compare``) and ``train.accuracy`` take it as they take any model."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import onnxruntime as ort
import torch
from torch import nn

from course_lib import checks
from course_lib.errors import CourseError

OPSET = 20  # the default opset of torch 2.15's exporter
RUNTIMES = ("eager", "onnxruntime", "onnxruntime-int8")
CALIBRATION_BATCH = 64


def export_onnx(model: nn.Module, input_shape) -> bytes:
    """``model`` (a copy, on the CPU, in eval mode) as an ONNX model whose batch size is free:
    input "images" (N, C, H, W), output "logits". torch.export traces it (``dynamo=True``, the
    exporter torch 2.15 recommends; the TorchScript one is deprecated)."""
    model = copy.deepcopy(model).cpu().eval()
    example = torch.zeros(2, *input_shape)  # batch 2: a batch of 1 would be specialised
    program = torch.onnx.export(
        model, (example,), dynamo=True, opset_version=OPSET, input_names=["images"],
        output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
        verbose=False,
    )  # fmt: skip
    return program.model_proto.SerializeToString()


class OnnxModel(nn.Module):
    """An ONNX model run by ONNX Runtime on the CPU, called like a PyTorch model: torch tensors in
    and out. A session runs on as many threads as torch does at the call (so the threads that
    ``costs.compare`` sets apply), without spin-waiting between calls. ``eager`` is the PyTorch
    model it was exported from (``costs`` counts its parameters and FLOPs); ``runtime`` says which
    runtime this is."""

    def __init__(self, onnx_bytes: bytes, eager: nn.Module, runtime: str):
        super().__init__()
        self.onnx_bytes = onnx_bytes
        self.runtime = checks.choice("runtime", runtime, RUNTIMES[1:])
        self.__dict__["eager"] = eager  # counted, not a submodule: not copied to a device
        self._sessions: dict[int, ort.InferenceSession] = {}

    def session(self, threads: int) -> ort.InferenceSession:
        if threads not in self._sessions:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            self._sessions[threads] = ort.InferenceSession(
                self.onnx_bytes, options, providers=["CPUExecutionProvider"]
            )
        return self._sessions[threads]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        session = self.session(torch.get_num_threads())
        images = x.detach().cpu().float().contiguous().numpy()
        out = session.run(None, {session.get_inputs()[0].name: images})[0]
        return torch.from_numpy(out).to(x.device)

    def __deepcopy__(self, memo) -> OnnxModel:
        return OnnxModel(self.onnx_bytes, self.eager, self.runtime)

    def extra_repr(self) -> str:
        return f"runtime={self.runtime!r}, {len(self.onnx_bytes):,} bytes of ONNX"


class _Calibration:
    """Hands the calibration images to ONNX Runtime's calibrator in batches (a
    ``CalibrationDataReader``: ONNX Runtime asks only for ``get_next``)."""

    def __init__(self, name: str, images: torch.Tensor):
        self.batches = iter(
            {name: chunk.float().contiguous().numpy()}
            for chunk in images.cpu().split(CALIBRATION_BATCH)
        )

    def get_next(self):
        return next(self.batches, None)


def quantize_int8(model: nn.Module, input_shape, calibration: torch.Tensor, onnx_bytes=None):
    """``model`` quantized to int8 by ONNX Runtime (``quantize_static``, QDQ format): weights
    int8 per output channel, activations uint8 with ranges calibrated (min-max) on
    ``calibration``, a batch of images as the model takes them (normalised)."""
    from onnxruntime import quantization  # onnx with it: 1 s to import, only when quantizing

    if calibration.dim() != len(input_shape) + 1 or len(calibration) == 0:
        raise CourseError(f"calibration must be a batch of images of shape {tuple(input_shape)}.")
    with tempfile.TemporaryDirectory() as folder:
        source, prepared, target = (Path(folder, f"{n}.onnx") for n in ("fp32", "pre", "int8"))
        source.write_bytes(onnx_bytes or export_onnx(model, input_shape))
        quantization.quant_pre_process(str(source), str(prepared))
        quantization.quantize_static(
            str(prepared), str(target), _Calibration("images", calibration),
            quant_format=quantization.QuantFormat.QDQ, per_channel=True,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8,
        )  # fmt: skip
        return OnnxModel(target.read_bytes(), model, "onnxruntime-int8")


def runtimes(model: nn.Module, input_shape, calibration: torch.Tensor) -> dict[str, nn.Module]:
    """``model`` in each of RUNTIMES: itself (eager PyTorch), in ONNX Runtime, and int8."""
    onnx_bytes = export_onnx(model, input_shape)
    return {
        "eager": model,
        "onnxruntime": OnnxModel(onnx_bytes, model, "onnxruntime"),
        "onnxruntime-int8": quantize_int8(model, input_shape, calibration, onnx_bytes),
    }
