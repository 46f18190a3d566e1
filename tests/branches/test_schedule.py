"""α schedules and training through one on a tiny synthetic task; the plots and the α panel."""

import matplotlib
import pytest
import torch
from branches.cases import run
from torch import nn

from course_lib import CourseError, branches, plots, widgets
from course_lib.train import accuracy

matplotlib.use("Agg")


def original_state(model: nn.Module) -> dict:
    """Parameters and statistics of the pretrained layers, by their plain names."""
    state = {}
    for key, value in model.state_dict().items():
        if ".branch." in key or key.endswith("num_batches_tracked"):
            continue
        state[key.replace(".layer", "")] = value
    return state


def test_schedules():
    assert branches.alpha_schedule(0.1) == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    fine = branches.alpha_schedule(0.00025, start=0.0125)
    assert len(fine) == 51 and fine[1] == 0.01225 and fine[-1] == 0.0
    assert branches.alpha_schedule(0.3) == [1.0, 0.7, 0.4, 0.1, 0.0]
    assert branches.check_schedule([1, 0.5, 0.5, 0]) == [1.0, 0.5, 0.5, 0.0]


def test_frozen_run_trains_only_the_branches(runs, pretrained):
    model = runs["frozen"].model
    before = original_state(pretrained)
    after = original_state(model)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    fresh = branches.attach_branches(pretrained, remove_fraction=0.5, seed=1)
    pairs = zip(branches.branch_parameters(model), branches.branch_parameters(fresh), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)
    assert all(p.requires_grad for p in model.parameters())  # restored after the run


def test_trainable_run_changes_the_pretrained_weights(runs, pretrained):
    before = original_state(pretrained)
    after = original_state(runs["trainable"].model)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_records_of_a_run(runs, data):
    run_ = runs["trainable"]
    segments = run_.segments
    assert list(segments["alpha"][:3]) == [1.0, 0.5, 0.0]
    assert segments["epochs"].iloc[0] == 0  # nothing to learn at α = 1
    assert set(run_.epochs["segment"]) == set(segments["segment"][segments["epochs"] > 0])
    assert list(run_.epochs["epoch"]) == list(range(1, len(run_.epochs) + 1))
    assert list(segments["resumed"]) == [False, False, False, True]  # target 1.0 is never met
    assert list(run_.stages["alpha"]) == [1.0, 0.5, 0.0]
    # the kept weights are the best ones: the model scores what its last kept segment reports
    kept = segments[segments["kept"]].iloc[-1]
    assert accuracy(run_.model, data, "val") == pytest.approx(run_.stages["val_accuracy"].iloc[-1])
    assert accuracy(run_.model, data, "test") == pytest.approx(kept["test_accuracy"])


@pytest.mark.parametrize("patience", [1, 2])
def test_a_stage_stops_when_validation_stops_improving(pretrained, data, patience):
    # frozen with a vanishing lr: nothing can change, so each stage stops after `patience` epochs
    result = run(
        pretrained, data, (0.5, 0.0), pretrained="frozen", lr=1e-12, max_epochs=5, patience=patience
    )
    assert list(result.segments["epochs"]) == [patience, patience]


def test_reached_target_skips_the_resumptions(pretrained, data):
    result = run(pretrained, data, (0.0,), resume_lrs=[0.1, 0.2], target_accuracy=0.0)
    assert list(result.segments["resumed"]) == [False]


def test_a_diverging_resumption_is_reverted(pretrained, data):
    result = run(pretrained, data, (0.0,), max_epochs=1, resume_lrs=[1e6], target_accuracy=1.0)
    first, resumed = result.segments.iloc[0], result.segments.iloc[1]
    assert resumed["diverged"] and not resumed["kept"] and result.divergence is None
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    assert accuracy(result.model, data, "test") == pytest.approx(first["test_accuracy"])


def test_a_diverging_stage_ends_the_run_without_nan(pretrained, data):
    result = run(pretrained, data, (0.5, 0.0), lr=1e6)
    assert "α = 0.5" in result.divergence
    assert list(result.segments["alpha"]) == [0.5] and result.segments["diverged"].iloc[0]
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


def test_bad_training_settings_raise_before_work(pretrained, data):
    branched = branches.attach_branches(pretrained, remove_fraction=0.5)
    for options, message in [
        (dict(pretrained="half"), "pretrained must be"),
        (dict(max_epochs=0), "max_epochs"),
        (dict(lr=-1.0), "positive"),
        (dict(target_accuracy=90.0), "fraction"),
    ]:
        with pytest.raises(CourseError, match=message):
            branches.train_alpha_schedule(branched, data, [0.0], **options)
    with pytest.raises(CourseError, match="no branches"):
        branches.train_alpha_schedule(pretrained, data, [0.0])


def test_best_run_is_the_best_at_alpha_zero(runs):
    at_zero = {k: r.stages["val_accuracy"].iloc[-1] for k, r in runs.items()}
    assert branches.best_run(runs) == max(at_zero, key=at_zero.get)


def test_plots(runs):
    fig = plots.alpha_stages(runs, reference=0.5)
    trained = {k: int((r.segments["epochs"] > 0).sum()) for k, r in runs.items()}
    assert [len(ax.lines) for ax in fig.axes] == [2 * trained[k] + 1 for k in runs]
    fig = plots.alpha_accuracy(runs)
    assert len(fig.axes[0].lines) == 2 * len(runs)
    assert len(plots.alpha_accuracy(runs, 0.5, mark=0.5).axes[0].lines) == 2 * len(runs) + 2


def test_alpha_panel_renders_once_at_alpha_zero(runs):
    panel = widgets.AlphaPanel(runs, reference=0.5)
    assert panel.alpha.continuous_update is False
    assert [value for _, value in panel.alpha.options] == [1.0, 0.5, 0.0]
    assert panel.alpha.value == 0.0 and panel.status.value == "ready" and not panel.alpha.disabled
    stages = runs["frozen"].stages.set_index("alpha")
    assert f"{stages.loc[0.0, 'test_accuracy']:.2%}" in panel.summary.value
    assert bytes(panel.image.value).startswith(b"\x89PNG")


def test_moving_the_alpha_slider_updates_the_outputs(runs):
    panel = widgets.AlphaPanel(runs)
    first_image = bytes(panel.image.value)
    panel.alpha.value = 0.5
    for run_ in runs.values():
        assert (
            f"{run_.stages.set_index('alpha').loc[0.5, 'val_accuracy']:.2%}" in panel.summary.value
        )
    assert "α = 0.5" in panel.summary.value and bytes(panel.image.value) != first_image
    assert panel.status.value == "ready"
    with pytest.raises(CourseError, match="no stage at"):
        widgets.AlphaPanel(runs, alpha=0.3)
