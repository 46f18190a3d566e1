"""A student's own mask, importance and surgery plugged into pruning: the library's own
functions plugged in give the same masks, scans and trajectories; the scan's cache tells plug-ins
apart by their source."""

import torch
from factories import labelled_by, small_fashion_cnn

from course_lib import prune


def test_the_librarys_mask_plugged_in_prunes_the_same():
    model = small_fashion_cnn(seed=1)
    for scope in ("layer", "global"):
        own = prune.magnitude_prune(model, 0.6, scope=scope)
        plugged = prune.magnitude_prune(model, 0.6, scope=scope, mask=prune.magnitude_mask)
        for a, b in zip(own.parameters(), plugged.parameters(), strict=True):
            assert torch.equal(a, b)


def keep_all(w, rate):
    return torch.ones_like(w)


def test_the_scan_uses_the_mask_and_caches_it_under_its_source(tmp_path):
    model = small_fashion_cnn(seed=2)
    data = labelled_by(model, n=64)
    own = prune.sensitivity_scan(model, data, [0.0, 0.9], cache=tmp_path)
    plugged = prune.sensitivity_scan(model, data, [0.0, 0.9], cache=tmp_path, mask=keep_all)
    assert own.key != plugged.key and plugged.mask is keep_all
    assert all(curve == [1.0, 1.0] for curve in plugged.accuracy.values())
    assert min(own.accuracy["all layers"]) < 1.0
    kept, removed = plugged.weight_split("fc1", 0.9)
    assert len(removed) == 0
    again = prune.sensitivity_scan(model, data, [0.0, 0.9], cache=tmp_path, mask=keep_all)
    assert again.key == plugged.key and again.accuracy == plugged.accuracy
    assert len(list((tmp_path / "scans").glob("*.json"))) == 2

    unreadable = eval("lambda w, rate: torch.ones_like(w)")  # Python cannot find its source
    prune.sensitivity_scan(model, data, [0.0, 0.9], cache=tmp_path, mask=unreadable)
    assert len(list((tmp_path / "scans").glob("*.json"))) == 2  # not cached


def test_the_librarys_importance_and_surgery_plugged_in_prune_the_same():
    model = small_fashion_cnn(seed=5)
    data = labelled_by(model, n=64)
    settings = dict(accuracy_floor=0.0, max_removals=2, round_to={"fc1": 2}, progress=False)
    own = prune.structured_prune(model, data, **settings)
    plugged = prune.structured_prune(
        model, data, importance=prune.unit_importance, surgery=prune.remove_unit, **settings
    )
    assert own.trajectory.equals(plugged.trajectory)
    for a, b in zip(own.model.parameters(), plugged.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_reversed_importance_removes_the_strongest_units():
    model = small_fashion_cnn(seed=5)
    data = labelled_by(model, n=64)

    def strongest_first(layer, norm):
        return -prune.unit_importance(layer, norm)

    result = prune.structured_prune(
        model, data, layers=["fc1"], accuracy_floor=0.0, max_removals=1, progress=False,
        importance=strongest_first,
    )  # fmt: skip
    (removed,) = result.trajectory["removed_units"].iloc[-1]
    assert removed == int(prune.unit_importance(model.fc1).argmax())
