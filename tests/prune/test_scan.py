"""The sensitivity scan: its values, its cache on disk, the weights it splits for histograms."""

import pytest
import torch
from factories import labelled_by, small_fashion_cnn
from prune.cases import with_distinct_weights

from course_lib import prune
from course_lib.errors import CourseError
from course_lib.prune import scan as scan_module

torch.set_num_threads(1)


def test_scan_values_and_cache(tmp_path, monkeypatch):
    model = small_fashion_cnn(seed=1)
    data = labelled_by(model, n=96)
    scan = prune.sensitivity_scan(model, data, [0.5, 0.0, 1.0], cache=tmp_path)
    assert scan.rates == [0.0, 0.5, 1.0]
    assert scan.curves == ["conv1", "conv2", "fc1", "fc2", prune.ALL_LAYERS]
    assert scan.baseline == 1.0
    assert all(scan.accuracy_at(curve, 0.0) == 1.0 for curve in scan.curves)
    # fc2 with every weight removed predicts argmax(bias) for every image
    constant = int(model.fc2.bias.argmax())
    assert scan.accuracy_at("fc2", 1.0) == (data.val.labels == constant).float().mean().item()
    assert list(scan.table().columns) == scan.curves

    def no_evaluation(*args):
        raise AssertionError("a cached scan must not evaluate")

    monkeypatch.setattr(scan_module, "evaluate", no_evaluation)
    again = prune.sensitivity_scan(model, data, [0.0, 0.5, 1.0], cache=tmp_path)
    assert again.accuracy == scan.accuracy and again.key == scan.key
    (tmp_path / "scans" / f"{scan.key}.json").write_text("{not json")
    with pytest.raises(AssertionError):  # a damaged cache file is scanned again
        prune.sensitivity_scan(model, data, [0.0, 0.5, 1.0], cache=tmp_path)
    with pytest.raises(AssertionError):  # other weights: another key, so a fresh scan
        prune.sensitivity_scan(small_fashion_cnn(seed=2), data, [0.0, 0.5, 1.0], cache=tmp_path)


def test_scan_weight_split_matches_the_pruned_layer(tmp_path):
    model = with_distinct_weights(small_fashion_cnn())
    data = labelled_by(model, n=32)
    scan = prune.sensitivity_scan(model, data, [0.0, 0.25, 0.7], cache=tmp_path)
    kept, removed = scan.weight_split("fc1", 0.7)
    pruned = prune.magnitude_prune(model, 0.7, layers=["fc1"]).fc1.weight
    assert sorted(kept.tolist()) == sorted(pruned[pruned != 0].tolist())
    assert len(removed) == round(0.7 * model.fc1.weight.numel())
    assert abs(removed).max() < abs(kept).min()
    kept_all, removed_all = scan.weight_split(prune.ALL_LAYERS, 0.25)
    assert len(kept_all) + len(removed_all) == sum(
        m.weight.numel() for m in prune.weight_layers(model).values()
    )
    with pytest.raises(CourseError, match="no rate"):
        scan.accuracy_at("fc1", 0.3)
    with pytest.raises(CourseError, match="no curve"):
        scan.weight_split("conv7", 0.25)


def test_scan_refuses_bad_input_before_work(tmp_path):
    model = small_fashion_cnn()
    data = labelled_by(model, n=8)
    for bad in ([], [0.2, 2.0], "0.5"):
        with pytest.raises(CourseError):
            prune.sensitivity_scan(model, data, bad, cache=tmp_path)
    with pytest.raises(CourseError):
        prune.sensitivity_scan(model, data, [0.5], split="training", cache=tmp_path)
