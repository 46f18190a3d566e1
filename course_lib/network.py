"""How long the kit waits on the network: every wait (a dataset download, a Dask scheduler, an
MLflow server) ends after ``COURSE_NETWORK_TIMEOUT`` seconds without an answer (default 30)."""

from __future__ import annotations

import contextlib
import os
import socket

from course_lib import checks

VARIABLE = "COURSE_NETWORK_TIMEOUT"
DEFAULT_TIMEOUT = 30.0


def timeout() -> float:
    """Seconds a network wait may last: $COURSE_NETWORK_TIMEOUT, else DEFAULT_TIMEOUT."""
    text = os.environ.get(VARIABLE)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = text
    return float(
        checks.number(f"${VARIABLE} (seconds a network wait may last)", value, 0, open_low=True)
    )


@contextlib.contextmanager
def bounded_sockets():
    """Inside the block, a socket opened without a timeout of its own (urllib's, torchvision's
    downloads) gives up after ``timeout()`` seconds of silence; the old default comes back after."""
    saved = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout())
    try:
        yield
    finally:
        socket.setdefaulttimeout(saved)
