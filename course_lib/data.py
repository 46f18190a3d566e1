"""Datasets as resident uint8 tensors, and a loader that batches, augments and normalises on device.

MNIST and Fashion-MNIST are read from their IDX .gz files, CIFAR-10 from its python pickles, in a
data folder the user names, then Debian's /usr/share/datasets, then downloaded through torchvision.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib import checks, network
from course_lib.datafiles import READERS
from course_lib.errors import CourseError


@dataclass(frozen=True)
class DatasetInfo:
    torchvision_class: str
    files: dict[str, tuple[str, ...]]  # split -> file names (images first for IDX)
    folders: tuple[str, ...]  # where the files may sit below a data folder
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    val_size: int
    input_shape: tuple[int, int, int]  # (C, H, W) of an image


DIGITS = tuple(str(d) for d in range(10))
DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "MNIST",
        {
            "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        },
        ("", "mnist", "MNIST/raw"),
        (0.1307,),
        (0.3081,),
        DIGITS,
        5000,
        (1, 28, 28),
    ),
    "fashion-mnist": DatasetInfo(
        "FashionMNIST",
        {
            "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        },
        ("", "fashion-mnist", "FashionMNIST/raw"),
        (0.2860,),
        (0.3530,),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat")
        + ("Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        5000,
        (1, 28, 28),
    ),
    "cifar10": DatasetInfo(
        "CIFAR10",
        {
            "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
            "test": ("test_batch",),
        },
        ("cifar-10-batches-py", "cifar10/cifar-10-batches-py"),
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        ("airplane", "automobile", "bird", "cat", "deer")
        + ("dog", "frog", "horse", "ship", "truck"),
        5000,
        (3, 32, 32),
    ),
}
# (x/255 − mean)/std per channel, or x/255 − mean as the LC reference library (docs/LC.md)
NORMALIZATIONS = ("standardize", "center")
# Evaluation batches: on the CPU a batch of 128 keeps a small CNN's activations in cache (LeNet-5
# evaluates 1.6x faster than at 1024); accelerators take large batches.
EVAL_BATCH = {"cpu": 128, "accelerator": 1024}
SYSTEM_DATA = Path("/usr/share/datasets")
DEFAULT_DATA = Path.home() / ".cache" / "compression-lab" / "data"


@dataclass
class Split:
    """Images as uint8 [N, C, H, W] and labels as int64 [N]."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])


@dataclass
class DataBundle:
    """A dataset's train / validation / test splits and how to normalise them."""

    name: str
    train: Split
    val: Split
    test: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    normalize: str = "standardize"  # one of NORMALIZATIONS

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> Split:
        if name not in ("train", "val", "test"):
            raise CourseError(f"Unknown split {name!r}: use 'train', 'val' or 'test'.")
        return getattr(self, name)

    def loader(
        self,
        split: str = "train",
        batch_size: int = 256,
        shuffle: bool = False,
        augment: bool = False,
        device: torch.device | str | None = None,
        seed: int = 0,
    ) -> BatchLoader:
        std = self.std if self.normalize == "standardize" else (1.0,) * len(self.mean)
        return BatchLoader(
            self.split(split), self.mean, std, batch_size, shuffle, augment, device, seed
        )

    def eval_loader(
        self, split: str, device: torch.device | str | None = None, batch_size: int | None = None
    ) -> BatchLoader:
        """Unshuffled batches of ``split`` for evaluation; ``batch_size`` None: the device's
        (``EVAL_BATCH``)."""
        kind = "cpu" if torch.device(device or "cpu").type == "cpu" else "accelerator"
        return self.loader(split, batch_size or EVAL_BATCH[kind], device=device)


class BatchLoader:
    """Serves normalised float batches of a resident uint8 split, without per-sample Python work.

    Shuffling uses a seeded generator (epoch e of seed s is always the same order); augmentation
    (random crop with 4-pixel padding, horizontal flip) is done on whole batches on the device.
    """

    def __init__(self, split, mean, std, batch_size, shuffle, augment, device, seed):
        if batch_size < 1:
            raise CourseError(f"batch_size must be a positive integer, got {batch_size}.")
        self.device = torch.device(device or "cpu")
        self.images = split.images.to(self.device)
        self.labels = split.labels.to(self.device)
        channels = self.images.shape[1]
        std_t = torch.tensor(std, device=self.device).view(1, channels, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -torch.tensor(mean, device=self.device).view(1, channels, 1, 1) / std_t
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for start in range(0, n, self.batch_size):
            index = order[start : start + self.batch_size]
            x = self.images[index].float()
            if self.augment:
                x = self._augment(x)
            yield x * self.scale + self.shift, self.labels[index]

    def _augment(self, x: torch.Tensor, pad: int = 4) -> torch.Tensor:
        b, _, h, w = x.shape
        padded = F.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b, 1), generator=self.generator).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (b, 1), generator=self.generator).to(x.device)
        rows = (dy + torch.arange(h, device=x.device))[:, :, None]
        cols = (dx + torch.arange(w, device=x.device))[:, None, :]
        batch = torch.arange(b, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
        flip = (torch.rand(b, generator=self.generator) < 0.5).to(x.device)
        return torch.where(flip[:, None, None, None], x.flip(3), x)


def _find_folder(name: str, roots: list[Path]) -> Path | None:
    info = DATASETS[name]
    needed = [f for files in info.files.values() for f in files]
    for root in roots:
        for sub in info.folders:
            folder = root / sub
            if all((folder / f).is_file() for f in needed):
                return folder
    return None


def find_dataset(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The folder holding ``name``'s files, looked up as ``load_data`` does (data_dir, else
    $COURSE_DATA, else the default folder; then /usr/share/datasets); None: not here."""
    root = Path(data_dir or os.environ.get("COURSE_DATA") or DEFAULT_DATA)
    return _find_folder(name, [root, SYSTEM_DATA])


def _download(name: str, root: Path) -> None:
    """Download ``name`` through torchvision into ``root``; every wait on the network is bounded
    (``network.timeout``)."""
    import torchvision

    dataset_class = getattr(torchvision.datasets, DATASETS[name].torchvision_class)
    seconds = network.timeout()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with network.bounded_sockets():
            for train in (True, False):
                dataset_class(str(root), train=train, download=True)
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError, timeouts ...
        reason = str(err).splitlines()[0] if str(err) else ""
        raise CourseError(
            f"No {name} files were found and downloading them failed: give data_dir (or "
            f"COURSE_DATA) a folder that holds them, or connect to the network and run again.\n"
            f"The download into {root} failed ({type(err).__name__}: {reason}); each wait on the "
            f"network lasts at most {seconds:g} s (${network.VARIABLE}).\n"
            "The files are looked for in data_dir (or COURSE_DATA), else in "
            f"{DEFAULT_DATA}, and in {SYSTEM_DATA} (for fashion-mnist on Debian: "
            "`apt-get install dataset-fashion-mnist`)."
        ) from None


def load_raw(
    name: str, data_dir: str | Path | None = None, download: bool = True
) -> dict[str, Split]:
    """The upstream train and test splits of a dataset, found or downloaded."""
    if name not in DATASETS:
        raise CourseError(f"Unknown dataset {name!r}: choose one of {', '.join(DATASETS)}.")
    data_dir = data_dir or os.environ.get("COURSE_DATA")
    if data_dir is not None and not Path(data_dir).is_dir():
        problem = "is a file, not a folder" if Path(data_dir).exists() else "does not exist"
        raise CourseError(
            f"Data folder {data_dir} {problem}: give a folder (create it first), or leave "
            "data_dir and COURSE_DATA unset to use the default folder."
        )
    roots = [Path(data_dir)] if data_dir else [DEFAULT_DATA]
    folder = find_dataset(name, roots[0])
    if folder is None:
        if not download:
            raise CourseError(
                f"No {name} files in {roots[0]} or {SYSTEM_DATA}: pass download=True, give "
                "data_dir, or (fashion-mnist) `apt-get install dataset-fashion-mnist`."
            )
        _download(name, roots[0])
        folder = _find_folder(name, roots)
        if folder is None:
            raise CourseError(
                f"torchvision downloaded {name} into {roots[0]} but no files are there: delete "
                "that folder's download and run again, or give data_dir a folder that holds them."
            )
    read = READERS[name]
    return {split: Split(*read(folder, files)) for split, files in DATASETS[name].files.items()}


def load_data(
    name: str,
    data_dir: str | Path | None = None,
    val_size: int | None = None,
    subset: int | None = None,
    seed: int = 0,
    download: bool = True,
    test_subset: int | None = None,
    normalize: str = "standardize",
) -> DataBundle:
    """Load a dataset with a deterministic train / validation split.

    val_size: images held out of the training set (default 5000, the same ones for every seed);
    subset: keep only this many training images (a seeded random choice), for quick runs;
    test_subset: keep only the first this many test images (smoke runs; None keeps all 10000);
    normalize: one of NORMALIZATIONS.
    """
    checks.choice("normalize", normalize, NORMALIZATIONS)
    info = DATASETS.get(name)
    raw = load_raw(name, data_dir, download)
    train, test = raw["train"], raw["test"]
    val_size = info.val_size if val_size is None else val_size
    if not 0 <= val_size < len(train):
        raise CourseError(f"val_size must be in [0, {len(train)}), got {val_size}.")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(12345))
    val, train = train.take(order[:val_size]), train.take(order[val_size:])
    if subset is not None:
        if not 0 < subset:
            raise CourseError(f"subset must be a positive number of images, got {subset}.")
        if subset < len(train):
            pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
            train = train.take(pick[:subset])
    if test_subset is not None:
        if not 0 < test_subset:
            raise CourseError(
                f"test_subset must be a positive number of images, got {test_subset}."
            )
        test = test.take(torch.arange(min(test_subset, len(test))))
    return DataBundle(name, train, val, test, info.mean, info.std, info.classes, normalize)


def evaluation_subset(data: DataBundle, images: int | None) -> DataBundle:
    """``data`` with its validation and test splits cut to their first ``images`` (None: all),
    for quick runs of the many evaluations pruning makes."""
    if images is None:
        return data
    checks.integer("images", images, low=1)
    first = torch.arange(images)
    return replace(
        data,
        val=data.val.take(first[: len(data.val)]),
        test=data.test.take(first[: len(data.test)]),
    )
