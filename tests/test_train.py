import copy
import hashlib
import json
from dataclasses import asdict
from unittest import mock

import pytest
import torch

from course_lib.data import load_data
from course_lib.errors import CourseError
from course_lib.models import build_model
from course_lib.train import (
    History,
    TrainConfig,
    accuracy,
    confusion_matrix,
    count_confusion,
    fit,
    sgd_epoch,
)


@pytest.fixture
def mnist(data_root):
    return load_data("mnist", data_root, val_size=20)


def config(**kw):
    return TrainConfig(**{"model": "lenet300", "dataset": "mnist", "batch_size": 25, **kw})


def test_fit_learns_a_learnable_task_and_records_every_step(mnist):
    torch.manual_seed(0)
    net = build_model("lenet300")
    history = fit(net, mnist, config(epochs=4, lr=0.05), progress=False)
    assert not history.diverged
    assert len(history.steps) == 4 * 4  # 100 training images in batches of 25
    assert list(history.epochs["epoch"]) == [1, 2, 3, 4]
    assert history.final["train_accuracy"] > 0.9
    assert history.final["val_accuracy"] > 0.8
    assert type(history.final["epoch"]) is int  # an epoch number, not 4.0, in metrics.json
    assert history.steps["loss"].iloc[-4:].mean() < history.steps["loss"].iloc[:4].mean()


def test_conv_training_in_channels_last_matches_the_default_layout_and_hands_back_contiguous(
    mnist,
):
    torch.manual_seed(0)
    fast_net = build_model("lenet5")
    plain_net = copy.deepcopy(fast_net)
    settings = config(model="lenet5", epochs=1, lr=0.05)
    fast = fit(fast_net, mnist, settings, progress=False)
    with mock.patch("course_lib.train.torch.channels_last", torch.contiguous_format):
        plain = fit(plain_net, mnist, settings, progress=False)
    assert fast.steps["loss"].tolist() == pytest.approx(plain.steps["loss"].tolist(), rel=1e-4)
    for p, q in zip(fast_net.parameters(), plain_net.parameters(), strict=True):
        assert p.is_contiguous() and torch.allclose(p, q, atol=1e-5)
    assert fast_net.conv2.weight.view(50, -1).shape == (50, 500)


def test_a_huge_learning_rate_is_reported_as_divergence_not_carried_on(mnist):
    net = build_model("lenet300")
    history = fit(net, mnist, config(epochs=3, lr=1e4, momentum=0.9), progress=False)
    assert history.diverged and "loss became" in history.divergence
    assert len(history.epochs) < 3
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_step_lr_multiplies_the_rate_by_gamma_every_step_size_epochs(mnist):
    history = fit(
        build_model("lenet300"), mnist, config(epochs=4, step_size=2, gamma=0.5), progress=False
    )
    assert list(history.epochs["lr"]) == [0.01, 0.01, 0.005, 0.005]


def test_confusion_matrix_agrees_with_accuracy(mnist):
    net = build_model("lenet300")
    fit(net, mnist, config(epochs=2, lr=0.05), progress=False)
    matrix = confusion_matrix(net, mnist, "test")
    assert matrix.sum() == len(mnist.test)
    assert matrix.trace() / matrix.sum() == pytest.approx(accuracy(net, mnist, "test"))
    assert (matrix.sum(axis=1) == torch.bincount(mnist.test.labels, minlength=10).numpy()).all()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lr": -1.0}, "lr must be"),
        ({"momentum": 1.5}, "momentum"),
        ({"nesterov": True, "momentum": 0.0}, "nesterov"),
        ({"model": "nope"}, "model must be"),
        ({"epochs": 0}, "epochs"),
    ],
)
def test_bad_configs_are_refused_before_training(settings, message):
    with pytest.raises(CourseError, match=message):
        TrainConfig(**settings)


def test_config_key_changes_with_settings_but_not_device():
    assert config().key() == config(device="cpu").key()
    assert config().key() != config(lr=0.02).key()
    assert config().key() != config(normalize="center").key()


def test_the_key_of_a_config_without_normalize_is_the_key_it_had_before_normalize_existed():
    """Cached references stay valid: the default normalisation does not enter the key."""
    outside_the_old_key = ("device", "val_every", "normalize")
    settings = {k: v for k, v in asdict(config()).items() if k not in outside_the_old_key}
    before = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    assert config().key() == before


def test_fit_refuses_data_normalised_otherwise_than_its_config(mnist):
    with pytest.raises(CourseError, match="'mnist'/'center' but the data is 'mnist'/'standardize'"):
        fit(build_model("lenet300"), mnist, config(normalize="center"), progress=False)


def test_fit_with_the_librarys_own_epoch_plugged_in_trains_and_records_the_same(mnist):
    """The plug-in path (a student's sgd_epoch) gives the history of fit's own loop: same steps,
    same epochs, the StepLR schedule stepped by the epoch function itself."""
    torch.manual_seed(0)
    net = build_model("lenet300")
    plugged_net = copy.deepcopy(net)
    settings = config(epochs=3, lr=0.05, step_size=1, gamma=0.5)
    own = fit(net, mnist, settings, progress=False)
    plugged = fit(plugged_net, mnist, settings, progress=False, epoch=sgd_epoch)
    assert own.steps.equals(plugged.steps)
    assert own.epochs.drop(columns="seconds").equals(plugged.epochs.drop(columns="seconds"))
    assert list(plugged.epochs["lr"]) == [0.05, 0.025, 0.0125]
    for p, q in zip(net.parameters(), plugged_net.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_plugged_epoch_that_diverges_is_stopped_before_its_backward_pass(mnist):
    torch.manual_seed(0)
    history = fit(build_model("lenet300"), mnist, config(lr=1e4, epochs=2), progress=False,
                  epoch=sgd_epoch)  # fmt: skip
    assert history.diverged and history.divergence.startswith("loss became")


def test_count_confusion_counts_true_class_by_row():
    labels, predicted = torch.tensor([0, 0, 2, 1]), torch.tensor([0, 2, 2, 2])
    assert count_confusion(labels, predicted, 4).tolist() == [
        [1, 0, 1, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0],
    ]  # fmt: skip


def test_confusion_matrix_takes_a_students_count(mnist):
    net = build_model("lenet300")
    transposed = confusion_matrix(net, mnist, "test", count=lambda *a: count_confusion(*a).T)
    assert (transposed == confusion_matrix(net, mnist, "test").T).all()


def test_validation_every_n_steps_is_recorded_and_leaves_the_weights_as_they_are(mnist):
    """val_every=3 evaluates the validation split after steps 3, 6, ... (16 steps in 4 epochs):
    the same weights and train steps as without it, the last row the epoch's validation figures."""
    torch.manual_seed(0)
    net = build_model("lenet300")
    probed_net = copy.deepcopy(net)
    plain = fit(net, mnist, config(epochs=4, lr=0.05), progress=False)
    probed = fit(probed_net, mnist, config(epochs=4, lr=0.05, val_every=3), progress=False)
    assert plain.val_steps.empty and list(probed.val_steps["step"]) == [3, 6, 9, 12, 15]
    assert probed.steps.equals(plain.steps)
    for p, q in zip(net.parameters(), probed_net.parameters(), strict=True):
        assert torch.equal(p, q)
    # after step 12 (the end of epoch 3) the validation figures are epoch 3's
    at_12 = probed.val_steps.set_index("step").loc[12]
    assert at_12["val_accuracy"] == probed.epochs.set_index("epoch").loc[3, "val_accuracy"]
    assert at_12["val_loss"] == pytest.approx(probed.epochs.set_index("epoch").loc[3, "val_loss"])
    assert config(val_every=3).key() == config().key()
    restored = History.from_dict(probed.to_dict())
    assert restored.val_steps.equals(probed.val_steps)
    assert History.from_dict({**plain.to_dict(), "val_steps": None}).val_steps.empty
    with pytest.raises(CourseError, match="set val_every=0"):
        fit(build_model("lenet300"), mnist, config(val_every=2), epoch=sgd_epoch)
    with pytest.raises(CourseError, match="val_every must be >= 0"):
        config(val_every=-1)
