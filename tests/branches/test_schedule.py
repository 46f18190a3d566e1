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


def test_frozen_batch_norms_stay_in_eval_mode_and_validation_does_not_collapse(pretrained, data):
    modes = []
    branched = branches.attach_branches(pretrained, remove_fraction=0.5, seed=1)
    norm = branched.get_submodule("bn2.layer")
    hook = norm.register_forward_hook(lambda module, args, out: modes.append(module.training))
    statistics = norm.running_mean.clone(), norm.running_var.clone()
    result = branches.train_alpha_schedule(
        branched, data, (0.5, 0.0), pretrained="frozen", lr=0.05, max_epochs=4, patience=4,
        batch_size=64, device="cpu", progress=False,
    )  # fmt: skip
    hook.remove()
    assert modes and not any(modes)  # fit's train mode never reached the frozen batch norm
    assert torch.equal(norm.running_mean, statistics[0])
    assert torch.equal(norm.running_var, statistics[1])
    # in train mode the batch statistics it trained with were not those it was validated with:
    # training accuracy rose to 1 while validation stayed at chance (0.23); now they move together
    epochs = result.epochs
    assert (epochs["val_accuracy"] >= epochs["train_accuracy"] - 0.1).all()
    assert result.stages.set_index("alpha").loc[0.0, "val_accuracy"] > 0.5


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
    trained = {k: r.segments[r.segments["epochs"] > 0] for k, r in runs.items()}
    expected = [2 * len(t) + int(t["resumed"].sum()) + 1 for t in trained.values()]
    panels = fig.axes[: len(runs)]  # then the colour bar of α
    assert [len(ax.lines) for ax in panels] == expected  # a dotted line at each resumption
    for ax, t in zip(panels, trained.values(), strict=True):
        validation = [line for line in ax.lines if line.get_linestyle() == "-"][: len(t)]
        assert [line.get_color() for line in validation] == [
            plots.branches.ALPHA_COLORS(a) for a in t["alpha"]
        ]  # coloured by α
        assert [line.get_alpha() for line in validation] == [
            1.0 if kept else 0.35 for kept in t["kept"]
        ]  # a resumption that was not kept is faded
        lrs = [text.get_text() for text in ax.texts]
        assert lrs == [f"lr {lr:g}" for lr in t[t["resumed"]]["lr"]]
    resumed = [kept for t in trained.values() for kept in t[t["resumed"]]["kept"]]
    labels = {text.get_text() for text in fig.legends[0].get_texts()}
    assert ("resumed at the dotted line's lr" in labels) == any(resumed)
    assert ("resumed, not kept" in labels) == (not all(resumed))  # only what the panels draw
    assert "train" in labels and "original (val)" in labels
    fig = plots.alpha_accuracy(runs)
    assert len(fig.axes[0].lines) == 2 * len(runs)
    assert len(plots.alpha_accuracy(runs, 0.5, mark=0.5).axes[0].lines) == 2 * len(runs) + 2


def test_a_stuck_stage_resumes_at_its_alpha_and_the_plots_show_it(pretrained, data):
    # a vanishing stage lr leaves α = 0.5 stuck below the target: it resumes there, lr by lr,
    # until the target is met, and only then goes on to α = 0
    result = run(
        pretrained, data, (0.5, 0.0), pretrained="frozen", lr=1e-12, resume_lrs=[0.01, 0.05],
        target_accuracy=1.0,
    )  # fmt: skip
    segments = result.segments
    at_half = segments[segments["alpha"] == 0.5]
    assert list(at_half["resumed"]) == [False, True, True] and list(at_half["lr"][1:]) == [
        0.01,
        0.05,
    ]
    assert at_half["val_accuracy"].iloc[-1] == 1.0 and at_half["kept"].all()
    assert list(segments["alpha"]) == [0.5] * 3 + [0.0] * 3  # α = 0 stuck: resumed as well
    by_segment = result.epochs.groupby("segment")["resumed"].first()
    assert by_segment.to_dict() == segments.set_index("segment")["resumed"].to_dict()
    stages = result.stages.set_index("alpha")
    assert stages.loc[0.5, "resumed"] and stages.loc[0.5, "lr"] == 0.05
    assert stages.loc[0.5, "val_accuracy"] == 1.0
    stars = plots.alpha_accuracy({"frozen": result}).axes[0].lines
    assert len(stars) == 3 and list(stars[1].get_xdata()) == [0.5]
    dotted = [line for line in plots.alpha_stages({"frozen": result}).axes[0].lines
              if line.get_linestyle() == ":"]  # fmt: skip
    starts = result.epochs.groupby("segment")["epoch"].min() - 1
    resumed = segments[segments["resumed"] & (segments["epochs"] > 0)]["segment"]
    assert sorted(line.get_xdata()[0] for line in dotted) == sorted(starts[resumed])


def test_without_a_target_only_alpha_zero_resumes(pretrained, data):
    result = run(
        pretrained, data, (0.5, 0.0), pretrained="frozen", lr=1e-12, resume_lrs=[0.01, 0.05]
    )
    assert list(zip(result.segments["alpha"], result.segments["resumed"], strict=True)) == [
        (0.5, False), (0.0, False), (0.0, True), (0.0, True),
    ]  # fmt: skip


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
