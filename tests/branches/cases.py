"""Small nets with every kind of layer pair, and a tiny task to train branches on."""

from collections import OrderedDict

import torch
from torch import nn

from course_lib import branches
from course_lib.data import DataBundle, Split
from course_lib.models import build_model
from course_lib.train import TrainConfig, fit

SHAPE = (1, 8, 8)


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


def quadrant_split(n: int, seed: int) -> Split:
    """Noise images whose label is the brightest quadrant (4 classes)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 120, (n, *SHAPE), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, 4, (n,), generator=generator)
    rows, cols = (labels // 2) * 4, (labels % 2) * 4
    for i in range(n):
        images[i, 0, rows[i] : rows[i] + 4, cols[i] : cols[i] + 4] += 100
    return Split(images, labels)


def quadrant_data() -> DataBundle:
    splits = [quadrant_split(n, seed) for n, seed in ((256, 0), (128, 1), (128, 2))]
    return DataBundle("fashion-mnist", *splits, (0.3,), (0.2,), ("a", "b", "c", "d"))


def trained_vgg(data) -> nn.Module:
    torch.manual_seed(0)
    model = build_model("vgg_small", SHAPE, 4, widths=(4, 6))
    config = TrainConfig(model="vgg_small", epochs=3, batch_size=32, lr=0.05, device="cpu")
    fit(model, data, config, progress=False, eval_splits=())
    return model.eval()


def run(reference, data, alphas=(1.0, 0.5, 0.0), **options):
    """Branches that remove half the parameters, trained through ``alphas``."""
    branched = branches.attach_branches(reference, remove_fraction=0.5, seed=1)
    settings = dict(lr=0.05, max_epochs=2, batch_size=64, device="cpu", progress=False)
    return branches.train_alpha_schedule(branched, data, alphas, **{**settings, **options})
