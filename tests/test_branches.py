"""α-branches: α = 1 is the original, the fold equals the α = 0 model, widths and schedules."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from course_lib import CourseError, branches
from course_lib.models import build_model


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every batch norm non-trivial statistics and affine weights (so a wrong fold shows)."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            if module.affine:
                module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.data.copy_(torch.randn(n, generator=generator))
    return model


def conv_pair_net():
    """A padded conv pair with a batch norm after L1, a strided L2 and no bias on L1."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(2, 8, 3, padding=1, bias=False),
            bn1=nn.BatchNorm2d(8),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(8, 5, 3, stride=2, padding=1),
        )
    )


def linear_pair_net():
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(2 * 6 * 6, 20),
            bn1=nn.BatchNorm1d(20),
            act1=nn.Tanh(),
            drop=nn.Dropout(0.5),
            fc2=nn.Linear(20, 4),
        )
    )


def flatten_pair_net():
    """conv -> bn -> relu -> pool -> flatten -> fc: 6 channels x 9 positions feed the fc layer."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(2, 6, 3, padding=1),
            bn1=nn.BatchNorm2d(6),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            fc1=nn.Linear(6 * 3 * 3, 7),
        )
    )


def tiny_resnet():
    return build_model("resnet_small", (2, 6, 6), 4, widths=(4, 6))


def tiny_vgg():
    return build_model("vgg_small", (2, 8, 8), 4, widths=(4, 6))


CASES = {
    "conv pair": (conv_pair_net, {"conv1": 3}),
    "linear pair": (linear_pair_net, {"fc1": 6}),
    "conv to linear across a flatten": (flatten_pair_net, {"conv1": 2}),
    "residual block": (tiny_resnet, {"layers.0.conv1": 2, "layers.1.conv1": 3}),
    "chained pairs": (tiny_vgg, {"conv1": 2, "conv2": 3, "conv3": 2, "conv4": 4, "fc1": 5}),
}


def inputs(model_name: str, dtype=torch.float64, seed: int = 1):
    shape = (2, 8, 8) if model_name == "chained pairs" else (2, 6, 6)
    return torch.randn(5, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def prepared(case: str, dtype=torch.float64):
    build, widths = CASES[case]
    torch.manual_seed(0)
    model = randomize_norms(build()).to(dtype).eval()
    branched = branches.attach_branches(model, list(widths), widths=widths, seed=3).eval()
    return model, branched, widths


@pytest.mark.parametrize("case", CASES)
def test_alpha_one_computes_the_original_outputs(case):
    model, branched, _ = prepared(case)
    x = inputs(case)
    assert torch.equal(branched(x), model(x))


@pytest.mark.parametrize("case", CASES)
def test_folded_model_equals_the_alpha_zero_model(case):
    _, branched, _ = prepared(case)
    x = inputs(case)
    original = branched(x)
    branches.set_alpha(branched, 0.0)
    at_zero = branched(x)
    folded = branches.fold(branched).eval()
    assert (at_zero - original).abs().max() > 1e-3  # the branch really replaced the path
    assert not any(isinstance(m, branches.BranchMix | branches.BranchTap) for m in folded.modules())
    torch.testing.assert_close(folded(x), at_zero, rtol=0, atol=1e-12)


def test_fold_in_float32_is_exact_to_float_precision():
    _, branched, _ = prepared("chained pairs", torch.float32)
    x = inputs("chained pairs", torch.float32)
    branches.set_alpha(branched, 0.0)
    torch.testing.assert_close(branches.fold(branched).eval()(x), branched(x), rtol=1e-5, atol=1e-6)


def test_intermediate_alpha_mixes_both_paths():
    model, branched, _ = prepared("conv pair")
    x = inputs("conv pair")
    z = model.relu1(model.bn1(model.conv1(x)))
    mix = branched.conv2
    branch = mix.branch(model.bn1(model.conv1(x)))
    branches.set_alpha(branched, 0.25)
    expected = model.conv2(0.25 * z + 0.75 * branch)
    torch.testing.assert_close(branched(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_folded_parameter_count_matches_the_widths(case):
    model, branched, widths = prepared(case)
    folded = branches.fold(branched)
    counted = sum(p.numel() for p in folded.parameters())
    assert counted == branches.folded_parameter_count(
        model, branches.select_pairs(model, list(widths)), widths
    )
    assert branches.branch_widths(branched) == widths


def test_folded_shapes_by_hand():
    """conv1 2->8 (3x3, no bias) + bn1 becomes 2->3 with a bias; conv2 8->5 becomes 3->5."""
    _, branched, _ = prepared("conv pair")
    folded = branches.fold(branched)
    assert tuple(folded.conv1.weight.shape) == (3, 2, 3, 3) and folded.conv1.bias.shape == (3,)
    assert tuple(folded.conv2.weight.shape) == (5, 3, 3, 3)
    assert isinstance(folded.bn1, nn.Identity)
    assert sum(p.numel() for p in folded.parameters()) == 3 * 2 * 9 + 3 + 5 * 3 * 9 + 5


def test_flatten_fold_keeps_the_positions_of_each_channel():
    _, branched, _ = prepared("conv to linear across a flatten")
    folded = branches.fold(branched)
    assert tuple(folded.fc1.weight.shape) == (7, 2 * 9)
    assert tuple(folded.conv1.weight.shape) == (2, 2, 3, 3)


def test_residual_fold_keeps_the_skip_connections():
    model, branched, _ = prepared("residual block")
    folded = branches.fold(branched)
    for before, after in zip(model.layers, folded.layers, strict=True):
        assert after.conv2.out_channels == before.conv2.out_channels
        assert after.bn2 is not before.bn2 and isinstance(after.bn2, nn.BatchNorm2d)
        assert (after.downsample is None) == (before.downsample is None)
    assert folded.layers[1].conv1.out_channels == 3 and folded.layers[1].conv2.in_channels == 3


def test_find_pairs_on_kit_models():
    vgg = branches.find_pairs(build_model("vgg_small"))
    assert [p.name for p in vgg] == [f"conv{i}" for i in range(1, 7)] + ["fc1"]
    across = vgg[5]
    assert (across.norm, across.second, across.channels, across.positions) == (
        "bn6",
        "fc1",
        128,
        9,
    )
    resnet = branches.find_pairs(build_model("resnet_small"))
    assert [(p.first, p.norm, p.second) for p in resnet] == [
        (f"layers.{i}.conv1", f"layers.{i}.bn1", f"layers.{i}.conv2") for i in range(3)
    ]


def test_a_norm_after_the_activation_blocks_a_pair():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 3))
    assert branches.find_pairs(model) == []
    with pytest.raises(CourseError, match="no layer pair"):
        branches.attach_branches(model, fraction=0.5)


def test_widths_for_fraction_remove_at_least_the_fraction():
    model = build_model("vgg_small")
    pairs = branches.select_pairs(model)
    original = sum(p.numel() for p in model.parameters())
    widths = branches.widths_for_fraction(model, pairs, 0.65)
    removed = 1 - branches.folded_parameter_count(model, pairs, widths) / original
    assert 0.65 <= removed < 0.68
    folded = branches.fold(branches.attach_branches(model, widths=widths))
    assert sum(p.numel() for p in folded.parameters()) == round((1 - removed) * original)


def test_schedules():
    assert branches.alpha_schedule(0.1) == [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    fine = branches.alpha_schedule(0.00025, start=0.0125)
    assert len(fine) == 51 and fine[1] == 0.01225 and fine[-1] == 0.0
    assert branches.alpha_schedule(0.3) == [1.0, 0.7, 0.4, 0.1, 0.0]
    assert branches.check_schedule([1, 0.5, 0.5, 0]) == [1.0, 0.5, 0.5, 0.0]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: branches.attach_branches(m), "exactly one of"),
        (lambda m: branches.attach_branches(m, widths={"conv1": 2}, fraction=0.5), "exactly one"),
        (lambda m: branches.attach_branches(m, "conv9", fraction=0.5), "do not start"),
        (lambda m: branches.attach_branches(m, "conv1", widths={"conv1": 9}), r"\[1, 8\]"),
        (lambda m: branches.attach_branches(m, "conv1", widths={"conv2": 2}), "unknown"),
        (lambda m: branches.attach_branches(m, fraction=0.99), "Even 1-wide"),
        (lambda m: branches.attach_branches(m, fraction=1.5), r"\(0, 1\)"),
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
    branched = branches.attach_branches(conv_pair_net(), fraction=0.3)
    with pytest.raises(CourseError, match="already carries"):
        branches.attach_branches(branched, fraction=0.3)
    with pytest.raises(CourseError, match=r"\[0, 1\]"):
        branches.set_alpha(branched, 1.5)


def test_attach_leaves_the_original_untouched_and_is_seeded():
    model = conv_pair_net()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    a = branches.attach_branches(model, fraction=0.5, seed=7)
    b = branches.attach_branches(model, fraction=0.5, seed=7)
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
