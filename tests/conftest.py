"""Fixtures: small datasets written in the exact upstream formats, so loaders are tested offline."""

import gzip
import pickle
import socket
import struct
import threading

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


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


@pytest.fixture
def data_root(tmp_path):
    """A data folder holding small mnist, fashion-mnist and cifar10 in their upstream layouts."""
    write_mnist_like(tmp_path / "mnist")
    write_mnist_like(tmp_path / "FashionMNIST" / "raw", seed=1)
    write_cifar_like(tmp_path / "cifar-10-batches-py")
    return tmp_path


@pytest.fixture
def silent_server():
    """The address (host, port) of a server on 127.0.0.1 that accepts every connection and
    never answers: a network that hangs. Its connections close when the test ends."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed at the end of the test
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()
    server.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
    server.close()
    for connection in held:
        connection.close()
