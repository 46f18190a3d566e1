"""Checkpoints written atomically with their config, and the cached reference models.

Every notebook gets its pretrained network from ``reference_model``: trained once per
(model, dataset, training config), then loaded from the cache ($COURSE_CACHE); or, with the
notebooks' ``reference`` parameter, the net a student tuned in notebook 01 (``tuned_reference``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from course_lib import paths
from course_lib.data import DataBundle, load_data
from course_lib.errors import CourseError
from course_lib.models import build_model
from course_lib.profiles import load_profile_file, resolve_profile_name
from course_lib.train import UNWEIGHED, History, TrainConfig, fit, initial_model

FORMAT = 1


def cache_dir(path: str | Path | None = None) -> Path:
    return Path(
        path or os.environ.get("COURSE_CACHE") or Path.home() / ".cache" / "compression-lab"
    )


def save_checkpoint(
    path,
    model: nn.Module,
    config: TrainConfig,
    metrics: dict,
    input_shape,
    history: History | None = None,
) -> Path:
    """Write weights, config, metrics and training history atomically; never replace a file."""
    path = Path(path)
    if path.exists():
        raise CourseError(f"{path} already exists: choose another file name or delete it first.")
    payload = {
        "format": FORMAT,
        "config": asdict(config),
        "input_shape": list(input_shape),
        "metrics": metrics,
        "history": None if history is None else history.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return paths.atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(
    path, model: nn.Module | None = None, expected: TrainConfig | None = None
) -> tuple[nn.Module, dict]:
    """Load weights only (no pickled code); rebuild the model from the config if none is given.
    With ``expected``, a checkpoint whose recorded training config differs is refused."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"No checkpoint at {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for damaged or foreign files
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CourseError(
            f"{path} is not a readable checkpoint: delete it (a cached reference is then trained "
            f"again) or replace it.\nReading it failed with {type(err).__name__}: {reason}"
        ) from None
    config = _recorded_config(path, payload)
    if expected is not None:
        _check_recorded(path, config, expected)
    if model is None:
        model = build_model(config.model, payload["input_shape"], **config.model_kwargs)
    expected_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in payload["state_dict"].items()}
    if expected_shapes != found:
        differ = sorted(set(expected_shapes.items()) ^ set(found.items()))[:4]
        raise CourseError(
            f"{path} holds weights for {config.model} {config.model_kwargs} that do not fit this "
            f"model (first differences: {differ}). Build the model it was saved from."
        )
    model.load_state_dict(payload["state_dict"])
    history = payload.get("history")
    return model, {
        "config": config,
        "metrics": payload["metrics"],
        "history": None if history is None else History.from_dict(history),
        "path": str(path),
    }


PAYLOAD = {"format", "config", "input_shape", "metrics", "state_dict"}


def _recorded_config(path: Path, payload) -> TrainConfig:
    """The training config a checkpoint records, once its payload has every part it needs."""
    if (
        not isinstance(payload, dict)
        or payload.get("format") != FORMAT
        or not PAYLOAD <= set(payload)
        or not isinstance(payload["state_dict"], dict)
    ):
        raise CourseError(
            f"{path} is not a course_lib checkpoint (format {FORMAT}): delete it or replace it."
        )
    try:
        return TrainConfig.from_dict(payload["config"])
    except (CourseError, TypeError, ValueError) as err:
        raise CourseError(
            f"{path} records a training config this release cannot read ({err}): delete it."
        ) from None


def _check_recorded(path: Path, config: TrainConfig, expected: TrainConfig) -> None:
    """Refuse a checkpoint trained with other settings than ``expected`` (those that leave the
    weights as they are aside: its history keeps the validation steps it was trained with)."""
    found, asked = asdict(config), asdict(expected)
    differ = [k for k in asked if k not in UNWEIGHED and found[k] != asked[k]]
    if differ:
        held = ", ".join(f"{k}={found[k]!r}" for k in differ[:3])
        wanted = ", ".join(f"{k}={asked[k]!r}" for k in differ[:3])
        raise CourseError(
            f"{path} holds a {config.model} on {config.dataset} trained with {held}, where "
            f"{wanted} was asked for: delete the file (the reference is then trained again)."
        )


def reference_config(
    model: str, dataset: str, profile: str | None = None, **overrides
) -> TrainConfig:
    """The shared reference training of ``model`` on ``dataset`` (profiles/references.yaml)."""
    profile = resolve_profile_name(profile)
    table = load_profile_file("references")
    if model not in table["models"]:
        raise CourseError(
            f"No reference training for model {model!r}: one of {list(table['models'])}."
        )
    settings = {**table["models"][model], **table["profiles"][profile]}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict({"model": model, "dataset": dataset, **settings})


def reference_model(
    config: TrainConfig,
    data: DataBundle | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    data_dir: str | Path | None = None,
) -> tuple[nn.Module, dict]:
    """The trained reference for ``config``: loaded from the cache, or trained once and cached
    (on ``data``, else on the dataset read from ``data_dir``, as ``load_data`` finds it).

    Returns the model (in eval mode, on the CPU) and a record with the config, the metrics and
    History of its training, the checkpoint path and whether it came from the cache.
    """
    path = cache_dir(cache) / "models" / f"{config.model}-{config.dataset}-{config.key()}.pt"
    if path.is_file():
        model, record = load_checkpoint(path, expected=config)
        return model.eval(), {**record, "cached": True}
    paths.writable_folder(path.parent, "The model cache ($COURSE_CACHE)")
    data = data or load_data(
        config.dataset, data_dir, config.val_size, config.subset, config.seed,
        normalize=config.normalize,
    )  # fmt: skip
    model = initial_model(config, data)
    history = fit(model, data, config, progress=progress)
    if history.diverged:
        raise CourseError(
            f"Training the reference {config.model} diverged ({history.divergence}); lower lr "
            f"(now {config.lr}) in course_lib/profiles/references.yaml or pass lr=..."
        )
    metrics = {k: v for k, v in history.final.items() if isinstance(v, int | float | bool)}
    if not path.exists():  # a parallel run may have cached the same reference meanwhile
        save_checkpoint(path, model.cpu(), config, metrics, data.input_shape, history)
    record = {"config": config, "metrics": metrics, "history": history, "path": str(path)}
    return model.cpu().eval(), {**record, "cached": False}


def tuned_reference(reference, model: str, dataset: str) -> tuple[nn.Module, dict] | None:
    """The net named by a notebook's ``reference`` parameter, checked before any work: None for
    None (the shared cached reference), else the model (eval mode, CPU) and its record, from a
    checkpoint file or a notebook-01 run folder (its metrics.json names the checkpoint). A path
    that is neither, or a net of another model or dataset than the notebook's, is refused."""
    if reference is None:
        return None
    path = Path(reference).expanduser()
    if path.is_dir():
        path = _run_checkpoint(path)
    elif not path.is_file():
        raise CourseError(
            f"reference {str(reference)!r} does not exist: give a notebook-01 run folder or a "
            "checkpoint file (.pt), or None for the shared cached reference."
        )
    net, record = load_checkpoint(path)
    found = record["config"]
    if (found.model, found.dataset) != (model, dataset):
        raise CourseError(
            f"reference {str(reference)!r} holds a {found.model} trained on {found.dataset}, but "
            f"this notebook runs model={model!r} on dataset={dataset!r}: set model and dataset "
            "to the reference's, or give a reference trained for them."
        )
    return net.eval(), {**record, "cached": True}


def tuned_normalize(tuned: tuple[nn.Module, dict] | None, normalize: str | None = None) -> str:
    """How a notebook normalises its data: ``normalize`` if given, else as the tuned net of
    ``tuned_reference`` was trained, else "standardize". A tuned net trained on other inputs
    than ``normalize`` is refused (its accuracy would be meaningless)."""
    trained = tuned[1]["config"].normalize if tuned else None
    if normalize and trained and normalize != trained:
        raise CourseError(
            f"normalize={normalize!r}, but the reference was trained on {trained!r} inputs: set "
            f"normalize={trained!r} (or None), or give a reference trained on {normalize!r} inputs."
        )
    return normalize or trained or "standardize"


def _run_checkpoint(folder: Path) -> Path:
    """The checkpoint a notebook-01 run folder names in its metrics.json."""
    metrics = folder / "metrics.json"
    try:
        named = json.loads(metrics.read_text(encoding="utf-8")).get("reference")
    except (OSError, ValueError, AttributeError):
        named = None
    if not isinstance(named, str):
        raise CourseError(
            f"reference {str(folder)!r} is a folder without a notebook-01 metrics.json naming its "
            "checkpoint: give the run folder of notebook 01 (runs/<run>/01_training) or a "
            ".pt file."
        )
    if not Path(named).is_file():
        raise CourseError(
            f"reference {str(folder)!r} names the checkpoint {named}, which no longer exists (the "
            "model cache was cleared?): run notebook 01 again or give a .pt file."
        )
    return Path(named)
