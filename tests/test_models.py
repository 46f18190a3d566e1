import pytest
import torch

from course_lib.costs import count_params
from course_lib.errors import CourseError
from course_lib.models import MODELS, build_model, initialize


@pytest.mark.parametrize(
    ("name", "kwargs", "params"),
    [
        ("lenet300", {}, 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10),
        ("lenet5", {}, 520 + 25050 + 800 * 500 + 500 + 5010),
        # seed 001: conv1 26x26, conv2 22x22, fc1 over 16 * 22 * 22 inputs
        ("fashion_cnn", {}, 12 * 9 + 12 + 16 * 12 * 25 + 16 + 16 * 22 * 22 * 100 + 100 + 1010),
        ("fashion_cnn", {"c1": 1, "c2": 7, "f1": 72}, 10 + 7 * 25 + 7 + 7 * 484 * 72 + 72 + 730),
    ],
)
def test_parameter_counts_match_the_architectures(name, kwargs, params):
    assert count_params(build_model(name, **kwargs)) == params


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_model_classifies_both_image_sizes(name, shape):
    out = build_model(name, shape, num_classes=10)(torch.zeros(2, *shape))
    assert out.shape == (2, 10)


def test_fashion_cnn_has_no_pooling_and_the_seed_feature_sizes():
    net = build_model("fashion_cnn", k1=3, k2=5)
    x = torch.zeros(1, 1, 28, 28)
    assert net.conv1(x).shape[-1] == 26 and net.conv2(net.conv1(x)).shape[-1] == 22
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())


def test_cifar_cnn_with_and_without_pooling_differ_in_head_size():
    pooled = build_model("cifar_cnn", (3, 32, 32))
    flat = build_model("cifar_cnn", (3, 32, 32), pool=False)
    assert pooled.fc1.in_features == 64 * 6 * 6 and flat.fc1.in_features == 64 * 28 * 28


def test_lenet300_tanh_and_bad_options_are_refused_clearly():
    assert isinstance(build_model("lenet300", activation="tanh").act1, torch.nn.Tanh)
    with pytest.raises(CourseError, match="activation"):
        build_model("lenet300", activation="gelu")
    with pytest.raises(CourseError, match="Unknown model"):
        build_model("alexnet")
    with pytest.raises(CourseError, match="options"):
        build_model("lenet5", c1=3)


def test_xavier_uniform_init_respects_its_bound_and_zeroes_biases():
    torch.manual_seed(0)
    net = initialize(build_model("lenet300"), "xavier_uniform")
    bound = (6 / (784 + 300)) ** 0.5
    assert net.fc1.weight.abs().max() <= bound and net.fc1.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(net.fc1.bias) == 0
    with pytest.raises(CourseError, match="Unknown init"):
        initialize(net, "glorot")
