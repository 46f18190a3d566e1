"""The Tucker rank panel: moving R1 or R2 from Python updates errors, accuracy and FLOPs."""

import pytest
from factories import labelled_by, tiny_cnn

from course_lib import costs, tucker
from course_lib.errors import CourseError
from course_lib.widgets import TuckerRankPanel


@pytest.fixture(scope="module")
def setup():
    model = tiny_cnn()
    return model, labelled_by(model, n=32)


def test_panel_renders_once_at_half_the_channels(setup):
    model, data = setup
    panel = TuckerRankPanel(model, data, "conv2")
    assert (panel.in_rank.value, panel.out_rank.value) == (2, 4)
    assert (panel.in_rank.max, panel.out_rank.max) == (4, 8)
    assert panel.in_rank.continuous_update is False and panel.out_rank.continuous_update is False
    assert panel.status.value == "ready" and not panel.in_rank.disabled
    assert list(panel.results) == [(2, 4)]
    assert "R1 = 2, R2 = 4" in panel.summary.value
    assert "100.00%" in panel.summary.value  # the original's accuracy on its own labels


def test_moving_a_slider_updates_the_outputs(setup):
    model, data = setup
    panel = TuckerRankPanel(model, data, "conv2", ranks=(1, 1))
    low = panel.results[(1, 1)]
    shown = []
    panel.status.observe(lambda change: shown.append(change["new"]), names="value")
    panel.out_rank.value = 8
    assert shown == ["<i>working…</i>", "ready"]
    panel.in_rank.value = 4
    assert list(panel.results) == [(1, 1), (1, 8), (4, 8)]
    full = panel.results[(4, 8)]
    assert "R1 = 4, R2 = 8" in panel.summary.value
    assert full["weight_error"] < 1e-6 < low["weight_error"]
    assert full["output_error"] < 1e-5 < low["output_error"]
    assert full["accuracy"] == 1.0 and f"{full['accuracy']:.2%}" in panel.summary.value
    decomposed, _ = tucker.decompose_model(model, ["conv2"], ranks=(4, 8))
    assert full["flops"] == costs.count_flops(decomposed, data.input_shape) > low["flops"]
    assert f"{full['flops']:,}" in panel.summary.value
    assert panel.status.value == "ready" and not panel.out_rank.disabled


def test_panel_refuses_bad_layers_and_ranks(setup):
    model, data = setup
    with pytest.raises(CourseError, match="one of the convs"):
        TuckerRankPanel(model, data, "fc1")
    with pytest.raises(CourseError, match="R2 <= 8"):
        TuckerRankPanel(model, data, "conv2", ranks=(1, 9))
    with pytest.raises(CourseError, match="Unknown Tucker method"):
        TuckerRankPanel(model, data, "conv2", method="cp")
