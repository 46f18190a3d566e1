"""A run's branched model as a file, and going on from one (seed 004 Figs 2-3 start from the
model an earlier run left at α = 0.0125)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from course_lib import paths
from course_lib.branches.modules import branch_widths, set_alpha
from course_lib.branches.schedule import AlphaRun
from course_lib.errors import CourseError

FORMAT = "course_lib branched model 1"
FOLDER = "branched"  # a notebook-05 run folder keeps its runs' branched models here, by mode
HEADER = ("format", "model", "dataset", "pretrained", "alpha", "widths", "state_dict")


def save_branched(path, run: AlphaRun, model: str, dataset: str) -> Path:
    """Write ``run``'s branched model, its α and widths, the network and dataset it was trained
    for, atomically; an existing file is never replaced."""
    path = Path(path)
    if path.exists():
        raise CourseError(f"{path} already exists: choose another file name or delete it first.")
    payload = {
        "format": FORMAT,
        "model": model,
        "dataset": dataset,
        "pretrained": run.pretrained,
        "alpha": run.final_alpha,
        "widths": branch_widths(run.model),
        "state_dict": {k: v.detach().cpu() for k, v in run.model.state_dict().items()},
    }
    return paths.atomic_write(path, lambda tmp: torch.save(payload, tmp))


@dataclass
class StartPoint:
    """A saved branched model to go on from: its file, the α it reached and its weights."""

    path: str
    alpha: float
    pretrained: str
    state_dict: dict

    def apply(self, branched: nn.Module, alphas: Sequence[float]) -> list[float]:
        """Load the saved weights into ``branched`` (branches attached with the same widths) at
        the saved α; the stages of ``alphas`` still to go: those at or below that α."""
        expected = {k: tuple(v.shape) for k, v in branched.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in self.state_dict.items()}
        if expected != found:
            differ = sorted(set(expected.items()) ^ set(found.items()))[:4]
            raise CourseError(
                f"start_from {self.path} does not fit these branches (first differences: "
                f"{differ}): attach them with the layers and widths it was saved with."
            )
        branched.load_state_dict(self.state_dict)
        set_alpha(branched, self.alpha)
        return [a for a in alphas if a <= self.alpha]


def _read(path: Path) -> dict:
    """A branched-model file's payload, every part of it there; CourseErrors otherwise."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for damaged or foreign files
        raise CourseError(
            f"start_from {path} is not a readable branched-model file ({type(err).__name__}): "
            f"pass a file a notebook-05 run saved under {FOLDER}/, or its run folder."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CourseError(
            f"start_from {path} is no branched model saved by notebook 05 (format "
            f"{FORMAT!r}): pass a file a notebook-05 run saved under {FOLDER}/, or its run folder."
        )
    missing = [key for key in HEADER if key not in payload]
    if missing:
        raise CourseError(f"start_from {path} lacks {missing}: the file is damaged; pass another.")
    return payload


def branched_file(run_folder, mode: str) -> Path:
    """Where a notebook-05 run folder keeps the branched model of its ``mode`` run."""
    return Path(run_folder) / FOLDER / f"{mode}.pt"


def _files(start_from, modes: Sequence[str]) -> dict[str, Path]:
    """The file each run (pretrained mode) starts from: one file for all, or the run folder's
    file of the same mode."""
    start = Path(start_from)
    if start.is_file():
        return {mode: start for mode in modes}
    if not start.is_dir():
        raise CourseError(f"start_from {start} is neither a file nor a folder: pass one.")
    files = {mode: branched_file(start, mode) for mode in modes}
    absent = [mode for mode, file in files.items() if not file.is_file()]
    if absent:
        held = sorted(p.name for p in (start / FOLDER).glob("*.pt"))
        raise CourseError(
            f"start_from {start} holds no branched model of the {absent} run(s) (it holds "
            f"{held or 'none'} under {FOLDER}/): pass one of its files to start every run "
            "from it, or set pretrained_weights to the runs it holds."
        )
    return files


def read_start(
    start_from, modes: Sequence[str], model: str, dataset: str, widths: Mapping[str, int]
) -> dict[str, StartPoint]:
    """The saved branched model each of the runs ``modes`` goes on from ({} when
    ``start_from`` is None), checked against this notebook's network, dataset and branch
    widths before any work."""
    if start_from is None:
        return {}
    starts = {}
    for mode, file in _files(start_from, modes).items():
        payload = _read(file)
        saved = {k: payload[k] for k in ("model", "dataset")}
        saved["widths"] = dict(payload["widths"])
        now = {"model": model, "dataset": dataset, "widths": dict(widths)}
        differ = {k: (saved[k], now[k]) for k in now if saved[k] != now[k]}
        if differ:
            shown = "; ".join(f"{k}: saved {a}, now {b}" for k, (a, b) in differ.items())
            raise CourseError(
                f"start_from {file} was saved for other branches ({shown}): set model, dataset "
                "and layers / widths / remove_fraction as that run had them."
            )
        starts[mode] = StartPoint(
            str(file), float(payload["alpha"]), payload["pretrained"], payload["state_dict"]
        )
    return starts
