"""The prune-rate panel: setting the slider or the layer from Python updates what it shows."""

import matplotlib
import pytest
from factories import labelled_by, small_fashion_cnn

from course_lib import plots, prune
from course_lib.errors import CourseError
from course_lib.widgets import PruneRatePanel

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    model = small_fashion_cnn(seed=1)
    data = labelled_by(model, n=64)
    return prune.sensitivity_scan(
        model, data, [0.0, 0.3, 0.6, 0.9], cache=tmp_path_factory.mktemp("scan")
    )


def test_panel_renders_once_with_its_defaults(scan):
    panel = PruneRatePanel(scan)
    assert panel.layer.value == "conv1" and panel.rate.value == 0.6
    assert panel.rate.continuous_update is False
    assert panel.status.value == "ready" and not panel.rate.disabled
    assert f"{scan.accuracy_at('conv1', 0.6):.2%}" in panel.summary.value
    assert bytes(panel.image.value).startswith(b"\x89PNG")


def test_setting_the_slider_and_the_layer_updates_the_outputs(scan):
    panel = PruneRatePanel(scan, curve="fc2", rate=0.0)
    first_image = bytes(panel.image.value)
    assert "0 of 60 weights removed" in panel.summary.value
    panel.rate.value = 0.9
    assert "54 of 60 weights removed" in panel.summary.value  # round(0.9 * 60) = 54
    assert f"{scan.accuracy_at('fc2', 0.9):.2%}" in panel.summary.value
    assert bytes(panel.image.value) != first_image
    panel.layer.value = prune.ALL_LAYERS
    total = sum(len(part) for part in scan.weight_split(prune.ALL_LAYERS, 0.9))
    assert f"of {total:,} weights removed" in panel.summary.value
    assert panel.status.value == "ready"


def test_panel_refuses_a_rate_the_scan_does_not_hold(scan):
    with pytest.raises(CourseError, match="no rate"):
        PruneRatePanel(scan, rate=0.5)


def test_pruning_figures_draw(scan):
    fig = plots.prune_sensitivity(scan)
    assert len(fig.axes[0].lines) == len(scan.curves) + 1  # one per curve and the baseline
    fig = plots.weight_histograms(scan, 0.3)
    assert len([ax for ax in fig.axes if ax.axison]) == len(scan.layers)
