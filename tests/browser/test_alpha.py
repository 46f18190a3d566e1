"""Notebook 05's α panel in the Voilà dashboard (`course dashboard 05`, made quick by `-p`: the
small Fashion CNN, one run on a few images): moving the α slider by keyboard shows the
accuracies the run recorded at that α."""

import json
import re
import time

import pytest
from browser_kit import (
    NOTEBOOK_RUN_MS,
    SHOWN,
    UPDATE_MS,
    press_on,
    slider,
    watch_texts,
    widget_output,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
NOTEBOOK = "05_alpha_branch"
QUICK = [
    "-p",
    "model",
    "fashion_cnn",
    "-p",
    "pretrained_weights",
    '["trainable"]',
    "-p",
    "subset",
    "256",
]


def recorded_stages(runs_folder) -> dict[float, dict]:
    """The trainable run's stages by α, from the metrics.json the page's run wrote."""
    deadline = time.monotonic() + UPDATE_MS / 1000
    while not (found := sorted(runs_folder.glob(f"*-{NOTEBOOK}/metrics.json"))):
        assert time.monotonic() < deadline, f"no {NOTEBOOK} metrics.json in {runs_folder}"
        time.sleep(0.5)
    (metrics,) = found
    stages = json.loads(metrics.read_text())["runs"]["trainable"]["stages"]
    return {stage["alpha"]: stage for stage in stages}


def shown_row(summary, label: str) -> tuple[float, float]:
    """The (val, test) accuracy of run ``label`` in the panel's table."""
    match = re.search(rf"{label}\s+([\d.]+)%\s+([\d.]+)%", summary.inner_text())
    assert match, f"no row {label!r} in {summary.inner_text()!r}"
    return float(match[1]) / 100, float(match[2]) / 100


def test_alpha_slider_in_dashboard(dashboard, page, workspace):
    page.goto(dashboard(NOTEBOOK, "--profile", "smoke", *QUICK), timeout=NOTEBOOK_RUN_MS)
    panel = widget_output(page, "α")
    alpha = slider(panel, "α")
    status = panel.locator(".widget-hbox .widget-html")
    summary = panel.locator(".widget-html", has_text="α = ")
    stages = recorded_stages(workspace.root / "runs")
    assert len(stages) >= 2 and 0.0 in stages, f"the smoke schedule changed: {sorted(stages)}"
    expect(summary).to_contain_text("α = 0 ", timeout=UPDATE_MS)
    assert shown_row(summary, "trainable") == pytest.approx(
        (stages[0.0]["val_accuracy"], stages[0.0]["test_accuracy"]), abs=SHOWN
    )
    statuses = watch_texts(status)

    press_on(alpha, "ArrowLeft")  # the next larger α of the schedule
    chosen = min(a for a in stages if a > 0)
    expect(alpha.locator(".widget-readout")).to_have_text(f"{chosen:g}", timeout=UPDATE_MS)
    expect(summary).to_contain_text(f"α = {chosen:g} ", timeout=UPDATE_MS)
    expect(status).to_have_text("ready", timeout=UPDATE_MS)
    expected = (stages[chosen]["val_accuracy"], stages[chosen]["test_accuracy"])
    assert expected != pytest.approx(
        (stages[0.0]["val_accuracy"], stages[0.0]["test_accuracy"]), abs=SHOWN
    ), "pick stages whose accuracies differ"
    assert shown_row(summary, "trainable") == pytest.approx(expected, abs=SHOWN)
    assert "working…" in statuses(), f"no working indicator; the status showed {statuses()}"
