"""Tucker-2 studies: the k sweep (accuracy, FLOPs, time, finetuning), curves, methods, one
layer at chosen ranks, figures."""

import matplotlib
import pytest
import torch
from factories import labelled_by, tiny_cnn

from course_lib import costs, plots, tucker
from course_lib.errors import CourseError
from course_lib.train import TrainConfig

matplotlib.use("Agg")


TIMING = dict(rounds=2, batch_size=4, repeats=1, warmup=0)


@pytest.fixture(scope="module")
def sweep():
    model = tiny_cnn()
    data = labelled_by(model)
    config = TrainConfig(model="fashion_cnn", epochs=1, batch_size=16, lr=0.05, device="cpu")
    result = tucker.rank_study(
        model, data, [1, 4, 8], finetune=config, finetune_ks=[1], timing=TIMING
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


def test_only_the_chosen_k_are_finetuned_and_the_original_is_untouched(sweep):
    model, data, result = sweep
    table = result.table.set_index("model")
    assert table.accuracy_tuned.notna().tolist() == [False, True, False, False]
    assert table.loc["k=1", "accuracy_tuned_change"] == pytest.approx(
        table.loc["k=1", "accuracy_tuned"] - 1.0
    )
    untouched, _ = tucker.decompose_model(model, keep_fraction=1 / 8)
    tuned = result.models[1]
    assert not torch.equal(tuned.conv2.core.weight, untouched.conv2.core.weight)
    assert torch.equal(model.conv2.weight, tiny_cnn().conv2.weight)


def test_sweep_refuses_bad_ks_before_any_work():
    model = tiny_cnn()
    data = labelled_by(model, n=8)
    with pytest.raises(CourseError, match="k of 8"):
        tucker.rank_study(model, data, [0, 4])
    with pytest.raises(CourseError, match="k of 8"):
        tucker.rank_study(model, data, [])
    config = TrainConfig(model="fashion_cnn", epochs=1)
    with pytest.raises(CourseError, match="among ks"):
        tucker.rank_study(model, data, [4], finetune=config, finetune_ks=[2])


def test_the_sweep_timing_covers_every_model_and_leaves_them_as_they_were():
    # The sweep times its models with costs.compare: seconds per image = ms_per_image / 1000.
    model = tiny_cnn()
    table = costs.compare({"a": model, "b": tiny_cnn(1)}, (1, 12, 12), channels_last=True, **TIMING)
    times = dict(table.ms_per_image / 1e3)
    assert set(times) == {"a", "b"} and all(0 < t < 1 for t in times.values())
    assert model.conv2.weight.is_contiguous()
    with pytest.raises(CourseError, match="rounds"):
        costs.compare({"a": model}, (1, 12, 12), rounds=0)


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


def test_reconstruction_curves_hold_the_other_rank_where_asked():
    # seed 003 Fig 6 held the other rank at 64; here 3 (of 4 input and 8 output channels)
    conv = tiny_cnn().conv2
    curves = tucker.reconstruction_curves(conv, "hooi", held=3)
    by_r1, by_r2 = (curves[curves.varied == v].set_index("rank") for v in ("R1", "R2"))
    assert set(by_r1.R2) == {3} and set(by_r2.R1) == {3}
    assert list(by_r1.index) == [1, 2, 3, 4] and list(by_r2.index) == list(range(1, 9))
    # a held rank below full leaves an error even where the varied rank is full
    at_full = tucker.weight_error(conv.weight, tucker.hooi(conv.weight, (4, 3)))
    assert by_r1.loc[4, "weight_error"] == pytest.approx(at_full) and at_full > 0.01
    assert by_r2.loc[8, "weight_error"] > 0.01 and by_r2.weight_error.is_monotonic_decreasing
    # held above a mode's channels: that mode is held full, as with no held rank
    capped = tucker.reconstruction_curves(conv, "hooi", held=64)
    assert capped.equals(tucker.reconstruction_curves(conv, "hooi"))
    labels = plots.tucker_reconstruction(curves).axes[0].get_legend_handles_labels()[1]
    assert labels == ["weights: R1 varied, R2 = 3", "weights: R2 varied, R1 = 3"]
    with pytest.raises(CourseError, match="held rank"):
        tucker.reconstruction_curves(conv, held=0)


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


def test_one_layer_at_chosen_ranks():
    model = tiny_cnn()
    data = labelled_by(model, n=16)
    features = tucker.layer_input(model, "conv2", next(iter(data.loader("test", 16)))[0])
    full = tucker.layer_at_ranks(model, data, "conv2", (4, 8), features)
    assert full["weight_error"] < 1e-6 and full["output_error"] < 1e-5 and full["accuracy"] == 1.0
    low = tucker.layer_at_ranks(model, data, "conv2", (1, 1), features, method="hosvd")
    decomposed, table = tucker.decompose_model(model, ["conv2"], ranks=(1, 1), method="hosvd")
    assert low["weight_error"] == pytest.approx(table.weight_error.iloc[0])
    assert low["output_error"] == pytest.approx(
        tucker.layer_error(model, decomposed, "conv2", features)
    )
    assert low["flops"] == costs.count_flops(decomposed, data.input_shape) < full["flops"]
