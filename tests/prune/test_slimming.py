"""Structured slimming: a slimmed model computes what a masked one does, with the input slice cut
downstream (through batch norms and pooling); what cannot be slimmed is refused."""

import copy

import pytest
import torch
from factories import labelled_by, small_fashion_cnn
from torch import nn
from torch.nn.utils import prune as torch_prune

from course_lib import costs, prune
from course_lib.errors import CourseError
from course_lib.models import build_model

torch.set_num_threads(1)


@pytest.mark.parametrize("layer", ["conv1", "conv2", "fc1"])
@pytest.mark.parametrize("norm,order", [("l1", 1), ("l2", 2)])
def test_slimmed_model_equals_torch_structured_mask(layer, norm, order):
    """Removing the weakest unit gives the outputs of torch's ln_structured mask on that unit."""
    model = small_fashion_cnn(seed=4)
    masked = copy.deepcopy(model)
    target = getattr(masked, layer)
    torch_prune.ln_structured(target, "weight", amount=1, n=order, dim=0)
    unit = int(prune.unit_importance(getattr(model, layer), norm).argmin())
    dropped = target.weight_mask.flatten(1).sum(1) == 0
    assert torch.nonzero(dropped).reshape(-1).tolist() == [unit]  # the same unit as torch's
    with torch.no_grad():
        target.bias[unit] = 0.0  # a removed unit's output is ReLU(0) = 0
    slimmed = prune.remove_unit(model, layer, unit)
    x = torch.randn(5, 1, 12, 12)
    assert torch.allclose(slimmed(x), masked(x), atol=1e-6)
    assert prune.layer_widths(slimmed, [layer])[layer] == getattr(model, layer).weight.shape[0] - 1
    assert costs.count_params(slimmed) < costs.count_params(model)


def test_slim_cuts_the_input_slice_through_batch_norm_and_pooling():
    torch.manual_seed(0)
    model = build_model("vgg_small", (3, 8, 8), 10, widths=(4, 6)).eval()
    for module in model.modules():  # non-trivial batch-norm statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    keep = [0, 2, 5]
    slimmed = prune.slim(model, "conv4", keep)  # conv4 -> bn4 -> relu4 -> pool2 -> flatten -> fc1
    masked = copy.deepcopy(model)
    per_channel = model.fc1.in_features // 6
    with torch.no_grad():
        for channel in set(range(6)) - set(keep):
            masked.fc1.weight[:, channel * per_channel : (channel + 1) * per_channel] = 0
    x = torch.randn(4, 3, 8, 8)
    assert torch.allclose(slimmed(x), masked(x), atol=1e-5)
    assert slimmed.bn4.num_features == 3 and slimmed.fc1.in_features == 3 * per_channel


def test_slim_refuses_a_layer_it_cannot_slice_through_and_units_out_of_range():
    model = nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3), nn.Linear(3, 2))
    with pytest.raises(CourseError, match="Cannot slice through 1 \\(LayerNorm\\)"):
        prune.slim(model, "0", [0, 1])
    with pytest.raises(CourseError, match="keep must name"):
        prune.slim(small_fashion_cnn(), "conv1", [0, 3])
    with pytest.raises(CourseError, match="norm"):
        prune.unit_importance(small_fashion_cnn().conv1, "l3")


def test_output_layer_and_non_sequential_models_are_refused():
    model = small_fashion_cnn()
    with pytest.raises(CourseError, match="output layer"):
        prune.slim(model, "fc2", [0, 1])
    with pytest.raises(CourseError, match="output layer"):
        prune.structured_prune(model, labelled_by(model, 8), layers=["fc2"], progress=False)
    with pytest.raises(CourseError, match="Sequential"):
        prune.prunable_layers(build_model("resnet_small", (3, 8, 8), 10, widths=(4,)))
    with pytest.raises(CourseError, match="last unit"):
        prune.remove_unit(small_fashion_cnn(c1=1), "conv1", 0)
    with pytest.raises(CourseError, match="no unit 3"):
        prune.remove_unit(model, "conv1", 3)
    with pytest.raises(CourseError, match="cannot be pruned"):
        prune.remove_unit(model, "relu1", 0)
    with pytest.raises(CourseError, match="norm"):
        prune.structured_prune(model, labelled_by(model, 8), norm="l3", progress=False)
