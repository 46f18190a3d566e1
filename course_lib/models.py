"""Every network of the course, built by name from one registry.

All but the residual net are ``nn.Sequential`` with named children (conv1, relu1, pool1, ...,
flatten, fc1, ...), so pruning, Tucker and branch surgery walk one flat list of layers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from course_lib.errors import CourseError

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def add(builder):
        MODELS[name] = builder
        return builder

    return add


def build_model(name: str, input_shape=(1, 28, 28), num_classes: int = 10, **kwargs) -> nn.Module:
    """Build a registered model for images of ``input_shape`` (C, H, W)."""
    if name not in MODELS:
        raise CourseError(f"Unknown model {name!r}: choose one of {', '.join(MODELS)}.")
    try:
        return MODELS[name](tuple(input_shape), num_classes, **kwargs)
    except TypeError as err:
        raise CourseError(
            f"Model {name!r}: {err}. See course_lib.models.{name} for its options."
        ) from None


def _flat_size(features: list[tuple[str, nn.Module]], input_shape) -> int:
    with torch.no_grad():
        out = nn.Sequential(OrderedDict(features))(torch.zeros(1, *input_shape))
    if out.numel() == 0:
        raise CourseError(f"Input {input_shape} is too small for these kernels and poolings.")
    return out.numel()


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


@register("lenet300")
def lenet300(input_shape, num_classes, activation: str = "relu") -> nn.Sequential:
    """LeNet-300-100: two hidden fully connected layers of 300 and 100 units."""
    if activation not in ACTIVATIONS:
        raise CourseError(f"activation must be one of {list(ACTIVATIONS)}, got {activation!r}.")
    act = ACTIVATIONS[activation]
    inputs = int(torch.tensor(input_shape).prod())
    return nn.Sequential(
        OrderedDict(
            flatten=nn.Flatten(),
            fc1=nn.Linear(inputs, 300),
            act1=act(),
            fc2=nn.Linear(300, 100),
            act2=act(),
            fc3=nn.Linear(100, num_classes),
        )
    )


@register("lenet5")
def lenet5(input_shape, num_classes) -> nn.Sequential:
    """Caffe's LeNet-5: conv 20@5x5, pool, conv 50@5x5, pool, fc 500, fc classes."""
    features = [
        ("conv1", nn.Conv2d(input_shape[0], 20, 5)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(20, 50, 5)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
    ]
    flat = _flat_size(features, input_shape)
    head = [
        ("fc1", nn.Linear(flat, 500)),
        ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(500, num_classes)),
    ]
    return nn.Sequential(OrderedDict(features + head))


@register("fashion_cnn")
def fashion_cnn(input_shape, num_classes, c1=12, k1=3, c2=16, k2=5, f1=100) -> nn.Sequential:
    """Seed 001's CNN: conv(c1, k1), conv(c2, k2), fc(f1), fc(classes); no padding, no pooling."""
    features = [
        ("conv1", nn.Conv2d(input_shape[0], c1, k1)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(c1, c2, k2)),
        ("relu2", nn.ReLU()),
        ("flatten", nn.Flatten()),
    ]
    flat = _flat_size(features, input_shape)
    head = [("fc1", nn.Linear(flat, f1)), ("relu3", nn.ReLU()), ("fc2", nn.Linear(f1, num_classes))]
    return nn.Sequential(OrderedDict(features + head))


FASHION_CNN_LAYOUT = [
    ("conv1", nn.Conv2d), ("relu1", nn.ReLU), ("conv2", nn.Conv2d), ("relu2", nn.ReLU),
    ("flatten", nn.Flatten), ("fc1", nn.Linear), ("relu3", nn.ReLU), ("fc2", nn.Linear),
]  # fmt: skip


def is_fashion_cnn(model: nn.Module) -> bool:
    """Whether ``model`` is laid out as the Fashion CNN (no pooling, unpadded stride-1 convs),
    the network seed 001's formula describes."""
    layout = [(name, type(m)) for name, m in model.named_children()]
    if layout != FASHION_CNN_LAYOUT:
        return False
    convs = (model.conv1, model.conv2)
    return all(c.stride == (1, 1) and c.padding == (0, 0) and c.dilation == (1, 1) for c in convs)


def fashion_cnn_shape(model: nn.Module) -> dict[str, int]:
    """(c1, k1, c2, k2, f1) and the class count read off a (pruned) Fashion CNN."""
    if not is_fashion_cnn(model):
        raise CourseError(
            "Not a Fashion CNN (conv1, relu1, conv2, relu2, flatten, fc1, relu3, fc2, unpadded "
            "stride-1 convs): seed 001's formula does not apply to it."
        )
    return {
        "c1": model.conv1.out_channels,
        "k1": model.conv1.kernel_size[0],
        "c2": model.conv2.out_channels,
        "k2": model.conv2.kernel_size[0],
        "f1": model.fc1.out_features,
        "num_classes": model.fc2.out_features,
    }


def _conv_stack(in_channels: int, plan, batch_norm: bool) -> list[tuple[str, nn.Module]]:
    """Layers for a plan like [32, (32, 0), "pool"]: 3x3 convs of that many channels (padding 1,
    or the one given in a pair) and 2x2 max-pools."""
    layers, conv, pool = [], 0, 0
    for item in plan:
        if item == "pool":
            pool += 1
            layers.append((f"pool{pool}", nn.MaxPool2d(2)))
            continue
        channels, padding = item if isinstance(item, tuple) else (item, 1)
        conv += 1
        layers.append((f"conv{conv}", nn.Conv2d(in_channels, channels, 3, padding=padding)))
        if batch_norm:
            layers.append((f"bn{conv}", nn.BatchNorm2d(channels)))
        layers.append((f"relu{conv}", nn.ReLU()))
        in_channels = channels
    return layers


def _classifier(features, input_shape, hidden: int, num_classes: int) -> nn.Sequential:
    features = features + [("flatten", nn.Flatten())]
    flat = _flat_size(features, input_shape)
    head = [
        ("fc1", nn.Linear(flat, hidden)),
        ("relu_fc1", nn.ReLU()),
        ("fc2", nn.Linear(hidden, num_classes)),
    ]
    return nn.Sequential(OrderedDict(features + head))


@register("cifar_cnn")
def cifar_cnn(input_shape, num_classes, pool: bool = True) -> nn.Sequential:
    """Seed 003's small CNN (Keras' CIFAR-10 example): conv 32 (same), conv 32 (valid), [pool],
    conv 64 (same), conv 64 (valid), [pool], fc 512."""
    plan = [32, (32, 0), "pool", 64, (64, 0), "pool"]
    plan = plan if pool else [item for item in plan if item != "pool"]
    return _classifier(_conv_stack(input_shape[0], plan, False), input_shape, 512, num_classes)


@register("vgg_small")
def vgg_small(input_shape, num_classes, widths=(32, 64, 128)) -> nn.Sequential:
    """A VGG-style net: per width two conv-bn-relu and a max-pool, then fc 256 and fc classes."""
    plan = [item for w in widths for item in (w, w, "pool")]
    return _classifier(_conv_stack(input_shape[0], plan, True), input_shape, 256, num_classes)


class BasicBlock(nn.Module):
    """Two 3x3 conv-bn layers with a skip connection (a 1x1 conv-bn when the shape changes)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


# Blocks that are not nn.Sequential but call a chain of their children in order (inside a skip
# connection): class -> the chain's attribute names. Branches bridge the layer pairs in them.
CHAINS: dict[type, tuple[str, ...]] = {BasicBlock: ("conv1", "bn1", "relu", "conv2")}


class ResNetSmall(nn.Module):
    """A small ResNet: a 3x3 stem, a BasicBlock per width (stride 2 after the first), a fc head."""

    def __init__(self, input_shape, num_classes, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks, channels = [], widths[0]
        for i, width in enumerate(widths):
            blocks.append(BasicBlock(channels, width, 1 if i == 0 else 2))
            channels = width
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.layers(self.stem(x)))))


@register("resnet_small")
def resnet_small(input_shape, num_classes, widths=(16, 32, 64)) -> ResNetSmall:
    return ResNetSmall(input_shape, num_classes, tuple(widths))


INITS: dict[str, Callable[[torch.Tensor], object] | None] = {
    "default": None,
    "xavier_uniform": nn.init.xavier_uniform_,
    "xavier_normal": nn.init.xavier_normal_,
    "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "normal": lambda w: nn.init.normal_(w, 0.0, 0.01),
}


def initialize(model: nn.Module, scheme: str = "default") -> nn.Module:
    """Re-initialise conv and linear weights by ``scheme``, biases to zero ("default": torch's)."""
    if scheme not in INITS:
        raise CourseError(f"Unknown init {scheme!r}: choose one of {', '.join(INITS)}.")
    init = INITS[scheme]
    if init is None:
        return model
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            init(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
