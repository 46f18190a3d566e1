"""Notebook 03's prune-rate panel in JupyterLab and in the Voilà dashboard: moving the slider (by
keyboard, as a user does) or choosing a layer shows the accuracy the library computes."""

from functools import cache

import pytest
from browser_kit import (
    NOTEBOOK_RUN_MS,
    SHOWN,
    UPDATE_MS,
    lab_run_all,
    notebook_defaults,
    percent,
    press_on,
    slider,
    watch_texts,
    widget_output,
)
from playwright.sync_api import expect

from course_lib import profiles, prune
from course_lib.checkpoints import reference_config, reference_model
from course_lib.data import evaluation_subset, load_data
from course_lib.train import evaluate

pytestmark = pytest.mark.browser
NOTEBOOK = "03_pruning"


@pytest.fixture(scope="module")
def library_accuracy(workspace):
    """Accuracy of the notebook's cached reference with one layer pruned at a rate, computed
    here from the library (the notebook's defaults under the smoke profile)."""

    @cache
    def setup():
        defaults = notebook_defaults(workspace.notebooks / f"{NOTEBOOK}.ipynb")
        settings = profiles.resolve(NOTEBOOK, defaults | {"profile": "smoke"})
        config = reference_config(
            defaults["model"], defaults["dataset"], "smoke", seed=defaults["seed"]
        )
        data = load_data(
            defaults["dataset"],
            val_size=config.val_size,
            subset=config.subset,
            seed=defaults["seed"],
        )
        net, record = reference_model(config, data, cache=workspace.cache)
        assert record["cached"], "the notebook should have trained and cached the reference"
        return net, evaluation_subset(data, settings.eval_images).loader("val")

    def accuracy(layer: str, rate: float) -> float:
        net, loader = setup()
        return evaluate(prune.magnitude_prune(net, rate, layers=[layer]), loader)[1]

    return accuracy


def check_prune_panel(panel, library_accuracy) -> None:
    """Move the rate slider and change the layer; each time the summary must show the library's
    accuracy, updated in place, with a working indicator while it draws."""
    rate = slider(panel, "prune rate")
    readout = rate.locator(".widget-readout")
    layer_choice = panel.locator("select")
    status = panel.locator(".widget-hbox .widget-html")
    summary = panel.locator(".widget-html", has_text="pruned at")
    figure = panel.locator("img")
    expect(readout).to_have_text("50%", timeout=UPDATE_MS)
    layer = layer_choice.input_value()
    shown_before = percent(summary.inner_text(), "accuracy")
    assert shown_before == pytest.approx(library_accuracy(layer, 0.5), abs=SHOWN)
    image_before = figure.get_attribute("src")
    statuses = watch_texts(status)

    press_on(rate, "ArrowRight")
    expect(readout).to_have_text("90%", timeout=UPDATE_MS)
    expect(summary).to_contain_text(f"{layer} pruned at 90%", timeout=UPDATE_MS)
    expect(status).to_have_text("ready", timeout=UPDATE_MS)
    shown_after = percent(summary.inner_text(), "accuracy")
    expected_after = library_accuracy(layer, 0.9)
    assert expected_after != pytest.approx(library_accuracy(layer, 0.5), abs=SHOWN), (
        "pick rates whose accuracies differ"
    )
    assert shown_after == pytest.approx(expected_after, abs=SHOWN)
    assert "working…" in statuses(), f"no working indicator; the status showed {statuses()}"
    expect(figure).to_have_count(1)
    assert figure.get_attribute("src") != image_before, "the figure was not redrawn"

    other = next(o for o in layer_choice.locator("option").all_inner_texts() if o != layer)
    layer_choice.select_option(other)
    expect(summary).to_contain_text(f"{other} pruned at 90%", timeout=UPDATE_MS)
    expect(status).to_have_text("ready", timeout=UPDATE_MS)
    assert percent(summary.inner_text(), "accuracy") == pytest.approx(
        library_accuracy(other, 0.9), abs=SHOWN
    )
    expect(readout).to_have_text("90%")  # the rate survived the change of layer


def test_prune_rate_slider_in_jupyterlab(open_notebook, library_accuracy):
    page = open_notebook(NOTEBOOK)
    lab_run_all(page)
    check_prune_panel(widget_output(page, "prune rate"), library_accuracy)


def test_prune_rate_slider_in_dashboard(dashboard, page, library_accuracy):
    page.goto(dashboard(NOTEBOOK, "--profile", "smoke"), timeout=NOTEBOOK_RUN_MS)
    check_prune_panel(widget_output(page, "prune rate"), library_accuracy)
