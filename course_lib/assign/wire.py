"""What crosses between the grader and the contestant process that runs a student's functions.

The grader sends pickles (it is trusted; the contestant reads only what the grader wrote). The
contestant answers with ``torch.save`` of plain data (tensors, numbers, strings, lists, tuples,
dicts, numpy arrays as tagged tensors) and of the ``torch.nn`` layers in :data:`LAYERS`; the
grader reads it with ``torch.load(weights_only=True)``, which runs no code of the student's.
Each message is its length (8 bytes) and its bytes.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

LAYERS = (
    nn.Sequential, nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.Flatten,
    nn.MaxPool2d, nn.AvgPool2d, nn.Identity, nn.Dropout,
)  # fmt: skip
"""The layer types an answer may hold (the exercises return models built of these)."""
ARRAY, SCALAR, UNREADABLE = "__course_ndarray__", "__course_npscalar__", "__course_unreadable__"
MAX_MESSAGE = 256 * 2**20


class Unreadable(Exception):
    """An answer the grader cannot take: of a type no case expects, too large, or cut off."""


class TimedOut(Exception):
    """No answer within the time a case may take."""


def encode(value):
    """``value`` as plain data ``torch.load(weights_only=True)`` reads (see the module doc)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {ARRAY: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {SCALAR: (value.dtype.str, value.item())}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        items = [encode(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if type(value) in (dict, OrderedDict) and all(isinstance(k, str | int) for k in value):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, nn.Module) and all(type(m) in LAYERS for m in value.modules()):
        return value.cpu()
    return {UNREADABLE: f"{type(value).__module__}.{type(value).__qualname__}"}


def decode(value):
    """The inverse of :func:`encode`; an unreadable answer raises :class:`Unreadable`."""
    if isinstance(value, dict):
        if ARRAY in value:
            return value[ARRAY].numpy()
        if SCALAR in value:
            dtype, item = value[SCALAR]
            return np.dtype(dtype).type(item)
        if UNREADABLE in value:
            raise Unreadable(
                f"returned a {value[UNREADABLE]}, which cannot leave the student's process: "
                "return tensors, numpy arrays, numbers, lists or torch.nn layers"
            )
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(decode(v) for v in value)
    return value


def state(value):
    """What the grader copies back of an argument the student's function may have changed."""
    if isinstance(value, nn.Module | torch.optim.Optimizer | torch.optim.lr_scheduler.LRScheduler):
        return {k: encode(v) for k, v in value.state_dict().items()}
    return encode(value) if isinstance(value, torch.Tensor) else None


def restore(value, changed) -> None:
    """Copy the contestant's ``changed`` state of an argument into the grader's ``value``."""
    if changed is None:
        return
    try:
        if isinstance(value, torch.Tensor):
            value.detach().copy_(changed)
        elif isinstance(value, nn.Module):  # tensor by tensor: a changed shape shows as changed
            current = value.state_dict(keep_vars=True)
            for key, tensor in decode(changed).items():
                if key in current:
                    current[key].data = tensor
        else:
            value.load_state_dict(decode(changed))
    except Exception as exc:
        raise Unreadable(f"changed an argument beyond what the grader can follow ({exc})") from None


def send(fd: int, payload: bytes) -> None:
    data = len(payload).to_bytes(8, "big") + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int, deadline: float | None = None) -> bytes:
    """One message from ``fd``; TimedOut past ``deadline`` (time.monotonic), EOFError when the
    other side is gone."""
    size = int.from_bytes(_read(fd, 8, deadline), "big")
    if size > MAX_MESSAGE:
        raise Unreadable(f"an answer of {size} bytes, more than {MAX_MESSAGE} allowed")
    return _read(fd, size, deadline)


def _read(fd: int, size: int, deadline: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimedOut()
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            raise EOFError("the contestant process is gone")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def dumps_trusted(message) -> bytes:
    """The grader's message (read by the contestant with pickle)."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def dumps_answer(message) -> bytes:
    """The contestant's answer, plain data only."""
    buffer = io.BytesIO()
    torch.save(message, buffer)
    return buffer.getvalue()


def loads_answer(payload: bytes):
    """The contestant's answer, read without running any code of its own."""
    try:
        with torch.serialization.safe_globals([*LAYERS, OrderedDict]):
            return torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as exc:
        raise Unreadable(f"an answer the grader cannot read ({type(exc).__name__})") from None
