"""ONNX export and ONNX Runtime: every model family reproduces PyTorch's outputs; int8 through
ONNX Runtime's quantization; the runtimes timed through costs.compare like any model."""

import copy
import warnings

import pytest
import torch
from artifacts.cases import FAMILIES, SHAPE, lc_result
from factories import labelled_by, small_fashion_cnn

from course_lib import artifacts, costs
from course_lib.costs import timing as costs_timing
from course_lib.errors import CourseError
from course_lib.models import build_model

MODELS = {
    **FAMILIES,
    "lc pruned": lambda: lc_result("pruned").compressed_model(),
    "lc ternary": lambda: lc_result("ternary").compressed_model(),
    "lenet5": lambda: build_model("lenet5", (1, 28, 28)).eval(),
}


@pytest.mark.parametrize("family", MODELS)
def test_onnx_runtime_reproduces_each_family_loaded_from_its_file(family, tmp_path):
    model = MODELS[family]()
    shape = (1, 28, 28) if family == "lenet5" else SHAPE
    artifacts.save(tmp_path / "m.clm", model, input_shape=shape)
    loaded = artifacts.load(tmp_path / "m.clm")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        onnx_bytes = artifacts.export_onnx(loaded, shape)
    assert not [w for w in caught if issubclass(w.category, DeprecationWarning | FutureWarning)]
    runner = artifacts.OnnxModel(onnx_bytes, loaded, "onnxruntime")
    for batch in (1, 7):  # the batch size is free
        x = torch.randn(batch, *shape)
        torch.testing.assert_close(runner(x), model(x), rtol=1e-4, atol=1e-5)


def test_an_onnx_model_runs_on_torchs_threads_and_copies_without_its_sessions():
    net = small_fashion_cnn()
    runner = artifacts.OnnxModel(artifacts.export_onnx(net, SHAPE), net, "onnxruntime")
    x = torch.randn(3, *SHAPE)
    with costs.torch_threads(2):
        out = runner(x)
    assert list(runner._sessions) == [2]
    twin = copy.deepcopy(runner)
    assert twin._sessions == {} and twin.eager is net and torch.equal(twin(x), out)
    assert not list(runner.parameters())  # the eager model is not a submodule


def test_int8_is_smaller_and_close_to_float32():
    torch.manual_seed(0)
    net = build_model("lenet300", SHAPE).eval()
    data = labelled_by(net, n=256, shape=SHAPE)
    images = next(iter(data.loader("train", 256)))[0]
    made = artifacts.runtimes(net, SHAPE, images)
    assert list(made) == list(artifacts.RUNTIMES) and made["eager"] is net
    int8, fp32 = made["onnxruntime-int8"], made["onnxruntime"]
    assert int8.runtime == "onnxruntime-int8" and len(int8.onnx_bytes) < len(fp32.onnx_bytes) / 3
    agree = (int8(images).argmax(1) == net(images).argmax(1)).float().mean()
    assert agree > 0.9
    with pytest.raises(CourseError, match="calibration must be a batch"):
        artifacts.quantize_int8(net, SHAPE, images[0])


def test_compare_times_another_runtime_once_and_counts_its_eager_model(monkeypatch):
    net = small_fashion_cnn()
    runner = artifacts.OnnxModel(artifacts.export_onnx(net, SHAPE), net, "onnxruntime")
    backends = []
    real = costs_timing.median_pass_s

    def spy(model, x, repeats, warmup, backend):
        backends.append((getattr(model, "runtime", "eager"), backend))
        return real(model, x, repeats, warmup, backend)

    monkeypatch.setattr(costs_timing, "median_pass_s", spy)
    table = costs.compare(
        {"eager": net, "ort": runner}, SHAPE, batch_size=4, repeats=1, warmup=0, rounds=1,
        threads=1, memory=True,
    )  # fmt: skip
    assert backends == [("eager", "onednn"), ("eager", "native"), ("onnxruntime", None)]
    assert table.loc["ort", "params"] == table.loc["eager", "params"] == costs.count_params(net)
    assert table.loc["ort", "flops"] == table.loc["eager", "flops"] > 0
    assert list(table["runtime"]) == ["eager", "onnxruntime"]
    assert table.loc["ort", "conv_backend"] == "onnxruntime"
    assert table.loc["eager", "memory_mb"] > 0 and table["memory_mb"].isna().tolist() == [
        False,
        True,
    ]


def test_runtime_table_has_each_model_in_each_runtime(tmp_path):
    net = small_fashion_cnn()
    smaller = small_fashion_cnn(c1=2, f1=4)
    data = labelled_by(net, n=96, shape=SHAPE)
    kept = artifacts.save(tmp_path / "given.clm", smaller, dense="float16")
    table = artifacts.runtime_table(
        {"original": net, "smaller": smaller}, data, folder=tmp_path, files={"smaller": kept},
        calibration=64, batch_size=8, repeats=1, warmup=0, rounds=1, threads=1,
    )  # fmt: skip
    assert list(zip(table.model, table.runtime, strict=True)) == [
        (m, r) for m in ("original", "smaller") for r in artifacts.RUNTIMES
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given.clm", "original.clm"]
    assert (table.file_bytes[table.model == "smaller"] == kept["bytes"]).all()
    first = table.iloc[0]
    assert first.ratio_on_disk == 4 * costs.count_params(net) / first.file_bytes
    assert (table.accuracy[table.model == "original"].iloc[:2] == 1.0).all()
    assert (table.speedup_vs_eager[table.runtime == "eager"] == 1.0).all()
    assert table.onnx_bytes.isna().tolist() == [True, False, False] * 2
    assert (table.batch_size == 8).all() and (table.ms_per_image > 0).all()
