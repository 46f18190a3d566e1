"""A notebook's output folder: metrics.json and figures, written atomically, never overwritten."""

from __future__ import annotations

import math
import os
from pathlib import Path

from course_lib import paths
from course_lib.errors import CourseError


def _plain(value):
    """numpy and torch scalars and arrays as JSON values; NaN and infinity are refused."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch arrays and scalars
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        raise CourseError(f"metrics hold a non-finite number ({value}); report failures as text.")
    return value


def records(table) -> list[dict]:
    """A pandas table as JSON-ready rows; missing values (a diverged run's accuracy) become None."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


class RunOutputs:
    """Where one notebook run writes. ``output_dir=None`` makes a fresh folder
    ``<timestamp>-<notebook>`` under $COURSE_RUNS (default ``runs/``). Made before the notebook
    does any work: a folder that is a file, cannot be written, or holds any file of an earlier
    run is refused, so nothing a user produced is overwritten."""

    def __init__(self, output_dir: str | Path | None, notebook: str):
        if output_dir is None:
            runs = os.environ.get("COURSE_RUNS", "runs")
            output_dir = paths.fresh_folder(runs, notebook, "$COURSE_RUNS (the runs folder)")
        self.path = paths.writable_folder(output_dir, "output_dir")
        earlier = sorted(p.name for p in self.path.iterdir() if not _this_runs(p))
        if earlier:
            shown = ", ".join(earlier[:3]) + (", ..." if len(earlier) > 3 else "")
            raise CourseError(
                f"output_dir {self.path} already holds files of an earlier run ({shown}): pass "
                "a new folder (or None for a fresh one); nothing in it was changed."
            )
        self.figures: list[str] = []

    def save_figure(self, fig, name: str) -> Path:
        path = self.path / f"{name}.png"
        if name in self.figures or path.exists():
            raise CourseError(f"Figure {name!r} was already saved in this run: use another name.")
        paths.atomic_write(
            path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        )
        self.figures.append(name)
        return path

    def write_metrics(self, metrics: dict) -> Path:
        path = self.path / "metrics.json"
        if path.exists():
            raise CourseError(f"{path} exists already: metrics are written once per run.")
        return paths.write_json(path, _plain({**metrics, "figures": self.figures}), allow_nan=False)


def _this_runs(path: Path) -> bool:
    """Whether a file in a new output folder belongs to this run: the executed notebook that
    papermill writes there as it runs, or hidden files (Jupyter's checkpoints)."""
    return path.suffix == ".ipynb" or path.name.startswith(".")
