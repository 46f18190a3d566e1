"""Model files: every compression type and model family saved and loaded back with the same
weights (bit for bit) and outputs, at the size the ledger counts plus the header."""

import math

import pytest
import torch
from artifacts.cases import FAMILIES, LC_SPECS, SHAPE, lc_result
from factories import labelled_by

from course_lib import artifacts, costs, lc
from course_lib.artifacts import bits, codecs
from course_lib.artifacts.format import PREFIX
from course_lib.errors import CourseError
from course_lib.models import build_model


def same_weights(a, b) -> bool:
    one, two = a.state_dict(), b.state_dict()
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


@pytest.mark.parametrize("kind", LC_SPECS)
def test_each_lc_compression_loads_back_bit_exact_at_the_ledgers_size(kind, tmp_path):
    result = lc_result(kind)
    info = result.save(tmp_path / "net.clm", input_shape=SHAPE)
    loaded, compressed = artifacts.load(tmp_path / "net.clm"), result.compressed_model()
    x = torch.randn(5, *SHAPE)
    assert same_weights(loaded, compressed) and torch.equal(loaded(x), compressed(x))
    # the payload is the ledger's bits, each packed part padded to a whole byte (at most 7 bits)
    parts = sum(len(r["tensors"]) for r in info["records"])  # at most one packed part a tensor
    padding = 8 * info["payload_bytes"] - result.storage["compressed_bits"]
    assert 0 <= padding < 8 * 2 * parts
    assert info["bytes"] == PREFIX.size + info["header_bytes"] + info["payload_bytes"]
    assert info["meta"]["compressed_bits"] == result.storage["compressed_bits"]


def test_the_encodings_follow_the_compressions(tmp_path):
    kinds = {
        kind: [r["encoding"] for r in lc_result(kind).save(tmp_path / f"{i}.clm")["records"]]
        for i, kind in enumerate(["pruned", "binary", "low-rank", "additive"])
    }
    assert kinds["pruned"] == ["sparse", "dense"]  # one joint task, then every bias
    assert kinds["binary"] == ["codebook"] * 4 + ["dense"]
    assert kinds["low-rank"] == ["dense"]  # split in two layers: the factors are the weights
    assert kinds["additive"][:3] == ["sum"] * 3


def test_lenet300_at_k2_is_28_times_smaller_than_its_float32_state_dict(tmp_path):
    torch.manual_seed(0)
    net = build_model("lenet300").eval()
    result = lc.direct_compression(
        net, lc.task_map(net, {"all": lc.Quantize(2)}), labelled_by(net, shape=(1, 28, 28))
    )
    assert round(result.ratio, 1) == 30.5
    torch.save(net.state_dict(), tmp_path / "dense.pt")
    info = result.save(tmp_path / "k2.clm", input_shape=(1, 28, 28))
    dense_file = (tmp_path / "dense.pt").stat().st_size
    assert dense_file / info["bytes"] >= 28
    assert info["header_bytes"] < 1500 and info["payload_bytes"] * 8 - 7 * 3 <= 279_512
    loaded = artifacts.load(tmp_path / "k2.clm")
    assert all(len(torch.unique(loaded.get_submodule(f"fc{i}").weight)) == 2 for i in (1, 2, 3))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_model_family_round_trips(family, tmp_path):
    model = FAMILIES[family]()
    info = artifacts.save(tmp_path / "m.clm", model, input_shape=SHAPE)
    loaded = artifacts.load(tmp_path / "m.clm")
    x = torch.randn(4, *SHAPE)
    assert same_weights(loaded, model) and torch.equal(loaded(x), model(x))
    assert not loaded.training and all(p.requires_grad for p in loaded.parameters())
    dense = 4 * sum(t.numel() for t in model.state_dict().values() if t.dtype == torch.float32)
    assert info["payload_bytes"] == dense + 8 * sum(
        t.dtype == torch.int64 for t in model.state_dict().values()
    )  # float32 tensors, and the batch norms' int64 counters


def test_float16_halves_the_dense_tensors_and_keeps_outputs_close(tmp_path):
    model = FAMILIES["structured"]()
    full = artifacts.save(tmp_path / "32.clm", model)
    half = artifacts.save(tmp_path / "16.clm", model, dense="float16")
    assert half["payload_bytes"] * 2 == full["payload_bytes"]
    loaded = artifacts.load(tmp_path / "16.clm")
    assert loaded.fc1.weight.dtype == torch.float32
    assert torch.equal(loaded.fc1.weight, model.fc1.weight.half().float())
    x = torch.randn(4, *SHAPE)
    torch.testing.assert_close(loaded(x), model(x), rtol=1e-2, atol=1e-2)


def test_a_theta_must_give_the_weights_and_is_stored_dense_where_that_is_smaller(tmp_path):
    net = build_model("lenet300", SHAPE).eval()
    wrong = artifacts.Codebook(torch.tensor([-1.0, 1.0]), torch.zeros(300 * 144).long(), 2)
    with pytest.raises(CourseError, match="does not give the model's weights"):
        artifacts.save(tmp_path / "a.clm", net, {"fc1.weight": wrong})
    assert not (tmp_path / "a.clm").exists()
    net.fc3.bias.data.fill_(-1.0)
    codebook = artifacts.Codebook(torch.linspace(-1, 1, 64), torch.zeros(10).long(), 64)
    info = artifacts.save(tmp_path / "b.clm", net, {"fc3.bias": codebook})
    assert [r["encoding"] for r in info["records"]] == ["dense"]  # 64 floats > the 10 biases


def test_saving_refuses_bad_requests_and_never_overwrites(tmp_path):
    net = build_model("lenet300", SHAPE)
    path = tmp_path / "net.clm"
    artifacts.save(path, net)
    before = path.read_bytes()
    with pytest.raises(CourseError, match="exists"):
        artifacts.save(path, net)
    assert path.read_bytes() == before
    with pytest.raises(CourseError, match="dense"):
        artifacts.save(tmp_path / "x.clm", net, dense="int8")
    with pytest.raises(CourseError, match="each key must name"):
        artifacts.save(tmp_path / "x.clm", net, {"fc9.weight": None})
    branched = lc_result("quantized").compressed_model()
    branched.relu1 = torch.nn.GELU()
    with pytest.raises(CourseError, match="Cannot save a GELU"):
        artifacts.save(tmp_path / "x.clm", branched)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.clm"]


def test_the_sparse_coding_is_the_ledgers_bit_for_bit():
    mask = torch.zeros(3000, dtype=torch.bool)
    mask[[0, 5, 6, 700, 2999]] = True  # runs of 0, 4, 0, 693 and 2298 zeros
    values = torch.arange(1.0, 6.0)
    fields, blob = codecs.encode(artifacts.Sparse(mask, values), [[3000]])
    b, entries = fields["segments"][0]
    assert (b, entries) == costs.index_coding(mask)
    assert entries == 5 + (693 >> b) + (2298 >> b)  # fillers for the long runs
    assert 8 * len(blob) - costs.pruned_bits(mask) < 8
    decoded = codecs.decode(fields, blob, [[3000]])
    assert torch.equal(decoded[mask], values) and int((decoded != 0).sum()) == 5


def test_bit_packing_round_trips_every_width():
    generator = torch.Generator().manual_seed(0)
    for width in range(1, 17):
        values = torch.randint(0, 2**width, (101,), generator=generator).numpy()
        packed = bits.pack(values, width)
        assert len(packed) == math.ceil(101 * width / 8)
        assert (bits.unpack(packed, 101, width) == values).all()
