"""Damaged and hostile model files are refused in one line, before anything larger than the
file is allocated, and nothing in them is ever unpickled or imported."""

import json
import resource
import struct

import pytest
import torch
from artifacts.cases import SHAPE

from course_lib import artifacts
from course_lib.artifacts import format as file_format
from course_lib.errors import CourseError
from course_lib.models import build_model


@pytest.fixture
def good(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "good.clm"
    artifacts.save(path, build_model("lenet300", SHAPE), input_shape=SHAPE)
    return path


def refused(path, match: str, **options):
    with pytest.raises(CourseError, match=match) as caught:
        artifacts.load(path, **options)
    assert "\n" not in str(caught.value)
    return caught.value


def crafted(tmp_path, header: dict, payload: bytes = b""):
    """A file with a valid prefix and checksum around whatever header and payload."""
    path = tmp_path / "crafted.clm"
    path.unlink(missing_ok=True)
    return file_format.write(path, header, payload)


def header_of(path) -> tuple[dict, bytes]:
    header, payload, _, _ = file_format.read(path)
    return header, bytes(payload)


@pytest.mark.parametrize("keep", [0, 10, 30, 200, -1])
def test_a_truncated_file_is_refused(good, tmp_path, keep):
    data = good.read_bytes()
    cut = tmp_path / "cut.clm"
    cut.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    refused(cut, "truncated")


def test_wrong_magic_a_pickle_and_a_newer_version_are_refused(good, tmp_path):
    pickled = tmp_path / "state.pt"
    torch.save(build_model("lenet300", SHAPE).state_dict(), pickled)
    refused(pickled, "wrong magic number")
    newer = tmp_path / "newer.clm"
    data = bytearray(good.read_bytes())
    data[8:10] = struct.pack("<H", 2)
    newer.write_bytes(bytes(data))
    refused(newer, "format version 2")
    refused(tmp_path / "missing.clm", "No model file")


def test_a_flipped_byte_is_caught_by_the_checksum(good, tmp_path):
    data = bytearray(good.read_bytes())
    data[-100] ^= 0x10
    corrupt = tmp_path / "corrupt.clm"
    corrupt.write_bytes(bytes(data))
    refused(corrupt, "checksum mismatch")
    with pytest.raises(CourseError, match="checksum"):
        artifacts.inspect(corrupt)


def test_declared_sizes_must_match_the_payload(good, tmp_path):
    header, payload = header_of(good)
    refused(crafted(tmp_path, header, payload + b"\0"), "truncated or padded")
    header["records"][0]["bytes"] += 4
    refused(crafted(tmp_path, header, payload + b"\0" * 4), "declares .* bytes, its encoding")
    huge_header = tmp_path / "huge_header.clm"
    data = bytearray(good.read_bytes())
    data[10:14] = struct.pack("<I", 2**32 - 1)
    huge_header.write_bytes(bytes(data))
    refused(huge_header, "truncated: the header declares 4294967295 bytes")


def test_huge_declared_sizes_are_refused_without_allocating_them(tmp_path):
    side = 200_000  # a 200000×200000 layer: 160 GB of float32
    header = {
        "architecture": {"type": "Linear", "args": {"in_features": side, "out_features": side,
                                                    "bias": False}},
        "records": [{"tensors": [["weight", [side, side]]],
                     "code": {"kind": "sparse", "segments": [[1, 0]]}, "bytes": 0}],
        "input_shape": None, "meta": {},
    }  # fmt: skip
    path = crafted(tmp_path, header)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refused(path, "declares 40000000000 values")
    for code in ({"kind": "factors", "rank": 1}, {"kind": "codebook", "size": 2, "stored": "none",
                                                   "entries": 2}):  # fmt: skip
        header["records"][0]["code"] = code
        refused(crafted(tmp_path, header), "declares 40000000000 values")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_an_architecture_of_unknown_types_or_arguments_is_refused(good, tmp_path):
    header, payload = header_of(good)
    header["architecture"]["children"][1][1]["type"] = "os.system"
    refused(crafted(tmp_path, header, payload), "unknown type 'os.system'")
    header, payload = header_of(good)
    header["architecture"]["children"][1][1]["args"]["in_features"] = -5
    refused(crafted(tmp_path, header, payload), "cannot be built")
    header, payload = header_of(good)
    header["architecture"]["children"][0][0] = "__class__"
    refused(crafted(tmp_path, header, payload), "child named '__class__'")
    header, payload = header_of(good)
    header["architecture"]["children"][1][1]["args"]["out_features"] = 299
    refused(crafted(tmp_path, header, payload), "do not match its architecture")


def test_an_architecture_that_cannot_run_is_refused(good, tmp_path):
    header, payload = header_of(good)
    header["architecture"]["children"].pop(2)  # the activation: fc1 and fc2 still fit...
    header["architecture"]["children"][0][1] = {"type": "Identity", "args": {}}  # ...no flatten
    refused(crafted(tmp_path, header, payload), "does not run")


def test_indices_past_the_codebook_or_the_tensor_are_refused(tmp_path):
    header = {
        "architecture": {"type": "Linear", "args": {"in_features": 4, "out_features": 2,
                                                    "bias": False}},
        "records": [{"tensors": [["weight", [2, 4]]], "bytes": 8 + 2,
                     "code": {"kind": "codebook", "size": 4, "stored": "all", "entries": 2}}],
        "input_shape": [4], "meta": {},
    }  # fmt: skip
    entries = struct.pack("<2f", -1.0, 1.0)
    assert artifacts.load(crafted(tmp_path, header, entries + b"\x44\x44")).weight.tolist() == [
        [-1.0, 1.0, -1.0, 1.0], [-1.0, 1.0, -1.0, 1.0]
    ]  # fmt: skip
    refused(crafted(tmp_path, header, entries + b"\x44\x4b"), "index points past")
    header["records"][0]["code"] = {"kind": "sparse", "segments": [[4, 2]]}
    header["records"][0]["bytes"] = 1 + 8
    refused(crafted(tmp_path, header, b"\xf0" + entries), "run past the tensor")


def test_malformed_headers_are_refused(good, tmp_path):
    deep = {"architecture": json.loads("[" * 100 + "]" * 100), "records": []}
    refused(crafted(tmp_path, deep), "nests deeper")
    refused(crafted(tmp_path, {"records": "all"}), "lists no records")
    not_json = tmp_path / "not_json.clm"
    data = bytearray(good.read_bytes())
    data[file_format.PREFIX.size] = ord("}")
    not_json.write_bytes(bytes(data))
    refused(not_json, "not JSON")
