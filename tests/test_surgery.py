"""Layer surgery: rebuilt and sliced layers compute what the original computes on what they keep."""

import pytest
import torch
from torch import nn

from course_lib import surgery
from course_lib.errors import CourseError


def test_rebuild_keeps_the_geometry_and_takes_the_new_weights():
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1, bias=True).eval()
    weight, bias = torch.randn(6, 3, 3, 3), torch.randn(6)
    new = surgery.rebuild(conv, weight, bias)
    assert (new.stride, new.padding, new.out_channels, new.training) == ((2, 2), (1, 1), 6, False)
    x = torch.randn(2, 3, 9, 9)
    assert torch.allclose(new(x), nn.functional.conv2d(x, weight, bias, stride=2, padding=1))
    linear = surgery.rebuild(nn.Linear(5, 3), torch.randn(2, 7), None)
    assert (linear.in_features, linear.out_features, linear.bias) == (7, 2, None)
    with pytest.raises(CourseError, match="conv and linear"):
        surgery.rebuild(nn.ReLU(), weight, bias)


def test_pointwise_is_the_matrix_over_channels():
    weight = torch.randn(4, 3)
    x = torch.randn(2, 3, 5, 5)
    expected = torch.einsum("oc,bchw->bohw", weight, x)
    assert torch.allclose(surgery.pointwise(weight)(x), expected, atol=1e-6)


def test_kept_outputs_and_inputs_are_the_matching_slices():
    torch.manual_seed(0)
    first, second = nn.Conv2d(2, 5, 3), nn.Conv2d(5, 3, 1)
    norm = nn.BatchNorm2d(5).eval()
    norm.running_mean.normal_()
    keep = [0, 2, 3]
    x = torch.randn(2, 2, 6, 6)
    full = first(x)[:, keep]
    assert torch.allclose(surgery.keep_outputs(first, keep)(x), full, atol=1e-6)
    assert torch.allclose(surgery.keep_outputs(norm, keep)(full), norm(first(x))[:, keep])
    mask = torch.zeros(1, 5, 1, 1)
    mask[:, keep] = 1
    expected = second(first(x) * mask)  # the dropped channels contribute nothing
    assert torch.allclose(surgery.keep_inputs(second, keep)(full), expected, atol=1e-5)
    with pytest.raises(CourseError, match="Cannot slice a ReLU"):
        surgery.keep_outputs(nn.ReLU(), keep)


def test_replace_by_path_and_device():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    surgery.replace(model, "1.1", nn.Identity())
    surgery.replace(model, "0", nn.Tanh())
    assert isinstance(model[1][1], nn.Identity) and isinstance(model[0], nn.Tanh)
    assert surgery.device_of(model) == torch.device("cpu")
    assert surgery.device_of(nn.ReLU()) == torch.device("cpu")
    assert surgery.width(nn.Conv2d(1, 7, 1)) == 7 and surgery.width(nn.Linear(3, 4)) == 4
