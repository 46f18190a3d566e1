"""Finding the layer pairs a branch can bridge."""

import pytest
from torch import nn

from course_lib import CourseError, branches
from course_lib.models import build_model


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
        branches.attach_branches(model, remove_fraction=0.5)
