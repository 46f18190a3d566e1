"""Save a (compressed) model as one compact file and load it back as a runnable model.

Tensors named in ``theta`` are stored in their compressed form (``theta`` holds the neutral
forms of ``artifacts.theta``); every other tensor dense, as float32 (or float16 where asked).
Loading never unpickles: it checks the file's declared sizes against its length, rebuilds the
architecture on the meta device and only then decodes the tensors."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from course_lib.artifacts import architecture, codecs
from course_lib.artifacts.format import PREFIX, Damaged, need, read, whole, write
from course_lib.artifacts.theta import Factors, Sum
from course_lib.errors import CourseError

MAX_EXPANSION = 1024  # values a file may declare per byte it holds, unless load is told more
DENSE = {torch.float32: "float32", torch.int64: "int64"}


def save(
    path: str | Path,
    model: nn.Module,
    theta: Mapping | None = None,
    *,
    dense: str = "float32",
    input_shape=None,
    meta: Mapping | None = None,
    overwrite: bool = False,
) -> dict:
    """Write ``model`` to ``path`` (atomically); returns ``inspect(path)``.

    ``theta`` maps a parameter name, or a tuple of names compressed together, to its θ (a
    ``Codebook``, ``Sparse``, ``Factors`` or ``Sum``); a θ larger than its tensors stored dense is
    stored dense. ``dense`` is "float32" or "float16" (lossy) for the other float tensors.
    ``input_shape`` (C, H, W) lets the loader check the architecture with a pass on the meta
    device; ``meta`` is any JSON you want kept beside the model. An existing file is refused
    unless ``overwrite``."""
    if Path(path).exists() and not overwrite:
        raise CourseError(f"{path} exists: pass overwrite=True or another path.")
    if dense not in ("float32", "float16"):
        raise CourseError(f"dense must be 'float32' or 'float16'; got {dense!r}.")
    described = architecture.describe(model)
    state = {name: t.detach().cpu() for name, t in model.state_dict().items()}
    odd = sorted(n for n, t in state.items() if t.dtype not in DENSE)
    if odd:
        raise CourseError(f"Cannot save {odd}: a model file holds float32 and int64 tensors.")
    groups = _theta_groups(theta or {}, state)
    records, blobs = [], []
    for names, value in groups.items():
        shapes = [list(state[name].shape) for name in names]
        try:
            fields, blob = codecs.encode(value, shapes)
        except Damaged as err:
            raise CourseError(f"Cannot store the θ of {list(names)}: {err}.") from None
        if len(blob) >= 4 * sum(map(math.prod, shapes)):
            continue  # the dense record below holds these tensors
        _check_decoded(names, value, codecs.decode(fields, blob, shapes), state)
        records.append({"tensors": [[n, s] for n, s in zip(names, shapes, strict=True)],
                        "code": fields, "bytes": len(blob)})  # fmt: skip
        blobs.append(blob)
    stored = {name for record in records for name, _ in record["tensors"]}
    for dtype, kind in DENSE.items():
        names = [n for n, t in state.items() if n not in stored and t.dtype == dtype]
        if names:
            flat = torch.cat([state[n].reshape(-1) for n in names])
            fields, blob = codecs.Dense.encode(flat, dense if kind == "float32" else kind)
            tensors = [[n, list(state[n].shape)] for n in names]
            records.append({"tensors": tensors, "code": fields, "bytes": len(blob)})
            blobs.append(blob)
    header = {"architecture": described, "records": records,
              "input_shape": None if input_shape is None else [int(d) for d in input_shape],
              "meta": dict(meta or {})}  # fmt: skip
    write(path, header, b"".join(blobs))
    return inspect(path)


def _theta_groups(theta: Mapping, state: dict) -> dict[tuple[str, ...], object]:
    groups, seen = {}, set()
    for key, value in theta.items():
        names = (key,) if isinstance(key, str) else tuple(key)
        unknown = [n for n in names if n not in state or state[n].dtype != torch.float32]
        if unknown or seen.intersection(names):
            raise CourseError(
                f"theta names {unknown or sorted(seen.intersection(names))}: each key must name "
                "float32 tensors of the model's state_dict, each tensor once."
            )
        seen.update(names)
        groups[names] = value
    return groups


def _check_decoded(names, value, decoded: torch.Tensor, state: dict) -> None:
    """θ must give the model's tensors: bit for bit, or to float rounding with factors (u @ v)."""
    target = torch.cat([state[n].reshape(-1) for n in names])
    parts = value.parts if isinstance(value, Sum) else (value,)
    if torch.equal(decoded, target):
        return
    if any(isinstance(p, Factors) for p in parts) and torch.allclose(decoded, target, 1e-5, 1e-6):
        return
    raise CourseError(f"The θ given for {list(names)} does not give the model's weights.")


def load(path: str | Path, *, max_expansion: int = MAX_EXPANSION) -> nn.Module:
    """The model in the file at ``path``, on the CPU, in eval mode. A file that is truncated,
    corrupt, of another format or version, or whose declared sizes do not match its payload is
    refused with a CourseError before anything larger than the file is allocated; so is one that
    declares more than ``max_expansion`` values per byte of file."""
    try:
        header, payload, size, intact = read(path)
        records = _records(header, payload, size, max_expansion)
        need(intact, "checksum mismatch: the file is corrupt")
        model = architecture.build(header.get("architecture"))
        _check_layout(model, records, header.get("input_shape"))
        tensors = _decode(records, payload, model.state_dict())
    except Damaged as err:
        raise CourseError(f"Cannot load {path}: {err}. Save the model again.") from None
    except FileNotFoundError:
        raise CourseError(f"No model file at {path}.") from None
    model.load_state_dict(tensors, assign=True)
    return model.eval()


def _records(header: dict, payload, size: int, max_expansion: int) -> list[tuple]:
    """(names, shapes, fields, bytes) per record, every size checked against the payload."""
    records, names, values = header.get("records"), set(), 0
    need(isinstance(records, list), "the header lists no records")
    checked = []
    for record in records:
        need(isinstance(record, dict) and isinstance(record.get("tensors"), list), "a bad record")
        shapes = []
        for item in record["tensors"]:
            ok = isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
            need(ok and isinstance(item[1], list) and len(item[1]) <= 8, f"a bad tensor {item!r}")
            need(item[0] not in names, f"tensor {item[0]!r} is stored twice")
            names.add(item[0])
            shapes.append([whole(d, f"a dimension of {item[0]}") for d in item[1]])
        values += sum(map(math.prod, shapes))
        need(
            values <= max_expansion * size,
            f"it declares {values} values, over {max_expansion} per byte of its {size} (pass a "
            "larger max_expansion if you trust it)",
        )
        nbytes = codecs.nbytes(record.get("code"), shapes)
        need(
            record.get("bytes") == nbytes,
            f"a record declares {record.get('bytes')} bytes, its encoding needs {nbytes}",
        )
        checked.append(([n for n, _ in record["tensors"]], shapes, record["code"], nbytes))
    total = sum(r[3] for r in checked)
    need(
        total == len(payload),
        f"the records need {total} bytes of payload, the file has {len(payload)} (truncated or "
        "padded)",
    )
    return checked


def _check_layout(model: nn.Module, records: list[tuple], input_shape) -> None:
    """The records hold exactly the tensors of the rebuilt model, in their shapes; the model runs
    on an input of ``input_shape`` (on the meta device)."""
    expected = {name: list(t.shape) for name, t in model.state_dict().items()}
    stored = {n: s for names, shapes, _, _ in records for n, s in zip(names, shapes, strict=True)}
    need(stored == expected, "its tensors do not match its architecture")
    if input_shape is None:
        return
    ok = isinstance(input_shape, list) and 1 <= len(input_shape) <= 4
    need(ok and all(type(d) is int and 0 < d < 1 << 16 for d in input_shape), "bad input_shape")
    try:
        with torch.no_grad():
            model.eval()(torch.empty(1, *input_shape, device="meta"))
    except (RuntimeError, ValueError, TypeError, AttributeError) as err:
        raise Damaged(f"its architecture does not run ({type(err).__name__})") from None


def _decode(records: list[tuple], payload, like: dict) -> dict[str, torch.Tensor]:
    """The tensors of every record, in the dtypes of ``like`` (the rebuilt model's)."""
    tensors, offset = {}, 0
    for names, shapes, fields, nbytes in records:
        flat = codecs.decode(fields, payload[offset : offset + nbytes], shapes)
        offset += nbytes
        sizes = [math.prod(s) for s in shapes]
        for name, part, shape in zip(names, flat.split(sizes), shapes, strict=True):
            tensors[name] = part.reshape(shape).to(like[name].dtype, copy=True)
    return tensors


def inspect(path: str | Path) -> dict:
    """What the file at ``path`` holds, from its header: its size in bytes (prefix, header,
    payload), and per record the encoding, the tensors and the bytes."""
    try:
        header, payload, size, intact = read(path)
        need(intact, "checksum mismatch: the file is corrupt")
    except Damaged as err:
        raise CourseError(f"Cannot read {path}: {err}.") from None
    except FileNotFoundError:
        raise CourseError(f"No model file at {path}.") from None
    records = header.get("records") or []
    return {
        "path": str(path),
        "bytes": size,
        "header_bytes": size - PREFIX.size - len(payload),
        "payload_bytes": len(payload),
        "records": [
            {
                "encoding": r["code"]["kind"],
                "tensors": [n for n, _ in r["tensors"]],
                "bytes": r["bytes"],
            }
            for r in records
        ],  # fmt: skip
        "input_shape": header.get("input_shape"),
        "meta": header.get("meta", {}),
    }
