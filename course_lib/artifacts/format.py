"""The bytes of a model file: a fixed prefix (magic number, format version, header length,
CRC-32 of the rest), a UTF-8 JSON header, then the payload. Reading checks every declared size
against the file's length before it reads more than the file holds."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

from course_lib import paths

MAGIC = b"\x89CLM\r\n\x1a\n"
VERSION = 1
PREFIX = struct.Struct("<8sHII")  # magic, version, header bytes, CRC-32 of header and payload
MAX_DEPTH = 64  # nesting of the header's JSON (the architecture's modules)


class Damaged(Exception):
    """What is wrong with a model file, in a few words (the loader turns it into a CourseError)."""


def need(condition: bool, what: str) -> None:
    """Raise Damaged(``what``) unless ``condition``."""
    if not condition:
        raise Damaged(what)


def whole(value, what: str, low: int = 0, high: int | None = None) -> int:
    """``value`` when it is an int in [low, high], else Damaged."""
    ok = type(value) is int and value >= low and (high is None or value <= high)
    need(ok, f"{what} is {value!r}, not an integer in [{low}, {high if high is not None else '∞'}]")
    return value


def write(path: str | Path, header: dict, payload: bytes) -> Path:
    """Write the file atomically: a reader never sees half of it, an old file is replaced whole."""
    text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    crc = zlib.crc32(payload, zlib.crc32(text))
    prefix = PREFIX.pack(MAGIC, VERSION, len(text), crc)

    def dump(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(prefix + text + payload)

    return paths.atomic_write(path, dump)


def read(path: str | Path) -> tuple[dict, memoryview, int, bool]:
    """The header, the payload, the file's size and whether its checksum holds; Damaged when the
    prefix, the length or the JSON is wrong. Nothing larger than the file is allocated."""
    size = os.path.getsize(path)
    need(
        size >= PREFIX.size, f"truncated: {size} bytes, shorter than the {PREFIX.size}-byte prefix"
    )
    with open(path, "rb") as f:
        magic, version, header_bytes, crc = PREFIX.unpack(f.read(PREFIX.size))
        need(magic == MAGIC, "wrong magic number: not a model file of course_lib.artifacts")
        need(version == VERSION, f"format version {version}; this course_lib reads {VERSION}")
        rest = size - PREFIX.size
        need(
            header_bytes <= rest,
            f"truncated: the header declares {header_bytes} bytes, {rest} follow",
        )
        body = f.read(rest)
    need(len(body) == rest, "the file changed while it was read")
    intact = zlib.crc32(body) == crc
    try:
        header = json.loads(bytes(body[:header_bytes]).decode())
    except (ValueError, RecursionError) as err:
        raise Damaged(f"the header is not JSON ({type(err).__name__})") from None
    need(isinstance(header, dict), "the header is not a JSON object")
    need(_depth(header) <= MAX_DEPTH, f"the header nests deeper than {MAX_DEPTH} levels")
    return header, memoryview(body)[header_bytes:], size, intact


def _depth(value, level: int = 0) -> int:
    """How deep ``value`` nests (stops counting past MAX_DEPTH)."""
    if level > MAX_DEPTH or not isinstance(value, dict | list):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((_depth(item, level + 1) for item in items), default=level)
