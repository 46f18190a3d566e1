"""Tiny data bundles and nets shared by the tests, and small datasets in the upstream formats."""

import gzip
import os
import pickle
import struct
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from course_lib.data import DataBundle, Split
from course_lib.models import build_model

DIGITS = tuple(str(k) for k in range(10))
ROOT = Path(__file__).resolve().parents[1]
# The seed reports the kit grew from: beside the checkout (../shared/seeds), or $COURSE_SEEDS.
SEED_REPORTS = Path(os.environ.get("COURSE_SEEDS") or ROOT.parent / "shared" / "seeds")


def labelled_by(model, n=64, seed=0, shape=(1, 12, 12)) -> DataBundle:
    """Random images labelled by ``model`` itself: its accuracy on every split is exactly 1."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), generator=generator, dtype=torch.uint8)
    unlabelled = Split(images, torch.zeros(n, dtype=torch.long))
    channels = shape[0]
    data = DataBundle(
        "fashion-mnist", unlabelled, unlabelled, unlabelled, (0.5,) * channels,
        (0.25,) * channels, DIGITS,
    )  # fmt: skip
    with torch.no_grad():
        labels = model(next(iter(data.loader("train", n)))[0]).argmax(1)
    split = Split(images, labels)
    return replace(data, train=split, val=split, test=split)


def prototype_bundle(shape=(1, 8, 8), n_train=2000, n_test=500, seed=0) -> DataBundle:
    """Ten noisy prototype images, named 'mnist' so that TrainConfig accepts it."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(10, *shape, generator=generator) * 255

    def split(n):
        labels = torch.randint(0, 10, (n,), generator=generator)
        noise = torch.rand(n, *shape, generator=generator) * 160
        return Split((prototypes[labels] * 0.5 + noise).clamp(0, 255).to(torch.uint8), labels)

    return DataBundle("mnist", split(n_train), split(0), split(n_test), (0.5,), (0.25,), DIGITS)


def small_fashion_cnn(seed=0, **widths):
    """A Fashion CNN on 12×12 images (c1 3, c2 4, f1 6 unless given), in eval mode."""
    torch.manual_seed(seed)
    shape = {"c1": 3, "c2": 4, "f1": 6, **widths}
    return build_model("fashion_cnn", (1, 12, 12), 10, k1=3, k2=3, **shape).eval()


def tiny_cnn(seed=0):
    """Three 3×3 convs (1→4→8→8, the last strided) and a classifier for 12×12 images, in eval
    mode."""
    torch.manual_seed(seed)
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 4, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(4, 8, 3, padding=1),
            relu2=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv3=nn.Conv2d(8, 8, 3, stride=2, padding=1),
            relu3=nn.ReLU(),
            flatten=nn.Flatten(),
            fc1=nn.Linear(8 * 3 * 3, 10),
        )
    ).eval()


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file of unsigned bytes (the MNIST format), gzip-compressed."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def write_mnist_like(folder, n_train=120, n_test=40, seed=0):
    """MNIST-format files whose label is readable from the image (a bright row per class)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        images[np.arange(n), labels * 2 + 4, :] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


def write_cifar_like(folder, per_batch=20, seed=0):
    """The CIFAR-10 python pickles: five data batches and a test batch."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    return folder
