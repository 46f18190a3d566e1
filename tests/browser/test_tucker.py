"""Notebook 04's rank panel in JupyterLab: moving the R1 and R2 sliders by keyboard decomposes
the layer at those ranks and shows the accuracy the library computes for them."""

from functools import cache

import pytest
from browser_kit import (
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

from course_lib import profiles, train, tucker
from course_lib.checkpoints import reference_config, reference_model
from course_lib.data import evaluation_subset, load_data

pytestmark = pytest.mark.browser
NOTEBOOK = "04_tucker"


@pytest.fixture(scope="module")
def library_accuracy(workspace):
    """Test accuracy of the cached reference with ``layer`` Tucker-2 decomposed at (R1, R2), on
    the images the notebook's panel uses, computed here from the library."""

    @cache
    def setup():
        defaults = notebook_defaults(workspace.notebooks / f"{NOTEBOOK}.ipynb")
        model, dataset, seed = defaults["model"], defaults["dataset"], defaults["seed"]
        settings = profiles.resolve(NOTEBOOK, defaults | {"profile": "smoke"})
        config = reference_config(model, dataset, "smoke", seed=seed)
        net, record = reference_model(config, cache=workspace.cache)
        assert record["cached"], "the notebook should have trained and cached the reference"
        data = load_data(
            dataset, None, config.val_size, config.subset, seed, test_subset=settings.test_subset
        )
        return net, evaluation_subset(data, settings.panel_images), settings.method

    def accuracy(layer: str, ranks: tuple[int, int]) -> float:
        net, data, method = setup()
        decomposed, _ = tucker.decompose_model(net, [layer], ranks=ranks, method=method)
        return train.accuracy(decomposed, data, "test")

    return accuracy


def shown(summary) -> tuple[str, tuple[int, int], float]:
    """The layer, the ranks and the decomposed model's accuracy the panel shows."""
    text = summary.inner_text()
    layer, ranks = text.split(" at R1 = ", 1)
    r1, r2 = ranks.split(":", 1)[0].split(", R2 = ")
    return layer.strip(), (int(r1), int(r2)), percent(text, "test accuracy")


def test_rank_sliders_in_jupyterlab(open_notebook, library_accuracy):
    page = open_notebook(NOTEBOOK)
    lab_run_all(page)
    panel = widget_output(page, "R1 (input)")
    in_rank, out_rank = slider(panel, "R1 (input)"), slider(panel, "R2 (output)")
    status = panel.locator(".widget-hbox .widget-html")
    summary = panel.locator(".widget-html", has_text=" at R1 = ")
    expect(status).to_have_text("ready", timeout=UPDATE_MS)
    layer, start, accuracy = shown(summary)
    assert accuracy == pytest.approx(library_accuracy(layer, start), abs=SHOWN)
    statuses = watch_texts(status)

    press_on(in_rank, "Home")  # R1 = 1: a drastic cut that must cost accuracy
    expect(in_rank.locator(".widget-readout")).to_have_text("1", timeout=UPDATE_MS)
    expect(summary).to_contain_text(f"at R1 = 1, R2 = {start[1]}", timeout=UPDATE_MS)
    expect(status).to_have_text("ready", timeout=UPDATE_MS)
    _, ranks, cut = shown(summary)
    assert cut == pytest.approx(library_accuracy(layer, ranks), abs=SHOWN)
    assert cut != pytest.approx(accuracy, abs=SHOWN), "the accuracy shown did not change"
    assert "working…" in statuses(), f"no working indicator; the status showed {statuses()}"

    press_on(out_rank, "ArrowLeft")
    expect(summary).to_contain_text(f"at R1 = 1, R2 = {start[1] - 1}", timeout=UPDATE_MS)
    expect(status).to_have_text("ready", timeout=UPDATE_MS)
    _, ranks, accuracy = shown(summary)
    assert accuracy == pytest.approx(library_accuracy(layer, ranks), abs=SHOWN)
    expect(in_rank.locator(".widget-readout")).to_have_text("1")  # R1 kept its value
