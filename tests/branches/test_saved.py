"""A run's branched model saved, and a new run going on from it (seed 004 Figs 2-3)."""

import pytest
import torch
from branches.cases import run

from course_lib import CourseError, branches
from course_lib.train import accuracy


@pytest.fixture(scope="module")
def saved(runs, tmp_path_factory):
    """The frozen run's model saved in a notebook-05 run folder."""
    folder = tmp_path_factory.mktemp("run")
    path = folder / branches.saved.FOLDER / "frozen.pt"
    branches.save_branched(path, runs["frozen"], "vgg_small", "fashion-mnist")
    return folder, path


def widths_of(run_):
    return branches.branch_widths(run_.model)


def test_a_saved_model_comes_back_at_its_alpha(runs, saved, pretrained, data):
    folder, path = saved
    frozen = runs["frozen"]
    for where in (path, folder):  # the file itself, or the run folder that holds it
        starts = branches.read_start(
            where, ["frozen"], "vgg_small", "fashion-mnist", widths_of(frozen)
        )
        start = starts["frozen"]
        assert start.alpha == frozen.final_alpha == 0.0 and start.pretrained == "frozen"
        assert start.path == str(path)
    fresh = branches.attach_branches(pretrained, remove_fraction=0.5, seed=7)
    assert start.apply(fresh, [1.0, 0.5, 0.0]) == [0.0]  # the stages still to go
    x = next(iter(data.loader("test", 64)))[0]
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), frozen.model.eval()(x))
    assert accuracy(fresh, data, "val") == frozen.stages["val_accuracy"].iloc[-1]


def test_a_run_goes_on_from_the_saved_model_with_other_settings(runs, saved, pretrained, data):
    # seed 004 Fig 3: the frozen run's model, trained on with the pretrained weights trainable
    frozen = runs["frozen"]
    start = branches.read_start(
        saved[0], ["frozen"], "vgg_small", "fashion-mnist", widths_of(frozen)
    )["frozen"]
    branched = branches.attach_branches(pretrained, remove_fraction=0.5, seed=1)
    alphas = start.apply(branched, [1.0, 0.5, 0.0])
    settings = dict(lr=0.05, max_epochs=2, batch_size=64, device="cpu", progress=False)
    result = branches.train_alpha_schedule(branched, data, alphas, **settings)
    first = result.segments.iloc[0]
    assert first["alpha"] == 0.0
    assert first["entry_val_accuracy"] == frozen.stages["val_accuracy"].iloc[-1]
    assert result.stages["val_accuracy"].iloc[-1] >= first["entry_val_accuracy"]


def test_starts_that_do_not_fit_are_refused_before_work(runs, saved, tmp_path):
    folder, path = saved
    widths = widths_of(runs["frozen"])
    other = {name: r + 1 for name, r in widths.items()}
    cases = [
        ((path, ["frozen"], "lenet5", "fashion-mnist", widths), "model: saved vgg_small"),
        ((path, ["frozen"], "vgg_small", "mnist", widths), "dataset: saved fashion-mnist"),
        ((path, ["frozen"], "vgg_small", "fashion-mnist", other), "widths: saved"),
        ((folder, ["trainable"], "vgg_small", "fashion-mnist", widths), r"\['frozen.pt'\]"),
        ((tmp_path / "nothing", ["frozen"], "vgg_small", "fashion-mnist", widths), "neither"),
    ]
    for arguments, message in cases:
        with pytest.raises(CourseError, match=message):
            branches.read_start(*arguments)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    (tmp_path / "text.pt").write_text("not a model")
    for bad in (foreign, tmp_path / "text.pt"):
        with pytest.raises(CourseError, match="notebook-05 run saved"):
            branches.read_start(bad, ["frozen"], "vgg_small", "fashion-mnist", widths)
    assert branches.read_start(None, ["frozen"], "vgg_small", "fashion-mnist", widths) == {}


def test_branches_of_other_layers_are_refused_when_loaded(runs, saved, pretrained):
    start = branches.read_start(
        saved[1], ["frozen"], "vgg_small", "fashion-mnist", widths_of(runs["frozen"])
    )["frozen"]
    fewer = branches.attach_branches(pretrained, ["conv1"], widths={"conv1": 2})
    with pytest.raises(CourseError, match="does not fit these branches"):
        start.apply(fewer, [0.0])


def test_a_saved_model_is_never_overwritten(runs, saved, pretrained, data):
    path = saved[1]
    before = path.read_bytes()
    other = run(pretrained, data, (0.0,), max_epochs=1)
    with pytest.raises(CourseError, match="already exists"):
        branches.save_branched(path, other, "vgg_small", "fashion-mnist")
    assert path.read_bytes() == before
