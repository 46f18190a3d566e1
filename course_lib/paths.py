"""Files and folders a run writes: atomic writes and fresh folders, never an overwrite."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it into place: a
    reader never sees half a file, and a failed write leaves nothing behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_json(path: str | Path, content, **options) -> Path:
    """Write ``content`` as JSON atomically (``options`` go to json.dumps)."""
    return write_text(path, json.dumps(content, indent=2, **options))


def fresh_folder(parent: str | Path, name: str) -> Path:
    """A new folder ``parent/<timestamp>-<name>`` (``-2``, ``-3``, … when taken); never one
    that exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(parent) / f"{stamp}-{name}"
    folder, attempt = base, 1
    while True:
        try:
            folder.mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            attempt += 1
            folder = base.with_name(f"{base.name}-{attempt}")
