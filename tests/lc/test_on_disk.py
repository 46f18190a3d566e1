"""LC results as model files: θ handed to the file in the form the ledger counts, the file's
size beside the ledger, the loaded net as good as the run's."""

import torch
from factories import labelled_by, tiny_cnn

from course_lib import artifacts, lc


def test_each_compression_hands_its_theta_in_the_neutral_form():
    w = torch.tensor([0.5, -0.2, 0.0, 0.9, -0.7, 0.1])
    prune, quantize, ternary = lc.Prune(kappa=2), lc.Quantize(2), lc.Ternarize()
    delta = prune.project(w, 0.0)
    sparse = prune.theta(delta)
    assert sparse.mask.tolist() == [False, False, False, True, True, False]
    assert torch.equal(sparse.values, w[[3, 4]])
    assert not torch.signbit(delta[~sparse.mask]).any()  # pruned weights are +0.0, as decoded
    codebook = quantize.theta(quantize.project(w, 0.0))
    assert codebook.size == 2 and torch.equal(
        codebook.entries[codebook.indices], quantize.project(w, 0.0)
    )
    scaled = ternary.theta(ternary.project(w, 0.0))
    assert (
        scaled.stored == "scale"
        and scaled.entries[1] == 0
        and scaled.entries[0] == -scaled.entries[2]
    )


def test_save_results_writes_a_file_per_run_at_the_ledgers_size(tmp_path):
    net = tiny_cnn()
    data = labelled_by(net, shape=(1, 12, 12))
    results = {
        name: lc.direct_compression(net, lc.task_map(net, spec), data)
        for name, spec in {
            "k = 2": {"all": lc.Quantize(2)},
            "5 %": {lc.joint("all"): lc.Prune(keep_fraction=0.05)},
        }.items()
    }
    table = lc.save_results(results, tmp_path / "models", data)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["5.clm", "k_2.clm"]
    assert (table.loaded_test_error == table.test_error).all()
    for row, result in zip(table.itertuples(), results.values(), strict=True):
        assert (
            row.ratio == result.ratio and row.ledger_bytes == result.storage["compressed_bits"] / 8
        )
        assert row.file_bytes == (tmp_path / "models" / row.file).stat().st_size
        assert 0 <= row.overhead_bytes - row.header_bytes - 18 < 5
        assert row.ratio_on_disk < row.ratio
        assert artifacts.inspect(tmp_path / "models" / row.file)["meta"]["ratio"] == result.ratio
