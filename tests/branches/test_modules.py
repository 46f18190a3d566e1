"""Attaching branches: α = 1 is the original, α mixes both paths, the channel-pruning start."""

import pytest
import torch
from branches.cases import CASES, conv_pair_net, inputs, prepared, randomize_norms
from torch import nn

from course_lib import CourseError, branches


@pytest.mark.parametrize("case", CASES)
def test_alpha_one_computes_the_original_outputs(case):
    model, branched, _ = prepared(case)
    x = inputs(case)
    assert torch.equal(branched(x), model(x))


def test_intermediate_alpha_mixes_both_paths():
    model, branched, _ = prepared("conv pair")
    x = inputs("conv pair")
    z = model.relu1(model.bn1(model.conv1(x)))
    mix = branched.conv2
    branch = mix.branch(model.bn1(model.conv1(x)))
    branches.set_alpha(branched, 0.25)
    expected = model.conv2(0.25 * z + 0.75 * branch)
    torch.testing.assert_close(branched(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: branches.attach_branches(m), "exactly one of"),
        (
            lambda m: branches.attach_branches(m, widths={"conv1": 2}, remove_fraction=0.5),
            "exactly one",
        ),
        (lambda m: branches.attach_branches(m, "conv9", remove_fraction=0.5), "do not start"),
        (lambda m: branches.attach_branches(m, "conv1", widths={"conv1": 9}), r"\[1, 8\]"),
        (lambda m: branches.attach_branches(m, "conv1", widths={"conv2": 2}), "unknown"),
        (lambda m: branches.attach_branches(m, remove_fraction=0.99), "Even 1-wide"),
        (lambda m: branches.attach_branches(m, remove_fraction=1.5), r"\(0, 1\)"),
        (lambda m: branches.set_alpha(m, 0.5), "no branches"),
        (lambda m: branches.fold(m), "no branches"),
        (lambda m: branches.check_schedule([1.0, 0.5]), "end at"),
        (lambda m: branches.check_schedule([0.5, 0.7, 0]), "never rise"),
        (lambda m: branches.alpha_schedule(0), "step must be > 0"),
    ],
)
def test_mistakes_raise_course_errors(call, message):
    with pytest.raises(CourseError, match=message):
        call(conv_pair_net())


def test_branches_cannot_be_attached_twice_and_alpha_is_checked():
    branched = branches.attach_branches(conv_pair_net(), remove_fraction=0.3)
    with pytest.raises(CourseError, match="already carries"):
        branches.attach_branches(branched, remove_fraction=0.3)
    with pytest.raises(CourseError, match=r"\[0, 1\]"):
        branches.set_alpha(branched, 1.5)


def test_attach_leaves_the_original_untouched_and_is_seeded():
    model = conv_pair_net()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    a = branches.attach_branches(model, remove_fraction=0.5, seed=7)
    b = branches.attach_branches(model, remove_fraction=0.5, seed=7)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert isinstance(model.conv2, nn.Conv2d)
    assert torch.equal(a.conv2.branch.reduce.weight, b.conv2.branch.reduce.weight)


@pytest.mark.parametrize("case", ["conv pair", "conv to linear across a flatten"])
def test_channels_init_starts_as_channel_pruning(case):
    build, widths = CASES[case]
    torch.manual_seed(0)
    model = randomize_norms(build()).double().eval()
    first, second = next(iter(widths)), "conv2" if case == "conv pair" else "fc1"
    layer = getattr(model, second)
    channels = getattr(model, first).out_channels
    strong = [1, 4]  # make these two channels' weights in L2 clearly the largest
    with torch.no_grad():
        layer.weight.view(layer.weight.shape[0], channels, -1)[:, strong] *= 10
    branched = branches.attach_branches(model, first, widths={first: 2}, init="channels").eval()
    branches.set_alpha(branched, 0.0)
    mask = torch.zeros(channels, dtype=torch.float64)
    mask[strong] = 1
    pruned = build().double().eval()
    pruned.load_state_dict(model.state_dict())
    with torch.no_grad():
        pruned_layer = getattr(pruned, second)
        pruned_layer.weight.view(pruned_layer.weight.shape[0], channels, -1).mul_(mask[:, None])
    x = inputs(case)
    torch.testing.assert_close(branched(x), pruned(x), rtol=0, atol=1e-12)
    with pytest.raises(CourseError, match="init must be"):
        branches.attach_branches(model, first, widths={first: 2}, init="zeros")
