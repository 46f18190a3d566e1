"""Files and folders a run writes: atomic writes and fresh folders, never an overwrite."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from course_lib.errors import CourseError


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


def writable_folder(path: str | Path, what: str) -> Path:
    """``path`` as a folder this process can write into, created when missing; a CourseError
    naming ``what`` ("output_dir", "--runs-dir") when it is a file or cannot be written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CourseError(f"{what} {path} is a file, not a folder: pass a folder path.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise CourseError(
            f"{what} {path} is not a folder this user can write to ({err.strerror or err}): "
            "pass another folder."
        ) from None
    return path


def file_digest(*files: str | Path) -> str:
    """The SHA-256 of the files' bytes, one after the other."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def fresh_folder(parent: str | Path, name: str, what: str = "the runs folder") -> Path:
    """A new folder ``parent/<timestamp>-<name>`` (``-2``, ``-3``, … when taken); never one
    that exists. ``parent`` (named ``what`` in a refusal) must be a folder one can write to."""
    writable_folder(parent, what)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(parent) / f"{stamp}-{name}"
    folder, attempt = base, 1
    while True:
        try:
            folder.mkdir(exist_ok=False)
            return folder
        except FileExistsError:
            attempt += 1
            folder = base.with_name(f"{base.name}-{attempt}")
