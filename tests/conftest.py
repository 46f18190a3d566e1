"""Fixtures: small datasets written in the exact upstream formats, so loaders are tested offline."""

import socket
import threading

import pytest
import torch
from factories import write_cifar_like, write_mnist_like

torch.set_num_threads(1)


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
