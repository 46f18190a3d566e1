import json

import pytest
import torch

from course_lib.checkpoints import (
    load_checkpoint,
    reference_config,
    reference_model,
    save_checkpoint,
    tuned_reference,
)
from course_lib.data import load_data
from course_lib.errors import CourseError
from course_lib.models import build_model
from course_lib.train import TrainConfig


def test_round_trip_keeps_outputs_and_config(tmp_path):
    net, config = build_model("lenet5"), TrainConfig(model="lenet5")
    save_checkpoint(tmp_path / "a.pt", net, config, {"test_accuracy": 0.5}, (1, 28, 28))
    loaded, record = load_checkpoint(tmp_path / "a.pt")
    x = torch.randn(3, 1, 28, 28)
    assert torch.equal(net.eval()(x), loaded.eval()(x))
    assert record["config"] == config and record["metrics"]["test_accuracy"] == 0.5


def test_existing_checkpoints_are_never_overwritten(tmp_path):
    args = (build_model("lenet300"), TrainConfig(), {}, (1, 28, 28))
    save_checkpoint(tmp_path / "a.pt", *args)
    with pytest.raises(CourseError, match="already exists"):
        save_checkpoint(tmp_path / "a.pt", *args)
    assert not list(tmp_path.glob("*.tmp"))


def test_a_checkpoint_that_does_not_fit_the_model_is_refused(tmp_path):
    save_checkpoint(
        tmp_path / "a.pt",
        build_model("fashion_cnn"),
        TrainConfig(model="fashion_cnn"),
        {},
        (1, 28, 28),
    )
    with pytest.raises(CourseError, match="do not fit"):
        load_checkpoint(tmp_path / "a.pt", build_model("fashion_cnn", c1=4))
    (tmp_path / "b.pt").write_bytes(b"junk")
    with pytest.raises(CourseError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "b.pt")


def test_reference_model_trains_once_then_loads_the_same_weights(data_root, tmp_path):
    data = load_data("mnist", data_root, val_size=20)
    config = TrainConfig(model="lenet300", dataset="mnist", epochs=1, batch_size=25)
    first, record = reference_model(config, data, cache=tmp_path, progress=False)
    second, again = reference_model(config, data, cache=tmp_path, progress=False)
    assert (record["cached"], again["cached"]) == (False, True)
    assert all(
        torch.equal(a, b) for a, b in zip(first.parameters(), second.parameters(), strict=True)
    )
    assert (
        again["history"].epochs["val_accuracy"].tolist()
        == record["history"].epochs["val_accuracy"].tolist()
    )
    other, fresh = reference_model(
        TrainConfig(**{**config.__dict__, "lr": 0.02}), data, tmp_path, False
    )
    assert not fresh["cached"]


def test_a_reference_trained_twice_has_the_same_weights_whatever_the_random_state(
    data_root, tmp_path
):
    """The config's seed fixes the initial weights too, not only the training order."""
    data = load_data("mnist", data_root, val_size=20)
    config = TrainConfig(model="lenet300", dataset="mnist", epochs=1, batch_size=25)
    models = []
    for state in (1, 2):
        torch.manual_seed(state)  # as another process would start
        models.append(reference_model(config, data, tmp_path / str(state), False)[0])
    assert all(torch.equal(a, b) for a, b in zip(*(m.parameters() for m in models), strict=True))


def test_a_diverging_reference_is_not_cached(data_root, tmp_path):
    data = load_data("mnist", data_root, val_size=20)
    config = TrainConfig(model="lenet300", dataset="mnist", epochs=2, lr=1e4, batch_size=25)
    with pytest.raises(CourseError, match="diverged"):
        reference_model(config, data, cache=tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.pt"))


def test_reference_config_merges_model_profile_and_overrides():
    config = reference_config("lenet300", "fashion-mnist", "smoke", lr=0.05, momentum=None)
    assert (config.epochs, config.subset, config.lr, config.momentum) == (1, 2048, 0.05, 0.9)
    with pytest.raises(CourseError, match="No reference training"):
        reference_config("alexnet", "fashion-mnist")


class Payload:
    """What a hostile checkpoint holds: unpickling it creates the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_checkpoint_carrying_code_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    net = build_model("lenet300")
    payload = {"format": 1, "config": Payload(marker), "state_dict": net.state_dict()}
    torch.save(payload, tmp_path / "hostile.pt")
    torch.load(tmp_path / "hostile.pt", weights_only=False)  # a plain load runs the code ...
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CourseError) as err:
        load_checkpoint(tmp_path / "hostile.pt")
    first = str(err.value).splitlines()[0]
    assert first == (
        f"{tmp_path / 'hostile.pt'} is not a readable checkpoint: delete it (a cached reference "
        "is then trained again) or replace it."
    )
    assert not marker.exists()  # ... the kit's never does


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2, 3],
        {"format": 1},
        {"format": 2, "config": {}, "input_shape": [1], "metrics": {}, "state_dict": {}},
        {"format": 1, "config": {"model": "x"}, "input_shape": [], "metrics": {}, "state_dict": {}},
        {"format": 1, "config": {"lr": "x"}, "input_shape": [], "metrics": {}, "state_dict": {}},
        {"format": 1, "config": {}, "input_shape": [], "metrics": {}, "state_dict": [1]},
    ],
)
def test_a_foreign_or_incomplete_payload_is_refused_naming_the_file(tmp_path, payload):
    torch.save(payload, tmp_path / "odd.pt")
    with pytest.raises(CourseError, match=r"odd.pt (is not a course_lib checkpoint|records a)"):
        load_checkpoint(tmp_path / "odd.pt")


def test_a_cached_reference_for_another_model_is_refused_not_returned(data_root, tmp_path):
    """A LeNet-300 checkpoint under the file name of the Fashion CNN's reference."""
    data = load_data("mnist", data_root, val_size=20)
    asked = TrainConfig(model="fashion_cnn", dataset="mnist", epochs=1, batch_size=25)
    path = tmp_path / "models" / f"fashion_cnn-mnist-{asked.key()}.pt"
    path.parent.mkdir()
    other = TrainConfig(model="lenet300", dataset="mnist", epochs=1, batch_size=25)
    save_checkpoint(path, build_model("lenet300"), other, {}, (1, 28, 28))
    with pytest.raises(CourseError) as err:
        reference_model(asked, data, cache=tmp_path, progress=False)
    assert str(err.value) == (
        f"{path} holds a lenet300 on mnist trained with model='lenet300', where "
        "model='fashion_cnn' was asked for: delete the file (the reference is then trained again)."
    )
    lr = TrainConfig(model="fashion_cnn", dataset="mnist", epochs=1, batch_size=25, lr=0.5)
    path.unlink()
    save_checkpoint(path, build_model("fashion_cnn"), lr, {}, (1, 28, 28))
    with pytest.raises(CourseError, match="trained with lr=0.5, where lr=0.01 was asked for"):
        reference_model(asked, data, cache=tmp_path, progress=False)


def test_a_model_cache_that_cannot_be_written_is_refused_before_training(
    data_root, tmp_path, monkeypatch
):
    def never(*args, **kwargs):
        raise AssertionError("trained although the result could not be saved")

    monkeypatch.setattr("course_lib.checkpoints.fit", never)
    (tmp_path / "cache").write_text("a file, not a folder")
    config = TrainConfig(model="lenet300", dataset="mnist", epochs=1)
    data = load_data("mnist", data_root, val_size=20)
    with pytest.raises(CourseError, match=r"The model cache \(\$COURSE_CACHE\) .* is not a folder"):
        reference_model(config, data, cache=tmp_path / "cache", progress=False)


def _saved(tmp_path, name="a.pt", model="lenet300", dataset="mnist"):
    net = build_model(model)
    config = TrainConfig(model=model, dataset=dataset, lr=0.03)
    return net, save_checkpoint(tmp_path / name, net, config, {"test_accuracy": 0.7}, (1, 28, 28))


def test_tuned_reference_loads_a_checkpoint_or_the_one_a_run_folder_names(tmp_path):
    net, path = _saved(tmp_path)
    assert tuned_reference(None, "lenet300", "mnist") is None
    loaded, record = tuned_reference(str(path), "lenet300", "mnist")
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(net.eval()(x), loaded(x)) and not loaded.training
    assert record["config"].lr == 0.03 and record["path"] == str(path)
    run = tmp_path / "run" / "01_training"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"model": "lenet300", "reference": str(path)}))
    again, record = tuned_reference(run, "lenet300", "mnist")
    assert torch.equal(again(x), loaded(x)) and record["metrics"]["test_accuracy"] == 0.7


def test_tuned_reference_refuses_what_is_no_tuned_net_of_the_notebook(tmp_path):
    _, path = _saved(tmp_path)
    with pytest.raises(CourseError, match="does not exist: give a notebook-01 run folder"):
        tuned_reference(tmp_path / "missing.pt", "lenet300", "mnist")
    with pytest.raises(CourseError, match="folder without a notebook-01 metrics.json"):
        tuned_reference(tmp_path, "lenet300", "mnist")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CourseError, match="not a readable checkpoint"):
        tuned_reference(tmp_path / "junk.pt", "lenet300", "mnist")
    with pytest.raises(CourseError, match="holds a lenet300 trained on mnist, but this notebook"):
        tuned_reference(path, "lenet5", "mnist")
    with pytest.raises(CourseError, match="dataset='fashion-mnist'"):
        tuned_reference(path, "lenet300", "fashion-mnist")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"reference": str(tmp_path / "gone.pt")}))
    with pytest.raises(CourseError, match="no longer exists"):
        tuned_reference(run, "lenet300", "mnist")


def test_reference_model_reads_its_data_from_data_dir(data_root, tmp_path, monkeypatch):
    """Without a bundle the reference trains on the dataset in data_dir, not on $COURSE_DATA's
    (an empty folder here: read there, the training would fail)."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("COURSE_DATA", str(empty))
    monkeypatch.setenv("COURSE_NETWORK_TIMEOUT", "0.01")
    config = TrainConfig(model="lenet300", dataset="mnist", epochs=1, batch_size=25, val_size=20)
    cache = tmp_path / "cache"
    _, record = reference_model(config, cache=cache, progress=False, data_dir=data_root)
    assert record["cached"] is False and record["history"].final["epochs"] == 1
    assert list(empty.iterdir()) == []


def test_a_notebook_normalises_its_data_as_its_reference_was_trained(tmp_path):
    from course_lib.checkpoints import tuned_normalize

    config = TrainConfig(model="lenet300", dataset="mnist", epochs=1, normalize="center")
    tuned = (None, {"config": config})
    assert tuned_normalize(None) == "standardize"
    assert tuned_normalize(None, "center") == "center"
    assert tuned_normalize(tuned) == tuned_normalize(tuned, "center") == "center"
    with pytest.raises(CourseError, match="trained on 'center' inputs: set normalize='center'"):
        tuned_normalize(tuned, "standardize")
