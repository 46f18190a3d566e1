"""The datasets' upstream files, read and checked: MNIST's gzip IDX files and CIFAR-10's python
batches (unpickled without running any code they name)."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import torch

from course_lib.errors import CourseError


def read_idx(path: Path) -> np.ndarray:
    """Read one gzip-compressed IDX file (the MNIST format) into a numpy array, fully checked."""
    try:
        raw = gzip.open(path).read()
    except (OSError, EOFError) as err:
        raise CourseError(
            f"{path} is not a readable gzip file ({err}): delete it and download it again."
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise CourseError(f"{path} is not an IDX file of unsigned bytes: replace it.")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise CourseError(
            f"{path} holds {len(raw)} bytes but its header announces {expected}: the file is "
            "truncated or corrupt; delete it and download it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_idx_split(folder: Path, files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = (read_idx(folder / f) for f in files)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise CourseError(
            f"{folder}: {files[0]} holds {images.shape} and {files[1]} {labels.shape}; "
            "expected N images of H x W and N labels."
        )
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


# The only globals a real CIFAR-10 python batch names: numpy's array reconstruction (pickles
# of numpy 1 and 2, Python 2 and 3). Any other (code a hostile file would run) is refused.
CIFAR_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch (dicts, lists, bytes, numbers, numpy arrays) and nothing
    else: no code named in the file can run."""

    def find_class(self, module: str, name: str):
        if (module, name) not in CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which no CIFAR-10 batch holds")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 1's name for it
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images [N, 3072] and labels [N] of one batch file, read without running its code."""
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as err:  # a damaged or foreign pickle fails in many ways
        reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        raise CourseError(
            f"{path} is not a CIFAR-10 python batch ({reason}): delete the folder and download "
            "it again."
        ) from None
    fits = data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3 * 32 * 32
    if not fits or labels.shape != (len(data),) or not np.isin(labels, range(10)).all():
        raise CourseError(
            f"{path} holds data {data.dtype} {data.shape} and labels {labels.shape}, not a "
            "CIFAR-10 batch (uint8 [N, 3072], labels 0-9): delete the folder and download it again."
        )
    return data, labels


def _read_cifar_split(folder: Path, files: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    batches = [_read_cifar_batch(folder / name) for name in files]
    images = np.concatenate([data.reshape(-1, 3, 32, 32) for data, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return torch.from_numpy(images), torch.from_numpy(labels)


# dataset -> reader of a split's files in a folder: (uint8 images [N, C, H, W], int64 labels [N])
READERS = {"mnist": _read_idx_split, "fashion-mnist": _read_idx_split, "cifar10": _read_cifar_split}
