"""Tucker-2 over a model: the k sweep (accuracy, FLOPs, time, fine-tuning), curves, figures."""

from collections import OrderedDict
from dataclasses import replace

import matplotlib
import pytest
import torch
from torch import nn

from course_lib import costs, plots, tucker
from course_lib.data import DataBundle, Split
from course_lib.errors import CourseError
from course_lib.train import TrainConfig

matplotlib.use("Agg")


def tiny_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 4, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(4, 8, 3, padding=1),
            relu2=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv3=nn.Conv2d(8, 8, 3, stride=2, padding=1),
            relu3=nn.ReLU(),
            flatten=nn.Flatten(),
            fc1=nn.Linear(8 * 3 * 3, 10),
        )
    ).eval()


def labelled_by(model, n=64, seed=0, shape=(1, 12, 12)):
    """Random images labelled by ``model`` itself: its accuracy on every split is exactly 1."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)
    unlabelled = Split(images, torch.zeros(n, dtype=torch.long))
    classes = tuple(str(k) for k in range(10))
    data = DataBundle("fashion-mnist", unlabelled, unlabelled, unlabelled, (0.5,), (0.25,), classes)
    with torch.no_grad():
        labels = model(next(iter(data.loader("train", n)))[0]).argmax(1)
    split = Split(images, labels)
    return replace(data, train=split, val=split, test=split)


TIMING = dict(rounds=2, batch_size=4, repeats=1, warmup=0)


@pytest.fixture(scope="module")
def sweep():
    model = tiny_cnn()
    data = labelled_by(model)
    config = TrainConfig(model="fashion_cnn", epochs=1, batch_size=16, lr=0.05, device="cpu")
    result = tucker.rank_sweep(
        model, data, [1, 4, 8], fine_tune=config, fine_tune_ks=[1], timing=TIMING
    )
    return model, data, result


def test_sweep_rows_and_full_rank_row(sweep):
    model, data, result = sweep
    table = result.table
    assert list(table.model) == ["original", "k=1", "k=4", "k=8"]
    assert table.accuracy.iloc[0] == 1.0  # the labels are the original's predictions
    full = table.set_index("model").loc["k=8"]
    assert full.accuracy == 1.0 and full.weight_error < 1e-6 and full.output_error < 1e-5
    assert full.flop_ratio < 1  # three convs at full rank cost more than one
    assert table.flops.iloc[0] == costs.count_flops(model, data.input_shape)
    assert table.params.iloc[1] == costs.count_params(result.models[1])
    assert (table.seconds_per_image > 0).all() and (table.speedup > 0).all()


def test_sweep_costs_and_errors_fall_with_k(sweep):
    _, _, result = sweep
    rows = result.table.iloc[1:]
    assert rows.flops.is_monotonic_increasing
    assert rows.weight_error.is_monotonic_decreasing
    assert rows.flop_ratio.iloc[0] > 1.5  # k = 1: ranks 1 of 8 of the channels
    layers = result.layers
    assert list(layers[layers.k == 1].layer) == ["conv2", "conv3"]
    ranks = list(zip(layers.k, layers.R1, layers.R2, strict=True))
    assert ranks == [(1, 1, 1), (1, 1, 1), (4, 2, 4), (4, 4, 4), (8, 4, 8), (8, 8, 8)]


def test_only_the_chosen_k_are_fine_tuned_and_the_original_is_untouched(sweep):
    model, data, result = sweep
    table = result.table.set_index("model")
    assert table.accuracy_tuned.notna().tolist() == [False, True, False, False]
    assert table.loc["k=1", "accuracy_tuned_change"] == pytest.approx(
        table.loc["k=1", "accuracy_tuned"] - 1.0
    )
    untouched, _ = tucker.decompose_model(model, fraction=1 / 8)
    tuned = result.models[1]
    assert not torch.equal(tuned.conv2.core.weight, untouched.conv2.core.weight)
    assert torch.equal(model.conv2.weight, tiny_cnn().conv2.weight)


def test_sweep_refuses_bad_ks_before_any_work():
    model = tiny_cnn()
    data = labelled_by(model, n=8)
    with pytest.raises(CourseError, match="k of 8"):
        tucker.rank_sweep(model, data, [0, 4])
    with pytest.raises(CourseError, match="k of 8"):
        tucker.rank_sweep(model, data, [])
    config = TrainConfig(model="fashion_cnn", epochs=1)
    with pytest.raises(CourseError, match="among ks"):
        tucker.rank_sweep(model, data, [4], fine_tune=config, fine_tune_ks=[2])


def test_forward_times_cover_every_model_and_leave_them_as_they_were():
    model = tiny_cnn()
    times = tucker.forward_times(
        {"a": model, "b": tiny_cnn(1)}, (1, 12, 12), channels_last=True, **TIMING
    )
    assert set(times) == {"a", "b"} and all(0 < t < 1 for t in times.values())
    assert model.conv2.weight.is_contiguous()
    with pytest.raises(CourseError, match="rounds"):
        tucker.forward_times({"a": model}, (1, 12, 12), rounds=0)


def test_reconstruction_curves_hold_one_rank_full():
    conv = tiny_cnn().conv2
    inputs = torch.randn(2, 4, 6, 6)
    curves = tucker.reconstruction_curves(conv, inputs=inputs)
    by_r1 = curves[curves.varied == "R1"]
    assert list(by_r1["rank"]) == [1, 2, 3, 4] and set(by_r1.R2) == {8}
    assert by_r1.weight_error.is_monotonic_decreasing and by_r1.weight_error.iloc[-1] < 1e-6
    assert curves.output_error.iloc[-1] < 1e-5
    # with R1 full the Tucker-2 error is the discarded energy of the output unfolding
    _, out_spectrum = tucker.unfolding_spectra(conv.weight)
    by_r2 = curves[curves.varied == "R2"].set_index("rank")
    tail = (out_spectrum[3:].square().sum() / out_spectrum.square().sum()).sqrt()
    assert by_r2.loc[3, "weight_error"] == pytest.approx(float(tail), rel=1e-5)
    spaced = tucker.reconstruction_curves(conv, points=3)
    assert list(spaced["rank"]) == [1, 2, 4, 1, 4, 8]  # rounds half to even: 2.5 -> 2, 4.5 -> 4


def test_compare_methods_table():
    weight = torch.randn(12, 10, 3, 3, generator=torch.Generator().manual_seed(0))
    table = tucker.compare_methods(weight, [1, 4, 8])
    assert list(zip(table.R1, table.R2, strict=True)) == [(2, 2), (5, 6), (10, 12)]
    assert (table.hooi <= table.hosvd + 1e-6).all() and table.hooi.iloc[-1] < 1e-6


def test_tucker_figures_draw(sweep):
    _, _, result = sweep
    curves = tucker.reconstruction_curves(tiny_cnn().conv2, inputs=torch.randn(2, 4, 6, 6))
    fig = plots.tucker_reconstruction(curves)
    assert len(fig.axes[0].lines) == 4  # weights and outputs, R1 and R2 varied
    fig = plots.tucker_accuracy(result.table)
    assert len(fig.axes[0].lines) == 3  # decomposed, fine-tuned, original
    fig = plots.tucker_forward_time(result.table)
    assert [len(ax.lines) for ax in fig.axes] == [2, 3]
